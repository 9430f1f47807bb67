"""The token endpoint: code exchange with PKCE, tokens bound to the MCP endpoint and stored
hashed, replayed codes, refresh rotation with reuse protection, and the RFC 6749 §5.2 errors."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as HttpClient
from oauth2_provider.models import AccessToken, RefreshToken

from authserver.models import Client, UsedAuthorizationCode
from tests.support.inprocess import MCP_URL, authorize_code, make_client, token_request

pytestmark = pytest.mark.django_db


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def signed_in(client: HttpClient) -> HttpClient:
    client.force_login(get_user_model().objects.create_user("alice", password="alice-password-123"))
    return client


@pytest.fixture
def app() -> Client:
    return make_client()


def issue(http: HttpClient, app: Client, scope: str = "mcp:read", resource=MCP_URL) -> dict:
    request, code = authorize_code(http, app, scope=scope, resource=resource)
    response = token_request(http, request, code)
    assert response.status_code == 200, response.content
    return response.json()


def assert_oauth_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    return body


def test_code_exchange_returns_a_bearer_token_bound_to_the_mcp_endpoint(signed_in: HttpClient, app: Client) -> None:
    request, code = authorize_code(signed_in, app, scope="mcp:read")
    response = token_request(signed_in, request, code)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "mcp:read"
    assert 0 < body["expires_in"] <= 3600

    stored = AccessToken.objects.get(token_checksum=sha256(body["access_token"]))
    assert stored.token == ""  # hashed at rest: only the checksum is kept
    assert stored.resource == [MCP_URL]
    refresh = RefreshToken.objects.get(token_checksum=sha256(body["refresh_token"]))
    assert refresh.token == ""
    assert refresh.resource == [MCP_URL]
    app.refresh_from_db()
    assert app.last_used_at is not None


def test_request_without_resource_is_bound_to_the_mcp_endpoint(signed_in: HttpClient, app: Client) -> None:
    body = issue(signed_in, app, resource=None)
    assert AccessToken.objects.get(token_checksum=sha256(body["access_token"])).resource == [MCP_URL]


def test_foreign_resource_at_the_token_endpoint_is_invalid_target(signed_in: HttpClient, app: Client) -> None:
    request, code = authorize_code(signed_in, app)
    response = token_request(signed_in, request, code, resource="https://other.example/mcp")
    body = assert_oauth_error(response, 400, "invalid_target")
    assert MCP_URL in body["error_description"]
    assert not AccessToken.objects.filter(application=app).exists()


def test_wrong_code_verifier_is_invalid_grant(signed_in: HttpClient, app: Client) -> None:
    request, code = authorize_code(signed_in, app)
    assert_oauth_error(token_request(signed_in, request, code, code_verifier="x" * 50), 400, "invalid_grant")


def test_missing_code_verifier_is_refused(signed_in: HttpClient, app: Client) -> None:
    request, code = authorize_code(signed_in, app)
    assert_oauth_error(token_request(signed_in, request, code, code_verifier=None), 400, "invalid_request")


def test_code_for_another_redirect_uri_is_invalid_grant(signed_in: HttpClient, app: Client) -> None:
    request, code = authorize_code(signed_in, app)
    response = token_request(signed_in, request, code, redirect_uri="https://app.example.com/cb")
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_grant", "invalid_request")
    assert not AccessToken.objects.filter(application=app).exists()


def test_replayed_code_is_refused_and_revokes_what_it_issued(signed_in: HttpClient, app: Client) -> None:
    request, code = authorize_code(signed_in, app)
    first = token_request(signed_in, request, code)
    assert first.status_code == 200
    issued = first.json()
    assert UsedAuthorizationCode.objects.filter(code_checksum=sha256(code)).exists()

    replay = token_request(signed_in, request, code)
    assert_oauth_error(replay, 400, "invalid_grant")
    assert not AccessToken.objects.filter(token_checksum=sha256(issued["access_token"])).exists()
    refresh = RefreshToken.objects.get(token_checksum=sha256(issued["refresh_token"]))
    assert refresh.revoked is not None
    assert_oauth_error(
        signed_in.post(
            "/token",
            {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"], "client_id": app.client_id},
        ),
        400,
        "invalid_grant",
    )


def refresh_with(http: HttpClient, app: Client, refresh_token: str, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": app.client_id, **extra}
    return http.post("/token", data)


def test_refresh_rotates_both_tokens(signed_in: HttpClient, app: Client) -> None:
    first = issue(signed_in, app)
    response = refresh_with(signed_in, app, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert not AccessToken.objects.filter(token_checksum=sha256(first["access_token"])).exists()
    new_access = AccessToken.objects.get(token_checksum=sha256(second["access_token"]))
    assert new_access.resource == [MCP_URL]
    assert new_access.scope == "mcp:read"


def test_rotated_refresh_token_replayed_later_revokes_the_family(signed_in: HttpClient, app: Client, settings) -> None:
    settings.REFRESH_TOKEN_REUSE_LEEWAY = 0
    first = issue(signed_in, app)
    second = refresh_with(signed_in, app, first["refresh_token"]).json()

    replay = refresh_with(signed_in, app, first["refresh_token"])
    assert_oauth_error(replay, 400, "invalid_grant")
    # The whole family is gone: the legitimate new tokens too (RFC 9700 §4.14.2).
    assert not AccessToken.objects.filter(token_checksum=sha256(second["access_token"])).exists()
    assert_oauth_error(refresh_with(signed_in, app, second["refresh_token"]), 400, "invalid_grant")


def test_replay_just_after_a_rotation_is_refused_but_keeps_the_family(
    signed_in: HttpClient, app: Client, settings
) -> None:
    settings.REFRESH_TOKEN_REUSE_LEEWAY = 60
    first = issue(signed_in, app)
    second = refresh_with(signed_in, app, first["refresh_token"]).json()

    assert_oauth_error(refresh_with(signed_in, app, first["refresh_token"]), 400, "invalid_grant")
    assert AccessToken.objects.filter(token_checksum=sha256(second["access_token"])).exists()
    assert refresh_with(signed_in, app, second["refresh_token"]).status_code == 200


def test_refresh_cannot_widen_the_resource(signed_in: HttpClient, app: Client) -> None:
    first = issue(signed_in, app)
    response = refresh_with(signed_in, app, first["refresh_token"], resource="https://other.example/mcp")
    assert_oauth_error(response, 400, "invalid_target")


def test_refresh_token_of_another_client_is_invalid_grant(signed_in: HttpClient, app: Client) -> None:
    first = issue(signed_in, app)
    other = make_client(name="Other app")
    assert_oauth_error(refresh_with(signed_in, other, first["refresh_token"]), 400, "invalid_grant")


def test_expired_refresh_token_is_invalid_grant(signed_in: HttpClient, app: Client, settings) -> None:
    first = issue(signed_in, app)
    from datetime import timedelta

    from django.utils import timezone

    AccessToken.objects.filter(token_checksum=sha256(first["access_token"])).update(
        expires=timezone.now() - timedelta(days=40)
    )
    assert_oauth_error(refresh_with(signed_in, app, first["refresh_token"]), 400, "invalid_grant")


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        # The password grant is switched off (RFC 9700 §2.4): refused whatever the credentials.
        ({"grant_type": "password", "username": "nobody", "password": "wrong"}, 400, "invalid_grant"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        ({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}, 400, "unsupported_grant_type"),
        ({"grant_type": "implicit"}, 400, "unsupported_grant_type"),
        ({}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, 400, "invalid_request"),
        (
            {
                "grant_type": "authorization_code",
                "code": "nope",
                "redirect_uri": "http://127.0.0.1/callback",
                "code_verifier": "v" * 50,
            },
            400,
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
    ],
)
def test_bad_token_requests_get_rfc_6749_errors(client: HttpClient, app: Client, data, status, error) -> None:
    body = {"client_id": app.client_id, **data}
    response = client.post("/token", body)
    assert_oauth_error(response, status, error)


def test_password_grant_is_refused_even_with_the_right_password(signed_in: HttpClient, app: Client) -> None:
    data = {"grant_type": "password", "username": "alice", "password": "alice-password-123", "client_id": app.client_id}
    assert_oauth_error(signed_in.post("/token", data), 400, "unauthorized_client")


def test_unknown_client_is_invalid_client(client: HttpClient) -> None:
    response = client.post("/token", {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nobody"})
    assert_oauth_error(response, 401, "invalid_client")


def test_confidential_client_with_a_wrong_secret_is_invalid_client(client: HttpClient) -> None:
    app = make_client(client_type=Client.CLIENT_CONFIDENTIAL, client_secret="right-secret-123")
    basic = base64.b64encode(f"{app.client_id}:wrong-secret".encode()).decode()
    response = client.post(
        "/token", {"grant_type": "refresh_token", "refresh_token": "x"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert_oauth_error(response, 401, "invalid_client")


def test_json_body_is_refused_with_an_oauth_error(client: HttpClient, app: Client) -> None:
    response = client.post("/token", data='{"grant_type": "refresh_token"}', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "unsupported_grant_type")


def test_get_on_the_token_endpoint_is_a_json_405(client: HttpClient) -> None:
    response = client.get("/token")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_request"


def test_revocation_of_an_access_token_also_revokes_its_refresh_token(signed_in: HttpClient, app: Client) -> None:
    issued = issue(signed_in, app)
    response = signed_in.post("/revoke", {"token": issued["access_token"], "client_id": app.client_id})
    assert response.status_code == 200
    assert not AccessToken.objects.filter(token_checksum=sha256(issued["access_token"])).exists()
    assert_oauth_error(refresh_with(signed_in, app, issued["refresh_token"]), 400, "invalid_grant")


def test_revocation_needs_the_client(client: HttpClient) -> None:
    response = client.post("/revoke", {"token": "whatever"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_offline_access_is_accepted_and_has_no_other_effect(signed_in: HttpClient, app: Client) -> None:
    # Clients add it to get a refresh token (SEP-2207); refresh tokens are issued anyway.
    request, code = authorize_code(signed_in, app, scope="mcp:read offline_access")
    response = token_request(signed_in, request, code, scope="mcp:read offline_access")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "mcp:read" and body["refresh_token"]
    assert AccessToken.objects.get(token_checksum=sha256(body["access_token"])).scope == "mcp:read"
    again = refresh_with(signed_in, app, body["refresh_token"], scope="mcp:read offline_access")
    assert again.status_code == 200, again.content
    assert again.json()["scope"] == "mcp:read"
    # Asking for more than was granted is still refused.
    assert_oauth_error(
        refresh_with(signed_in, app, again.json()["refresh_token"], scope="mcp:write offline_access"),
        400,
        "invalid_scope",
    )


def test_token_values_are_30_unbiased_alphanumerics() -> None:
    from collections import Counter

    from oauthlib.common import UNICODE_ASCII_CHARACTER_SET

    from authserver.token_values import new_token

    values = [new_token() for _ in range(2000)]
    assert len(set(values)) == len(values)
    assert all(len(value) == 30 and set(value) <= set(UNICODE_ASCII_CHARACTER_SET) for value in values)
    counts = Counter("".join(values))
    assert set(counts) == set(UNICODE_ASCII_CHARACTER_SET)
    # 60,000 characters, about 968 of each: a modulo bias (256 % 62) would put the first eight
    # characters of the alphabet about 25% above the others (here: within 10%, over 8 sigma).
    first = [counts[c] for c in UNICODE_ASCII_CHARACTER_SET[:8]]
    others = [counts[c] for c in UNICODE_ASCII_CHARACTER_SET[8:]]
    assert sum(first) / len(first) < 1.10 * sum(others) / len(others)


def test_issued_tokens_have_the_configured_shape(signed_in: HttpClient, app: Client) -> None:
    issued = issue(signed_in, app)
    for name in ("access_token", "refresh_token"):
        assert len(issued[name]) == 30 and issued[name].isalnum()
