"""The pages a person sees: sign-in, consent, connected apps and errors. Each says which client
is asking, whether it is verified, where it sends the user and what it may do, in one accessible,
responsive style served from the project's own static files."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.utils.html import escape

from authserver.models import Client
from common.scopes import registry as declared_scopes
from democlient import flow
from tests.support import inprocess
from tests.support.admin_session import log_in

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIRS = [ROOT / "authserver" / "templates", ROOT / "templates"]
STATIC = ROOT / "authserver" / "static" / "authserver"


def authorize_url(app: Client, redirect_uri: str = inprocess.REDIRECT_URI, scope: str = "mcp:read") -> str:
    return flow.AuthorizationRequest(app.client_id, redirect_uri, scope, inprocess.MCP_URL).url("/authorize")


def login_page(client, next_url: str):
    return client.get("/accounts/login/?" + urlencode({"next": next_url}), HTTP_ACCEPT="text/html")


class Outline(HTMLParser):
    """What an accessibility check needs from a page: headings, labels, controls, links."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = None
        self.viewport = False
        self.h1 = 0
        self.labels: set[str] = set()
        self.inputs: list[dict] = []
        self.buttons: list[tuple[dict, str]] = []
        self.links: list[str] = []
        self.stylesheets: list[str] = []
        self.scripts: list[str] = []
        self.ids: list[str] = []
        self._button: dict | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "html":
            self.lang = attrs.get("lang")
        elif tag == "meta" and attrs.get("name") == "viewport":
            self.viewport = "width=device-width" in attrs.get("content", "")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "label" and attrs.get("for"):
            self.labels.add(attrs["for"])
        elif tag == "input" and attrs.get("type") != "hidden":
            self.inputs.append(attrs)
        elif tag == "button":
            self._button, self._text = attrs, ""
        elif tag == "a":
            self.links.append(attrs.get("href", ""))
        elif tag == "link" and attrs.get("rel") == "stylesheet":
            self.stylesheets.append(attrs.get("href", ""))
        elif tag == "script":
            self.scripts.append(attrs.get("src", ""))

    def handle_data(self, data):
        if self._button is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "button" and self._button is not None:
            self.buttons.append((self._button, self._text.strip()))
            self._button = None


def assert_accessible(html: str) -> Outline:
    page = Outline()
    page.feed(html)
    assert page.lang == "en"
    assert page.viewport
    assert page.h1 == 1
    assert "#content" in page.links  # the skip link
    assert len(page.ids) == len(set(page.ids)), "duplicate ids"
    for control in page.inputs:
        assert control.get("id") in page.labels, f"input without a label: {control}"
    for attrs, text in page.buttons:
        assert text or attrs.get("aria-label"), f"button without a name: {attrs}"
    assert page.stylesheets == ["/static/authserver/site.css"]  # ours, no CDN
    assert page.scripts == []
    return page


# --- Sign-in ---------------------------------------------------------------------------------------
def test_the_login_page_says_which_client_is_asking_and_where_it_sends_you(client) -> None:
    app = inprocess.make_client("Notes helper", source=Client.RegistrationSource.DCR)
    page = login_page(client, authorize_url(app))
    assert page.status_code == 200
    html = page.content.decode()
    assert_accessible(html)
    assert '<p class="client-name">Notes helper</p>' in html
    assert '<span class="badge unverified">Unverified</span> This application registered itself' in html
    assert 'Sends you back to <code class="redirect-host">127.0.0.1</code>' in html
    assert "to continue to <strong>Notes helper</strong>" in html
    assert '<a href="/account/apps/">Connected apps</a> page' in html
    # The field names democlient/flow.py (and every test) fill in.
    for name in ("username", "password", "next", "csrfmiddlewaretoken"):
        assert f'name="{name}"' in html


def test_the_login_page_does_not_vouch_for_an_unregistered_return_address(client) -> None:
    app = inprocess.make_client("Notes helper", source=Client.RegistrationSource.MANUAL)
    html = login_page(client, authorize_url(app, redirect_uri="https://elsewhere.example/cb")).content.decode()
    assert '<span class="badge verified">Verified</span> Registered by the administrator' in html
    assert "redirect-host" not in html
    assert "elsewhere.example" not in html.split('name="next"')[0]


def test_the_login_page_on_its_own_and_after_a_wrong_password(client) -> None:
    plain = client.get("/accounts/login/", HTTP_ACCEPT="text/html").content.decode()
    assert_accessible(plain)
    assert f"to {settings.OAUTH2_PROVIDER['OAUTH2_PROTECTED_RESOURCE_NAME']}." in plain
    assert "client-card" not in plain

    inprocess.make_user()
    wrong = client.post("/accounts/login/", {"username": "alice", "password": "nope", "next": "/account/apps/"})
    assert wrong.status_code == 400
    html = wrong.content.decode()
    assert '<p class="error" id="login-error" role="alert">' in html
    assert html.count('aria-invalid="true" aria-describedby="login-error"') == 2


# --- Consent -----------------------------------------------------------------------------------------
def test_the_consent_page_shows_client_trust_return_host_resource_and_scopes_in_words(client) -> None:
    app = inprocess.make_client("Verified app", source=Client.RegistrationSource.MANUAL)
    log_in(client, inprocess.make_user().username, "alice-password-123")
    page = client.get(authorize_url(app, scope="mcp:read mcp:write"), HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    html = page.content.decode()
    assert_accessible(html)
    assert "<title>Allow Verified app?" in html
    assert 'Allow <span class="client-name-inline">Verified app</span> to use your account?' in html
    assert '<span class="badge verified">Verified</span> Registered by the administrator of this server.' in html
    assert 'Sends you back to <code class="redirect-host">127.0.0.1</code>' in html
    assert f'<code class="resource">{inprocess.MCP_URL}</code>' in html
    for scope, words in declared_scopes.descriptions().items():
        assert f'<span class="scope-words">{escape(words)}</span> <code class="scope-name">{scope}</code>' in html
    assert '<a href="/account/apps/">Connected apps</a> page' in html
    assert "Allow only if you just asked" not in html  # no warning for a verified client
    # What democlient/flow.py drives.
    assert '<form method="post" id="authorizationForm">' in html
    assert '<button type="submit" class="primary" name="allow" value="on">Allow</button>' in html
    hidden = dict(flow.HIDDEN_INPUT.findall(html))
    assert {"redirect_uri", "client_id", "state", "response_type", "code_challenge", "resource", "scope"} <= set(hidden)


def test_the_consent_page_warns_about_an_unverified_client(client) -> None:
    app = inprocess.make_client("Self-made", source=Client.RegistrationSource.DCR)
    log_in(client, inprocess.make_user().username, "alice-password-123")
    html = client.get(authorize_url(app), HTTP_ACCEPT="text/html").content.decode()
    assert '<span class="badge unverified">Unverified</span> This application registered itself' in html
    assert 'role="note">Allow only if you just asked this application to connect.' in html
    assert escape(declared_scopes.descriptions()["mcp:read"]) in html
    assert escape(declared_scopes.descriptions()["mcp:write"]) not in html


def test_the_consent_page_names_a_url_client_by_its_url(client) -> None:
    url = "https://tools.example.com/client.json"
    app = inprocess.make_client("Claims a name", source=Client.RegistrationSource.CIMD, client_id=url)
    log_in(client, inprocess.make_user().username, "alice-password-123")
    html = client.get(authorize_url(app), HTTP_ACCEPT="text/html").content.decode()
    assert f"Identified by <code>{url}</code>; its name was not checked." in html


def test_allowing_still_works_the_way_clients_expect(client) -> None:
    app = inprocess.make_client()
    log_in(client, inprocess.make_user().username, "alice-password-123")
    request, code = inprocess.authorize_code(client, app)
    assert inprocess.token_request(client, request, code).status_code == 200


# --- Errors ------------------------------------------------------------------------------------------
def test_an_unregistered_redirect_uri_gets_a_page_not_a_redirect(client) -> None:
    app = inprocess.make_client()
    log_in(client, inprocess.make_user().username, "alice-password-123")
    page = client.get(authorize_url(app, redirect_uri="https://attacker.example/cb"), HTTP_ACCEPT="text/html")
    assert page.status_code == 400
    assert "Location" not in page
    html = page.content.decode()
    assert_accessible(html)
    assert "This application&#x27;s return address is not registered" in html
    assert "A genuine application does not do this" in html
    assert '<code class="error-code">invalid_request</code>' in html
    assert "attacker.example" not in html


@pytest.mark.parametrize(
    ("fields", "title"),
    [
        ({"approval": Client.Approval.PENDING}, "This application is waiting for approval"),
        ({"approval": Client.Approval.QUARANTINED}, "This application is waiting for approval"),
        ({"is_enabled": False}, "This application has been disabled"),
    ],
)
def test_an_unusable_client_gets_a_clear_page(client, fields: dict, title: str) -> None:
    app = inprocess.make_client()
    Client.objects.filter(pk=app.pk).update(**fields)
    page = client.get(authorize_url(app), HTTP_ACCEPT="text/html")  # before signing in, too
    assert page.status_code == 400
    assert "Location" not in page
    html = page.content.decode()
    assert f'<h1 id="error-title"><span class="error-icon" aria-hidden="true">!</span> {title}</h1>' in html
    assert '<p class="error-hint">' in html


def test_other_errors_use_the_same_page_without_oauth_wording(client) -> None:
    page = client.get("/no/such/page", HTTP_ACCEPT="text/html")
    assert page.status_code == 404
    html = page.content.decode()
    assert_accessible(html)
    assert "Not found" in html
    assert "Error code" not in html


# --- One style, our own files ---------------------------------------------------------------------------
def test_the_stylesheets_are_served_from_the_project(client) -> None:
    for name in ("site.css", "admin.css"):
        answer = client.get(f"/static/authserver/{name}")
        assert answer.status_code == 200
        assert answer["Content-Type"].startswith("text/css")


def test_nothing_is_loaded_from_another_origin() -> None:
    files = [path for folder in TEMPLATE_DIRS for path in folder.rglob("*.html")]
    files += list(STATIC.glob("*.css")) + list(STATIC.glob("*.js"))
    assert len(files) >= 10
    for path in files:
        text = path.read_text()
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), path
        assert not re.search(r"url\(\s*[\"']?(https?:)?//|@import", text), path


def test_the_style_is_responsive_and_keeps_keyboard_focus_visible() -> None:
    css = (STATIC / "site.css").read_text()
    assert "@media (max-width: 480px)" in css
    assert "@media (prefers-color-scheme: dark)" in css
    assert ":focus-visible { outline: 3px solid" in css
    assert "outline: none" not in css.replace("main:focus { outline: none; }", "")
