"""Sign-in through an identity provider against a REAL OpenID Connect provider (panva's
oidc-provider on loopback) and a live server configured from the environment: who gets which
account, the allowed e-mail domains, administrators by group, and the upstream token that tools
use (stored encrypted, refreshed when it expired, never handed to the MCP client)."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from cryptography.fernet import Fernet

from democlient import flow, mcp_calls
from tests.conftest import REDIRECT_URI
from tests.support.admin_session import AdminSession
from tests.support.oidc_provider import OidcProvider
from tests.support.server import LiveServer
from tests.support.upstream import UpstreamBrowser, path_of, sso_server

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="module")
def sso_stack(oidc_provider: OidcProvider) -> Iterator[LiveServer]:
    server = sso_server(
        oidc_provider,
        SSO_ALLOWED_EMAIL_DOMAINS="example.com",
        SSO_STAFF_GROUPS="mcp-admins",
        UPSTREAM_TOKEN_KEYS=UPSTREAM_KEY,
    ).start()
    server.execute("UPDATE auth_user SET email = %s WHERE username = %s", ("demo@example.com", "demo"))
    server.execute("UPDATE auth_user SET email = %s WHERE username = %s", ("other@example.com", "other"))
    try:
        yield server
    finally:
        server.stop()


def users(server: LiveServer, username: str) -> list[tuple]:
    return server.execute(
        "SELECT u.id, u.is_staff, u.is_superuser, s.provider, s.uid FROM auth_user u "
        "LEFT JOIN socialaccount_socialaccount s ON s.user_id = u.id WHERE u.username = %s",
        (username,),
    )


def test_first_sign_in_creates_the_user_and_the_second_links_to_it(sso_stack, oidc_provider) -> None:
    with UpstreamBrowser(sso_stack, oidc_provider, "ada") as browser:
        answer = browser.sign_in()
        assert answer.status_code == 200, answer.text[:500]
        assert path_of(answer) == "/account/apps/"
        assert browser.signed_in_as() == "ada"
        assert len(browser.provider_pages) == 2  # the provider's sign-in, then its consent
    first = users(sso_stack, "ada")
    assert len(first) == 1 and first[0][3:] == ("sso", "ada")

    with UpstreamBrowser(sso_stack, oidc_provider, "ada") as again:
        answer = again.sign_in()
        assert path_of(answer) == "/account/apps/"
        assert again.signed_in_as() == "ada"
    assert users(sso_stack, "ada") == first  # the same user, the same one link


def test_a_verified_address_links_to_the_existing_account(sso_stack, oidc_provider) -> None:
    with UpstreamBrowser(sso_stack, oidc_provider, "olga") as browser:
        answer = browser.sign_in()
        assert path_of(answer) == "/account/apps/"
        assert browser.signed_in_as() == "other"  # the local account with olga's verified address
    assert [row[3:] for row in users(sso_stack, "other")] == [("sso", "olga")]
    assert users(sso_stack, "olga") == []


def test_an_unverified_address_does_not_link_to_the_existing_account(sso_stack, oidc_provider) -> None:
    with UpstreamBrowser(sso_stack, oidc_provider, "mallory") as browser:
        answer = browser.sign_in()
        assert answer.status_code == 403
        assert "Your e-mail address was not confirmed" in answer.text
        assert "demo@example.com" in answer.text
        assert browser.signed_in_as() is None
    assert [row[3:] for row in users(sso_stack, "demo")] == [(None, None)]  # still no link
    assert users(sso_stack, "mallory") == []  # and no account beside it


def test_an_address_outside_the_allowed_domains_is_refused(sso_stack, oidc_provider) -> None:
    with UpstreamBrowser(sso_stack, oidc_provider, "eve") as browser:
        answer = browser.sign_in()
        assert answer.status_code == 403
        assert "Your e-mail address is not allowed here" in answer.text
        assert "example.com" in answer.text
        assert answer.headers["content-type"].startswith("text/html")
        assert browser.signed_in_as() is None
    assert users(sso_stack, "eve") == []


def test_members_of_the_staff_group_become_administrators(sso_stack, oidc_provider) -> None:
    with UpstreamBrowser(sso_stack, oidc_provider, "root") as browser:
        answer = browser.sign_in(next_url="/admin/")
        assert answer.status_code == 200 and path_of(answer) == "/admin/"
        assert "Clients, tokens and users" in answer.text  # the admin index, not its sign-in page
    assert users(sso_stack, "root")[0][1:3] == (True, True)
    with UpstreamBrowser(sso_stack, oidc_provider, "ada") as browser:
        browser.sign_in()
        assert browser.http.get(sso_stack.url + "/admin/").url.path == "/admin/login/"  # not staff
    assert users(sso_stack, "ada")[0][1:3] == (False, False)


class FormFields(HTMLParser):
    """The values a browser would submit from a Django admin change form."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value") or ("on" if a.get("type") == "checkbox" else "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def test_deactivating_a_provider_user_in_the_admin_stops_their_tokens(sso_stack, oidc_provider, http) -> None:
    client_id = flow.register(
        http,
        sso_stack.url + "/register",
        {"client_name": "SSO e2e", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
    )["client_id"]
    request = flow.AuthorizationRequest(client_id, REDIRECT_URI, "mcp:read", sso_stack.mcp_url)
    with UpstreamBrowser(sso_stack, oidc_provider, "ada") as browser:
        callback = browser.authorize(request.url(sso_stack.url + "/authorize"))
    token = flow.exchange_code(http, sso_stack.url + "/token", request, callback.code).json()["access_token"]
    reply = mcp_calls.call(http, sso_stack.mcp_url, token, "tools/call", {"name": "whoami", "arguments": {}})
    assert reply.status == 200 and reply.result["structuredContent"]["user"] == "ada"

    with AdminSession(sso_stack) as admin:
        pk = users(sso_stack, "ada")[0][0]
        path = f"/admin/auth/user/{pk}/change/"
        page = admin.http.get(path)
        assert "Signs in with these identity providers" in page.text
        parser = FormFields()
        parser.feed(page.text)
        fields: dict[str, list[str]] = {}
        for name, value in parser.fields:
            if name != "is_active":  # the administrator unticks "Active"
                fields.setdefault(name, []).append(value)
        saved = admin.http.post(path, data=fields, headers={"Referer": sso_stack.url + path})
        assert saved.status_code == 302, saved.text[:500]
    assert users(sso_stack, "ada")[0][0] == pk
    assert sso_stack.execute("SELECT is_active FROM auth_user WHERE id = %s", (pk,))[0][0] in (False, 0)
    refused = mcp_calls.call(http, sso_stack.mcp_url, token, "tools/call", {"name": "whoami", "arguments": {}})
    assert refused.status == 401
