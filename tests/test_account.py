"""The user's "Connected apps" page (/account/apps/): every client they authorized, with its scopes
in plain words, the resource, when it was allowed and last used, and a Revoke button."""

from __future__ import annotations

import re

import pytest
from django.test import Client as HttpClient
from django.utils.html import escape
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from authserver.models import Client
from common.scopes import registry as declared_scopes
from tests.support import inprocess
from tests.support.admin_session import log_in

pytestmark = pytest.mark.django_db

APPS = "/account/apps/"
PASSWORDS = {"alice": "alice-password-123", "bob": "bob-password-123"}
WORDS = {scope: escape(words) for scope, words in declared_scopes.descriptions().items()}  # as the page writes them


def connect(http: HttpClient, user, app: Client, scope: str = "mcp:read") -> dict:
    """`user` allows `app` through the real authorization flow; returns the token response."""
    log_in(http, user.username, PASSWORDS[user.username])
    request, code = inprocess.authorize_code(http, app, scope=scope)
    answer = inprocess.token_request(http, request, code)
    assert answer.status_code == 200, answer.content
    return answer.json()


def cards(html: str) -> dict[str, str]:
    """The page's connection cards, by client id."""
    chunks = html.split('<li class="card connection" data-client-id="')[1:]
    return {chunk.split('"', 1)[0]: chunk.split("</form>", 1)[0] for chunk in chunks}


def test_the_page_needs_a_signed_in_user(client) -> None:
    answer = client.get(APPS)
    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/login/?next=/account/apps/"


def test_it_lists_every_app_the_user_allowed_with_what_it_may_do(client) -> None:
    user = inprocess.make_user()
    reader = inprocess.make_client("Reader app", source=Client.RegistrationSource.DCR)
    writer = inprocess.make_client("Writer app", source=Client.RegistrationSource.MANUAL)
    connect(client, user, reader, "mcp:read")
    connect(client, user, writer, "mcp:read mcp:write")

    page = client.get(APPS)
    assert page.status_code == 200
    html = page.content.decode()
    found = cards(html)
    assert set(found) == {reader.client_id, writer.client_id}

    read_card = found[reader.client_id]
    assert ">Reader app</h2>" in read_card
    assert '<span class="badge unverified">Unverified</span>' in read_card
    assert f'<span class="scope-words">{WORDS["mcp:read"]}</span> <code class="scope-name">mcp:read</code>' in read_card
    assert WORDS["mcp:write"] not in read_card
    assert f'<code class="resource">{inprocess.MCP_URL}</code>' in read_card
    assert re.search(r"<dt>Allowed</dt><dd><time datetime=\"\d{4}-\d\d-\d\dT", read_card)
    assert re.search(r"<dt>Last used</dt><dd><time datetime=", read_card)
    assert 'aria-label="Revoke access for Reader app">Revoke</button>' in read_card
    assert f'action="/account/apps/{reader.pk}/revoke"' in read_card

    write_card = found[writer.client_id]
    assert '<span class="badge verified">Verified</span>' in write_card
    assert WORDS["mcp:read"] in write_card and WORDS["mcp:write"] in write_card
    assert '<a href="/account/apps/" aria-current="page">Connected apps</a>' in html


def test_another_user_sees_none_of_them(client) -> None:
    connect(client, inprocess.make_user(), inprocess.make_client("Reader app"))
    inprocess.make_user("bob", PASSWORDS["bob"])
    client.logout()
    log_in(client, "bob", PASSWORDS["bob"])
    page = client.get(APPS).content.decode()
    assert cards(page) == {}
    assert "No application can use your account right now." in page


def test_revoke_signs_the_app_out_at_once(client) -> None:
    user = inprocess.make_user()
    gone = inprocess.make_client("Gone app")
    kept = inprocess.make_client("Kept app")
    tokens = connect(client, user, gone)
    connect(client, user, kept)

    answer = client.post(f"/account/apps/{gone.pk}/revoke", follow=True)
    assert answer.redirect_chain == [(APPS, 302)]
    html = answer.content.decode()
    assert '<li class="message success">Gone app can no longer access your account.</li>' in html
    assert set(cards(html)) == {kept.client_id}

    assert not get_access_token_model().objects.filter(application=gone, user=user).exists()
    assert not get_refresh_token_model().objects.filter(application=gone, user=user, revoked__isnull=True).exists()
    assert get_access_token_model().objects.filter(application=kept, user=user).count() == 1

    refreshed = client.post(
        "/token",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": gone.client_id},
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"


def test_revoking_an_app_without_access_says_so(client) -> None:
    log_in(client, inprocess.make_user().username, PASSWORDS["alice"])
    app = inprocess.make_client("Never allowed")
    answer = client.post(f"/account/apps/{app.pk}/revoke", follow=True)
    assert '<li class="message info">Never allowed had no access to your account.</li>' in answer.content.decode()


def test_revoke_is_a_post_with_a_csrf_token(client) -> None:
    user = inprocess.make_user()
    app = inprocess.make_client("Guarded")
    connect(client, user, app)
    assert client.get(f"/account/apps/{app.pk}/revoke").status_code == 405
    assert client.post("/account/apps/999999/revoke").status_code == 404

    strict = HttpClient(enforce_csrf_checks=True)
    log_in(strict, user.username, PASSWORDS["alice"])
    assert strict.post(f"/account/apps/{app.pk}/revoke").status_code == 403
    assert get_access_token_model().objects.filter(application=app, user=user).exists()
