"""Open dynamic client registration (RFC 7591) and client management (RFC 7592): what MCP
clients send, the redirect URI rules, the errors, the throttle, and the registration token."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone
from oauth2_provider.models import AccessToken

from authserver.models import Client

pytestmark = pytest.mark.django_db

LOOPBACK = "http://127.0.0.1:33418/callback"


def register(http: HttpClient, body, **headers):
    payload = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return http.post("/register", data=payload, content_type="application/json", **headers)


def assert_refused(response, error: str) -> str:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == error
    return body["error_description"]


def test_public_client_registration(client: HttpClient) -> None:
    response = register(
        client,
        {"client_name": "Claude Code", "redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none"},
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "client_id",
        "client_name",
        "redirect_uris",
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
        "registration_access_token",
        "registration_client_uri",
        "client_id_issued_at",
    }
    assert body["client_name"] == "Claude Code"
    assert body["redirect_uris"] == [LOOPBACK]
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "none"
    assert body["registration_client_uri"] == f"http://127.0.0.1:8000/register/{body['client_id']}"
    assert abs(body["client_id_issued_at"] - timezone.now().timestamp()) < 60

    stored = Client.objects.get(client_id=body["client_id"])
    assert stored.client_type == Client.CLIENT_PUBLIC
    assert stored.registration_source == Client.RegistrationSource.DCR
    assert stored.approval == Client.Approval.APPROVED
    assert not stored.shows_as_verified


def test_confidential_client_gets_its_secret_once(client: HttpClient) -> None:
    response = register(
        client,
        {
            "redirect_uris": ["https://chatgpt.com/connector_platform_oauth_redirect"],
            "token_endpoint_auth_method": "client_secret_post",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token_endpoint_auth_method"] == "client_secret_post"
    assert len(body["client_secret"]) >= 32
    assert body["client_secret_expires_at"] == 0
    stored = Client.objects.get(client_id=body["client_id"])
    assert stored.client_type == Client.CLIENT_CONFIDENTIAL
    assert stored.client_secret != body["client_secret"]  # stored hashed
    assert stored.client_secret.startswith("client_secret_sha256$")  # CLIENT_SECRET_HASHER (authserver/hashers.py)


def test_extra_grant_types_of_real_clients_are_tolerated(client: HttpClient) -> None:
    # VS Code asks for the device grant too; only the code grant exists here (RFC 7591 §3.2.1).
    response = register(
        client,
        {
            "client_name": "Visual Studio Code",
            "redirect_uris": ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"],
            "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "logo_uri": "https://example.com/logo.png",
        },
    )
    assert response.status_code == 201
    assert response.json()["grant_types"] == ["authorization_code", "refresh_token"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:6274/oauth/callback",
        "http://localhost:3000/callback",
        "http://[::1]:8080/cb",
        "https://claude.ai/api/mcp/auth_callback",
        "cursor://anysphere.cursor-mcp/oauth/callback",
        "vscode://vscode.github-authentication/did-authenticate",
    ],
)
def test_allowed_redirect_uris(client: HttpClient, uri: str) -> None:
    response = register(client, {"redirect_uris": [uri], "token_endpoint_auth_method": "none"})
    assert response.status_code == 201, response.content
    assert response.json()["redirect_uris"] == [uri]


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://app.example.com/callback", "non-loopback host"),
        ("https://app.example.com/callback#frag", "fragment"),
        ("javascript://alert(1)", "scheme 'javascript'"),
        ("evil://steal", "scheme 'evil'"),
        ("https://user:pass@app.example.com/cb", "user information"),
        ("https://*.example.com/cb", "wildcard"),
        ("/relative/callback", "absolute"),
        ("https:///no-host", "no host"),
        ("", "non-empty"),
        (42, "non-empty string"),
    ],
)
def test_refused_redirect_uris_say_which_rule_was_broken(client: HttpClient, uri, reason: str) -> None:
    description = assert_refused(
        register(client, {"redirect_uris": ["https://ok.example/cb", uri], "token_endpoint_auth_method": "none"}),
        "invalid_redirect_uri",
    )
    assert reason in description
    assert not Client.objects.exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"token_endpoint_auth_method": "none"}, "invalid_redirect_uri"),
        ({"redirect_uris": [], "token_endpoint_auth_method": "none"}, "invalid_redirect_uri"),
        ({"redirect_uris": LOOPBACK}, "invalid_redirect_uri"),
        ({"redirect_uris": [LOOPBACK], "grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({"redirect_uris": [LOOPBACK], "grant_types": "authorization_code"}, "invalid_client_metadata"),
        ({"redirect_uris": [LOOPBACK], "response_types": ["token"]}, "invalid_client_metadata"),
        ({"redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
        ({"redirect_uris": [LOOPBACK], "client_name": "x" * 256}, "invalid_client_metadata"),
        ({"redirect_uris": [LOOPBACK], "client_name": ["list"]}, "invalid_client_metadata"),
        ({"redirect_uris": [LOOPBACK], "scope": "mcp:read admin"}, "invalid_client_metadata"),
        ({"redirect_uris": [LOOPBACK], "scope": 7}, "invalid_client_metadata"),
        ("not json at all", "invalid_client_metadata"),
        ("[1, 2, 3]", "invalid_client_metadata"),
        ("", "invalid_client_metadata"),
    ],
)
def test_bad_metadata_gets_rfc_7591_errors(client: HttpClient, body, error: str) -> None:
    assert_refused(register(client, body), error)


def test_deeply_nested_json_is_refused_early(client: HttpClient) -> None:
    response = register(client, "[" * 10000 + "]" * 10000)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_client_metadata")


def test_registration_with_a_known_scope_echoes_it(client: HttpClient) -> None:
    response = register(client, {"redirect_uris": [LOOPBACK], "scope": "mcp:read mcp:write"})
    assert response.status_code == 201
    assert response.json()["scope"] == "mcp:read mcp:write"


def test_registration_is_throttled_per_ip(client: HttpClient, settings) -> None:
    settings.THROTTLES = {**settings.THROTTLES, "register": (2, 1000, 3600)}
    body = {"redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none"}
    assert register(client, body, REMOTE_ADDR="203.0.113.5").status_code == 201
    assert register(client, body, REMOTE_ADDR="203.0.113.5").status_code == 201
    refused = register(client, body, REMOTE_ADDR="203.0.113.5")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["error"] == "too_many_requests"
    # Another address has its own budget.
    assert register(client, body, REMOTE_ADDR="203.0.113.6").status_code == 201
    assert Client.objects.count() == 3


def test_registration_token_is_short_lived_and_scoped(client: HttpClient) -> None:
    body = register(client, {"redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none"}).json()
    token = AccessToken.objects.get(application__client_id=body["client_id"])
    assert token.scope == "oauth2_provider:registration"
    assert token.resource == []
    assert token.token == ""  # hashed at rest
    assert token.expires <= timezone.now() + timedelta(days=1, minutes=1)


def test_client_configuration_endpoint(client: HttpClient) -> None:
    registered = register(
        client, {"client_name": "Before", "redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none"}
    ).json()
    uri = f"/register/{registered['client_id']}"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {registered['registration_access_token']}"}

    assert client.get(uri).status_code == 401
    assert client.get(uri, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    read = client.get(uri, **auth)
    assert read.status_code == 200
    assert read.json()["client_name"] == "Before"

    refused = client.put(
        uri, data=json.dumps({"redirect_uris": ["http://evil.example/cb"]}), content_type="application/json", **auth
    )
    assert_refused(refused, "invalid_redirect_uri")
    anonymous = client.put(uri, data=json.dumps({"redirect_uris": ["bad"]}), content_type="application/json")
    assert anonymous.status_code == 401

    updated = client.put(
        uri,
        data=json.dumps({"client_name": "After", "redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "none"}),
        content_type="application/json",
        **auth,
    )
    assert updated.status_code == 200
    assert updated.json()["client_name"] == "After"
    new_auth = {"HTTP_AUTHORIZATION": f"Bearer {updated.json()['registration_access_token']}"}
    assert client.get(uri, **auth).status_code == 401  # rotated on update

    assert client.delete(uri, **new_auth).status_code == 204
    assert not Client.objects.filter(client_id=registered["client_id"]).exists()


def test_registration_needs_post_and_json(client: HttpClient) -> None:
    response = client.get("/register")
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"


# --- What real clients send: offline_access, application_type, private_key_jwt ------------------------
def test_offline_access_in_the_registration_scope_is_accepted(client: HttpClient) -> None:
    response = register(client, {"redirect_uris": [LOOPBACK], "scope": "mcp:read offline_access"})
    assert response.status_code == 201, response.content
    assert response.json()["scope"] == "mcp:read offline_access"


@pytest.mark.parametrize(
    ("application_type", "uris"),
    [
        ("native", [LOOPBACK]),
        ("native", ["cursor://anysphere.cursor-mcp/oauth/callback"]),
        ("native", ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"]),  # VS Code, as it registers
        ("web", ["https://claude.ai/api/mcp/auth_callback"]),
    ],
)
def test_application_type_is_stored_and_echoed(client: HttpClient, application_type: str, uris: list[str]) -> None:
    response = register(
        client, {"redirect_uris": uris, "token_endpoint_auth_method": "none", "application_type": application_type}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["application_type"] == application_type
    assert Client.objects.get(client_id=body["client_id"]).application_type == application_type
    read = client.get(
        f"/register/{body['client_id']}", HTTP_AUTHORIZATION=f"Bearer {body['registration_access_token']}"
    )
    assert read.json()["application_type"] == application_type


@pytest.mark.parametrize(
    ("application_type", "uris", "words"),
    [
        ("web", [LOOPBACK], 'application_type "web" allows only https redirect URIs on a real host'),
        ("web", ["cursor://anysphere.cursor-mcp/oauth/callback"], 'application_type "web" allows only https'),
        ("web", ["https://localhost:8443/cb"], 'application_type "web" allows only https redirect URIs on a real'),
        ("native", ["https://app.example.com/cb"], 'application_type "native" needs a redirect URI on the device'),
        ("desktop", [LOOPBACK], 'application_type must be "native" or "web"'),
        (["native"], [LOOPBACK], 'application_type must be "native" or "web"'),
    ],
)
def test_application_type_that_disagrees_with_the_redirect_uris_is_refused(
    client: HttpClient, application_type, uris: list[str], words: str
) -> None:
    body = {"redirect_uris": uris, "token_endpoint_auth_method": "none", "application_type": application_type}
    description = assert_refused(register(client, body), "invalid_client_metadata")
    assert words in description
    assert not Client.objects.exists()


def test_private_key_jwt_registration_keeps_the_keys_and_issues_no_secret(client: HttpClient) -> None:
    from tests.support.signing import ClientKey

    key = ClientKey("ES256")
    response = register(
        client,
        {
            "client_name": "Signed client",
            "redirect_uris": ["https://agent.example/callback"],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": key.jwks(),
            "application_type": "web",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["jwks"] == key.jwks() and body["token_endpoint_auth_signing_alg"] == "ES256"
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    stored = Client.objects.get(client_id=body["client_id"])
    assert (stored.token_endpoint_auth_method, stored.client_type) == ("private_key_jwt", Client.CLIENT_CONFIDENTIAL)
    assert json.loads(stored.client_jwks) == key.jwks()
    read = client.get(
        f"/register/{body['client_id']}", HTTP_AUTHORIZATION=f"Bearer {body['registration_access_token']}"
    ).json()
    assert read["token_endpoint_auth_method"] == "private_key_jwt" and read["jwks"] == key.jwks()

    by_url = register(
        client,
        {
            "redirect_uris": [LOOPBACK],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://agent.example/jwks.json",
        },
    )
    assert by_url.status_code == 201 and by_url.json()["jwks_uri"] == "https://agent.example/jwks.json"
    assert Client.objects.get(client_id=by_url.json()["client_id"]).client_jwks_uri == "https://agent.example/jwks.json"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({}, "needs the client's public keys: jwks_uri or jwks"),
        ({"jwks_uri": "https://a.example/jwks.json", "jwks": {"keys": []}}, "exactly one of them"),
        ({"jwks_uri": "http://a.example/jwks.json"}, "jwks_uri must be an https URL"),
        ({"jwks": {"keys": []}}, "no signing key"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "private key material"),
        ({"jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "AQAB"}]}}, "private key material"),
        ({"jwks": '{"keys": []}'}, "jwks must be a JSON Web Key Set object"),
        ({"jwks_uri": "https://a.example/j", "token_endpoint_auth_signing_alg": "HS256"}, "must be one of RS256"),
    ],
)
def test_private_key_jwt_registration_without_usable_keys_is_refused(client: HttpClient, extra: dict, words) -> None:
    body = {"redirect_uris": [LOOPBACK], "token_endpoint_auth_method": "private_key_jwt", **extra}
    assert words in assert_refused(register(client, body), "invalid_client_metadata")
    assert not Client.objects.exists()
