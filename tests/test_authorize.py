"""The authorization endpoint: errors a client hears before its user signs in, errors a person
sees instead of an unsafe redirect, PKCE S256 only, resource indicators, `iss` on every
response, loopback redirect ports, and the consent page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as HttpClient

from authserver.models import Client
from tests.support.inprocess import (
    ISSUER,
    MCP_URL,
    REDIRECT_URI,
    consent,
    make_client,
    query_of,
    request_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", password="alice-password-123")


@pytest.fixture
def app() -> Client:
    return make_client()


@pytest.fixture
def signed_in(client: HttpClient, user) -> HttpClient:
    client.force_login(user)
    return client


def error_redirect(response, error: str, state: str) -> dict[str, str]:
    assert response.status_code == 302, response.content[:300]
    location = response["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    params = query_of(location)
    assert params["error"] == error
    assert params["state"] == state
    assert params["iss"] == ISSUER
    return params


def test_unsigned_user_is_sent_to_login_with_the_request_kept(client: HttpClient, app: Client) -> None:
    url = request_for(app).url("/authorize")
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/authorize%3F")


def test_full_consent_gives_code_state_and_iss(signed_in: HttpClient, app: Client) -> None:
    request = request_for(app)
    page, answer = consent(signed_in, request.url("/authorize"))
    text = page.content.decode()
    assert "Test app" in text
    assert "Unverified" in text
    assert "127.0.0.1" in text  # the redirect host
    assert "See your notes" in text  # the scope, in plain words
    assert MCP_URL in text
    assert answer.status_code == 302
    params = query_of(answer["Location"])
    assert answer["Location"].startswith(REDIRECT_URI + "?")
    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == request.state
    assert params["iss"] == ISSUER


def test_denied_consent_redirects_access_denied_with_iss(signed_in: HttpClient, app: Client) -> None:
    request = request_for(app)
    _page, answer = consent(signed_in, request.url("/authorize"), allow=False)
    error_redirect(answer, "access_denied", request.state)


def test_pre_registered_client_shows_as_verified(signed_in: HttpClient) -> None:
    manual = make_client(name="Claude", source=Client.RegistrationSource.MANUAL)
    page = signed_in.get(request_for(manual).url("/authorize"), HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert "Verified" in page.content.decode()
    assert "Unverified" not in page.content.decode()


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_unknown_client_is_an_error_page_never_a_redirect(client: HttpClient, app: Client, accept: str) -> None:
    url = request_for(app).url("/authorize", client_id="no-such-client")
    response = client.get(url, HTTP_ACCEPT=accept)
    assert response.status_code == 400
    assert "Location" not in response
    if accept == "text/html":
        assert response["Content-Type"].startswith("text/html")
        assert b"Invalid client_id parameter value." in response.content
    else:
        assert response.json() == {
            "error": "invalid_request",
            "error_description": "Invalid client_id parameter value.",
        }


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "https://app.example.com/cb/extra",
        "https://app.example.com/cb?x=1",
        "http://app.example.com/cb",
        "http://127.0.0.1/other",
    ],
)
def test_unregistered_redirect_uri_is_never_followed(client: HttpClient, app: Client, redirect_uri: str) -> None:
    url = request_for(app, redirect_uri=redirect_uri).url("/authorize")
    response = client.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 400
    assert "Location" not in response
    assert response["Content-Type"].startswith("text/html")
    assert b"Mismatching redirect URI." in response.content


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:53111/callback", "http://127.0.0.1:8/callback", "http://localhost:3000/callback"],
)
def test_loopback_redirects_may_use_any_port(signed_in: HttpClient, redirect_uri: str) -> None:
    app = make_client(redirect_uris="http://127.0.0.1/callback http://localhost/callback")
    request = request_for(app, redirect_uri=redirect_uri)
    _page, answer = consent(signed_in, request.url("/authorize"))
    assert answer.status_code == 302
    assert answer["Location"].startswith(redirect_uri + "?code=")


def test_missing_pkce_is_refused_before_login(client: HttpClient, app: Client) -> None:
    request = request_for(app)
    url = request.url("/authorize").replace(f"&code_challenge={request.pkce.challenge}", "")
    params = error_redirect(client.get(url), "invalid_request", request.state)
    assert params["error_description"] == "Code challenge required."


def test_plain_pkce_is_refused_before_login(client: HttpClient, app: Client) -> None:
    request = request_for(app)
    url = request.url("/authorize", code_challenge_method="plain")
    params = error_redirect(client.get(url), "invalid_request", request.state)
    assert "S256" in params["error_description"]


def test_foreign_resource_is_invalid_target_before_login(client: HttpClient, app: Client) -> None:
    request = request_for(app, resource="https://other.example/mcp")
    params = error_redirect(client.get(request.url("/authorize")), "invalid_target", request.state)
    assert MCP_URL in params["error_description"]


def test_implicit_grant_is_not_supported(client: HttpClient, app: Client) -> None:
    request = request_for(app)
    error_redirect(client.get(request.url("/authorize", response_type="token")), "unauthorized_client", request.state)


def test_unknown_scope_is_invalid_scope(client: HttpClient, app: Client) -> None:
    request = request_for(app, scope="mcp:read admin:everything")
    error_redirect(client.get(request.url("/authorize")), "invalid_scope", request.state)


@pytest.mark.parametrize(
    "spelling",
    [MCP_URL + "/", "HTTP://127.0.0.1:8000/mcp", "http://127.0.0.1:8000/mcp"],
)
def test_resource_spellings_of_our_endpoint_are_accepted(signed_in: HttpClient, app: Client, spelling: str) -> None:
    request = request_for(app, resource=spelling)
    _page, answer = consent(signed_in, request.url("/authorize"))
    assert answer.status_code == 302
    assert "code" in query_of(answer["Location"])


def test_tampered_consent_form_is_refused_without_a_500(signed_in: HttpClient, app: Client) -> None:
    request = request_for(app)
    page = signed_in.get(request.url("/authorize"), HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    from democlient.flow import HIDDEN_INPUT

    form = dict(HIDDEN_INPUT.findall(page.content.decode()))
    tampered = dict(form, client_id="someone-else", allow="on")
    answer = signed_in.post("/authorize", data=tampered, HTTP_ACCEPT="text/html")
    assert answer.status_code == 400
    assert "Location" not in answer
    foreign = dict(form, resource="https://evil.example/mcp", allow="on")
    answer = signed_in.post("/authorize", data=foreign)
    assert answer.status_code == 302
    assert query_of(answer["Location"])["error"] == "invalid_target"


def test_consent_post_without_csrf_token_is_refused(user, app: Client) -> None:
    strict = HttpClient(enforce_csrf_checks=True)
    strict.force_login(user)
    request = request_for(app)
    page = strict.get(request.url("/authorize"), HTTP_ACCEPT="text/html")
    from democlient.flow import HIDDEN_INPUT

    form = {name: value for name, value in HIDDEN_INPUT.findall(page.content.decode()) if name != "csrfmiddlewaretoken"}
    answer = strict.post("/authorize", data=dict(form, allow="on"), HTTP_ACCEPT="text/html")
    assert answer.status_code == 403
    assert "Location" not in answer


@pytest.mark.parametrize("state", ["disabled", "pending", "quarantined"])
def test_client_that_may_not_sign_users_in_gets_a_clear_page(client: HttpClient, state: str) -> None:
    fields = {"is_enabled": False} if state == "disabled" else {"approval": state}
    app = make_client(**fields)
    response = client.get(request_for(app).url("/authorize"), HTTP_ACCEPT="text/html")
    assert response.status_code == 400
    assert "Location" not in response
    expected = b"disabled by the administrator" if state == "disabled" else b"waiting for approval"
    assert expected in response.content


# --- What real clients ask for: offline_access, and every scope the metadata lists -----------------
def scope_items(page) -> list[str]:
    return re.findall(r'<code class="scope-name">([^<]+)</code>', page.content.decode())


def test_every_scope_of_the_metadata_passes_consent_each_explained(signed_in: HttpClient, app: Client) -> None:
    # Claude asks for the whole scopes_supported of the AS metadata (claude-ai-mcp#228).
    listed = signed_in.get("/.well-known/oauth-authorization-server").json()["scopes_supported"]
    assert "offline_access" in listed
    request = request_for(app, scope=" ".join(listed))
    page, answer = consent(signed_in, request.url("/authorize"))
    text = page.content.decode()
    assert scope_items(page) == ["mcp:read", "mcp:write"]  # each a permission, in plain words
    assert "See your notes" in text and "Create, change and delete your notes" in text
    assert "offline_access" not in text  # not a permission: never shown as one
    assert answer.status_code == 302
    assert "code" in query_of(answer["Location"])


def test_offline_access_alone_gets_the_default_scope(signed_in: HttpClient, app: Client) -> None:
    request = request_for(app, scope="offline_access")
    page, answer = consent(signed_in, request.url("/authorize"))
    assert scope_items(page) == ["mcp:read"]
    assert answer.status_code == 302
