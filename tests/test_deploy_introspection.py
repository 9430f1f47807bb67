"""The split deployment's two halves, in process: the authorization server's RFC 7662
introspection endpoint (authserver/introspection.py), open only to the resource server's own
confidential client, and the resource server's verifier that calls it (mcpserver/introspection.py),
with its cache, its verdicts, and its 503 when the authorization server cannot answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import timedelta
from urllib.parse import parse_qs

import httpx2
import pytest
from django.contrib.auth import get_user_model
from django.test import Client as DjangoClient
from django.utils import timezone
from mcp.server.auth.provider import AccessToken as SDKAccessToken
from oauth2_provider.models import get_access_token_model
from starlette.testclient import TestClient as StarletteClient

from authserver import introspection
from authserver.models import Client
from mcpserver import introspection as remote_tokens
from mcpserver import verification
from tests.support.inprocess import close_database_threads

RS_ID = "notes-rs"
RS_SECRET = "rs-secret-for-in-process-tests"
RS_MCP = "https://rs.example.test/mcp"
AS_ISSUER = "https://as.example.test"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# --- The authorization server's side ----------------------------------------------------------
@pytest.fixture
def as_role(settings) -> None:
    settings.SERVER_ROLE = "authorization"
    settings.MCP_URL = RS_MCP
    settings.INTROSPECTION_CLIENT_IDS = [RS_ID]
    introspection._verified_credentials.clear()


@pytest.fixture
def rs_client(db) -> Client:
    return Client.objects.create(
        client_id=RS_ID,
        client_secret=RS_SECRET,
        name="Resource server",
        client_type=Client.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
        redirect_uris="",
    )


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def app_client(db) -> Client:
    return Client.objects.create(
        client_id="some-mcp-client",
        name="Some MCP client",
        client_type=Client.CLIENT_PUBLIC,
        authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:33418/callback",
    )


def make_token(user, application, value="live-token-value", resource=(RS_MCP,), expires_in=600, scope="mcp:read"):
    return get_access_token_model().objects.create(
        user=user,
        application=application,
        token=value,
        expires=timezone.now() + timedelta(seconds=expires_in),
        scope=scope,
        resource=list(resource),
    )


def ask(client: DjangoClient, token: str | None, authorization: str | None = basic(RS_ID, RS_SECRET), **extra):
    data = {"token": token} if token is not None else {}
    data.update(extra)
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    return client.post("/introspect", data, **headers)


def test_absent_unless_configured(client: DjangoClient, rs_client) -> None:
    response = ask(client, "anything")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_an_active_token_and_its_claims(as_role, client: DjangoClient, rs_client, user, app_client) -> None:
    token = make_token(user, app_client, scope="mcp:read mcp:write")
    response = ask(client, "live-token-value")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "active": True,
        "scope": "mcp:read mcp:write",
        "client_id": "some-mcp-client",
        "username": "alice",
        "sub": str(user.pk),
        "aud": [RS_MCP],
        "iss": "http://127.0.0.1:8000",
        "exp": int(token.expires.timestamp()),
        "iat": int(token.created.timestamp()),
        "token_type": "Bearer",
    }


@pytest.mark.parametrize(
    "spoil",
    ["expired", "other resource", "unbound", "client disabled", "client pending", "user inactive", "unknown", "long"],
)
def test_inactive_tokens(as_role, client: DjangoClient, rs_client, user, app_client, spoil: str) -> None:
    value = "live-token-value"
    if spoil == "expired":
        make_token(user, app_client, expires_in=-1)
    elif spoil == "other resource":
        make_token(user, app_client, resource=("https://elsewhere.example.test/mcp",))
    elif spoil == "unbound":
        make_token(user, app_client, resource=())
    else:
        make_token(user, app_client)
    if spoil == "client disabled":
        Client.objects.filter(pk=app_client.pk).update(is_enabled=False)
    elif spoil == "client pending":
        Client.objects.filter(pk=app_client.pk).update(approval=Client.Approval.PENDING)
    elif spoil == "user inactive":
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    elif spoil == "unknown":
        value = "no-such-token"
    elif spoil == "long":
        value = "x" * 513
    response = ask(client, value)
    assert response.status_code == 200
    assert response.json() == {"active": False}


def test_client_credentials_in_the_body_are_accepted(as_role, client: DjangoClient, rs_client) -> None:
    response = ask(client, "unknown", authorization=None, client_id=RS_ID, client_secret=RS_SECRET)
    assert response.status_code == 200
    assert response.json() == {"active": False}


@pytest.mark.parametrize(
    "who", ["nobody", "wrong secret", "other confidential", "public in list", "disabled", "bearer", "garbled"]
)
def test_only_the_resource_servers_client_may_ask(
    as_role, settings, client: DjangoClient, rs_client, user, app_client, who: str
) -> None:
    make_token(user, app_client)
    authorization = {
        "nobody": None,
        "wrong secret": basic(RS_ID, "not-the-secret"),
        "other confidential": basic("curious", "curious-secret"),
        "public in list": basic("some-mcp-client", ""),
        "disabled": basic(RS_ID, RS_SECRET),
        "bearer": "Bearer live-token-value",
        "garbled": "Basic !!!not-base64",
    }[who]
    if who == "other confidential":
        Client.objects.create(
            client_id="curious",
            client_secret="curious-secret",
            client_type=Client.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
            redirect_uris="http://127.0.0.1:1/cb",
        )
    if who == "public in list":
        settings.INTROSPECTION_CLIENT_IDS = [RS_ID, "some-mcp-client"]
    if who == "disabled":
        Client.objects.filter(pk=rs_client.pk).update(is_enabled=False)
    response = ask(client, "live-token-value", authorization=authorization)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"] == 'Basic realm="introspection"'
    assert "active" not in response.json()


def test_method_and_parameter_errors(as_role, client: DjangoClient, rs_client) -> None:
    assert client.get("/introspect").status_code == 405
    missing = ask(client, None)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


def test_a_verified_secret_is_not_hashed_again_for_a_while(
    as_role, client: DjangoClient, rs_client, monkeypatch
) -> None:
    calls = []
    real = introspection.check_password

    def counting(secret, stored):
        calls.append(secret)
        return real(secret, stored)

    monkeypatch.setattr(introspection, "check_password", counting)
    for _ in range(3):
        assert ask(client, "unknown").status_code == 200
    assert len(calls) == 1
    assert ask(client, "unknown", authorization=basic(RS_ID, "guess")).status_code == 401
    assert len(calls) == 2  # a wrong secret is always checked


def test_seeding_the_resource_servers_client(as_role, settings, client: DjangoClient, db) -> None:
    settings.INTROSPECTION_CLIENT_ID = RS_ID
    settings.INTROSPECTION_CLIENT_SECRET = RS_SECRET
    assert introspection.ensure_introspection_client() == f"created introspection client {RS_ID!r}"
    seeded = Client.objects.get(client_id=RS_ID)
    assert seeded.client_type == Client.CLIENT_CONFIDENTIAL
    assert seeded.client_secret != RS_SECRET  # stored hashed
    assert seeded.redirect_uris == ""
    assert introspection.ensure_introspection_client() == f"introspection client {RS_ID!r} is up to date"
    assert ask(client, "unknown").status_code == 200

    # It can authenticate, but never obtain a token for itself.
    minted = client.post(
        "/token", {"grant_type": "client_credentials", "scope": "mcp:read"}, HTTP_AUTHORIZATION=basic(RS_ID, RS_SECRET)
    )
    assert minted.status_code == 400
    assert minted.json() == {"error": "unauthorized_client"}

    settings.INTROSPECTION_CLIENT_SECRET = "a-rotated-secret"
    assert introspection.ensure_introspection_client() == f"updated introspection client {RS_ID!r}"
    assert ask(client, "unknown", authorization=basic(RS_ID, "a-rotated-secret")).status_code == 200
    assert ask(client, "unknown").status_code == 401


def test_nothing_is_seeded_outside_the_authorization_role(settings, db) -> None:
    settings.INTROSPECTION_CLIENT_ID = RS_ID
    settings.INTROSPECTION_CLIENT_SECRET = RS_SECRET
    assert introspection.ensure_introspection_client() == "no introspection client configured"
    assert not Client.objects.filter(client_id=RS_ID).exists()


# --- The resource server's side -----------------------------------------------------------------
class FakeAuthorizationServer:
    """Answers the verifier's introspection calls (an httpx2 MockTransport), and records them."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.claims: dict = {}
        self.status = 200
        self.failure: Exception | None = None
        self.delay = 0.0

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failure is not None:
            raise self.failure
        return httpx2.Response(self.status, json=self.claims)

    def active(self, **overrides) -> dict:
        self.claims = {
            "active": True,
            "scope": "mcp:read",
            "client_id": "some-mcp-client",
            "username": "alice",
            "sub": "41",
            "aud": ["http://127.0.0.1:8000/mcp"],
            "iss": AS_ISSUER,
            "exp": int(time.time()) + 600,
            "iat": int(time.time()),
            "token_type": "Bearer",
            **overrides,
        }
        return self.claims


@pytest.fixture
def remote(settings, transactional_db, monkeypatch) -> FakeAuthorizationServer:
    settings.SERVER_ROLE = "resource"
    settings.ISSUER = AS_ISSUER
    settings.INTROSPECTION_URL = AS_ISSUER + "/introspect"
    settings.INTROSPECTION_CLIENT_ID = "rs:client"
    settings.INTROSPECTION_CLIENT_SECRET = "s3cret&more"
    settings.INTROSPECTION_CACHE_SECONDS = 30
    fake = FakeAuthorizationServer()
    monkeypatch.setattr(remote_tokens, "transport", httpx2.MockTransport(fake))
    monkeypatch.setattr(remote_tokens, "_http", None)
    remote_tokens.clear_introspection_cache()
    yield fake
    remote_tokens.clear_introspection_cache()
    close_database_threads()


def verify(token: str):
    return asyncio.run(verification.verify(token))


def test_verified_by_introspection_as_a_confidential_client(remote: FakeAuthorizationServer) -> None:
    remote.active(scope="mcp:read mcp:write")
    verdict = verify("a-token-from-the-as")
    assert isinstance(verdict, SDKAccessToken)
    assert verdict.client_id == "some-mcp-client"
    assert verdict.scopes == ["mcp:read", "mcp:write"]
    assert verdict.resource == "http://127.0.0.1:8000/mcp"
    assert verdict.expires_at == remote.claims["exp"]
    assert verdict.claims == {"iss": AS_ISSUER, "sub": "41", "username": "alice"}
    assert verdict.token == ""
    local = get_user_model().objects.get(username="alice")
    assert verdict.subject == str(local.pk)
    assert not local.has_usable_password()

    (request,) = remote.requests
    assert request.method == "POST"
    assert str(request.url) == AS_ISSUER + "/introspect"
    # RFC 6749 §2.3.1: id and secret form-encoded, then Basic.
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"rs%3Aclient:s3cret%26more").decode()
    assert parse_qs(request.content.decode()) == {"token": ["a-token-from-the-as"], "token_type_hint": ["access_token"]}


def test_answers_are_cached_for_the_configured_seconds(settings, remote: FakeAuthorizationServer) -> None:
    settings.INTROSPECTION_CACHE_SECONDS = 1
    remote.active()
    assert isinstance(verify("cached-token"), SDKAccessToken)
    remote.claims = {"active": False}  # revoked at the authorization server
    assert isinstance(verify("cached-token"), SDKAccessToken)  # still cached
    assert len(remote.requests) == 1
    time.sleep(1.1)
    refused = verify("cached-token")
    assert refused == verification.Rejection("The access token is unknown, expired or revoked")
    assert len(remote.requests) == 2


def test_the_cache_never_outlives_the_token(remote: FakeAuthorizationServer) -> None:
    remote.active(exp=int(time.time()) + 1)
    assert isinstance(verify("short-lived"), SDKAccessToken)
    time.sleep(1.1)
    # The answer was remembered only until the token's expiry, not for the 30 configured seconds.
    assert verify("short-lived") == verification.Rejection("The access token has expired")
    assert len(remote.requests) == 2


def test_concurrent_checks_of_one_token_make_one_call(remote: FakeAuthorizationServer) -> None:
    remote.active()
    remote.delay = 0.2

    async def both():
        return await asyncio.gather(verification.verify("popular"), verification.verify("popular"))

    first, second = asyncio.run(both())
    assert first == second and isinstance(first, SDKAccessToken)
    assert len(remote.requests) == 1


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"active": False}, "The access token is unknown, expired or revoked"),
        (
            {"aud": ["https://elsewhere.example.test/mcp"]},
            "The access token was not issued for http://127.0.0.1:8000/mcp",
        ),
        ({"aud": None}, "The access token was not issued for http://127.0.0.1:8000/mcp"),
        ({"iss": "https://rogue.example.test"}, "The access token was issued by another authorization server"),
        ({"exp": int(time.time()) - 5}, "The access token has expired"),
        ({"username": None}, "The access token does not belong to an active user"),
    ],
)
def test_refusals(remote: FakeAuthorizationServer, claims: dict, reason: str) -> None:
    if claims == {"active": False}:
        remote.claims = claims
    else:
        remote.active(**claims)
    assert verify("refused-token") == verification.Rejection(reason)


def test_a_single_audience_string_is_accepted(remote: FakeAuthorizationServer) -> None:
    remote.active(aud="http://127.0.0.1:8000/mcp")
    assert isinstance(verify("string-aud"), SDKAccessToken)


def test_a_deactivated_local_user_is_refused(remote: FakeAuthorizationServer) -> None:
    get_user_model().objects.create_user("alice", is_active=False)
    remote.active()
    assert verify("blocked-user") == verification.Rejection("The access token does not belong to an active user")


@pytest.mark.parametrize("trouble", ["unreachable", "401", "500", "not json"])
def test_an_unanswering_authorization_server_means_unavailable(remote: FakeAuthorizationServer, trouble: str) -> None:
    remote.active()
    if trouble == "unreachable":
        remote.failure = httpx2.ConnectError("connection refused")
    elif trouble == "not json":
        remote.claims = None  # json=None: an empty body
    else:
        remote.status = int(trouble)
    with pytest.raises(remote_tokens.AuthorizationServerUnavailable):
        verify("any-token")
    # Nothing was cached: the next request asks again.
    with pytest.raises(remote_tokens.AuthorizationServerUnavailable):
        verify("any-token")
    assert len(remote.requests) == 2


def test_the_gate_answers_503_while_the_authorization_server_is_down(remote: FakeAuthorizationServer) -> None:
    from mcpserver.app import build_mcp_app

    remote.failure = httpx2.ConnectTimeout("timed out")
    app, _server = build_mcp_app()
    with StarletteClient(app, base_url="http://127.0.0.1:8000") as http:
        response = http.post(
            "/mcp",
            headers={"Authorization": "Bearer some-token", "Accept": "application/json, text/event-stream"},
            content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "retry-after" in response.headers
