"""The split deployment (docker-compose.split.yml): the same entrypoint as two services on two
origins, each with its own database. The authorization server (SERVER_ROLE=authorization)
issues tokens for the resource server's MCP endpoint; the resource server (SERVER_ROLE=resource)
verifies them by RFC 7662 introspection, as its own confidential client, with a 2-second cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import pytest

from democlient import flow, mcp_calls
from tests.support.deploy import EntrypointServer, start_all, stop_all
from tests.support.server import DEMO_PASSWORD, DEMO_USERNAME

pytestmark = pytest.mark.e2e

REDIRECT_URI = "http://127.0.0.1:33418/callback"
RS_CLIENT_ID = "notes-resource-server"
RS_CLIENT_SECRET = "rs-secret-" + "z" * 30
CACHE_SECONDS = 2


@pytest.fixture(scope="module")
def split() -> Iterator[tuple[EntrypointServer, EntrypointServer]]:
    auth = EntrypointServer("split-auth")
    resource = EntrypointServer("split-mcp")
    auth.overrides.update(
        SERVER_ROLE="authorization",
        RESOURCE_SERVER_URL=resource.public_url,
        INTROSPECTION_CLIENT_ID=RS_CLIENT_ID,
        INTROSPECTION_CLIENT_SECRET=RS_CLIENT_SECRET,
    )
    resource.overrides.update(
        SERVER_ROLE="resource",
        AUTH_SERVER_URL=auth.public_url,
        INTROSPECTION_CLIENT_ID=RS_CLIENT_ID,
        INTROSPECTION_CLIENT_SECRET=RS_CLIENT_SECRET,
        INTROSPECTION_CACHE_SECONDS=str(CACHE_SECONDS),
        DEMO_USERNAME="",
        ADMIN_USERNAME="",
    )
    start_all(auth, resource)
    try:
        yield auth, resource
    finally:
        stop_all(auth, resource)


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=30, follow_redirects=False) as client:
        yield client


def obtain_tokens(auth: EntrypointServer, resource: EntrypointServer, http: httpx2.Client, scope: str) -> dict:
    """Register at the authorization server and run the user's consent for the MCP server."""
    registered = flow.register(
        http,
        auth.public_url + "/register",
        {"client_name": "Split client", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
    )
    request = flow.AuthorizationRequest(registered["client_id"], REDIRECT_URI, scope, resource.public_url + "/mcp")
    browser = flow.Browser(auth.public_url, DEMO_USERNAME, DEMO_PASSWORD)
    try:
        callback = browser.authorize(request.url(auth.public_url + "/authorize"))
    finally:
        browser.close()
    assert callback.code, callback.params
    assert callback.params["iss"] == auth.public_url
    exchanged = flow.exchange_code(http, auth.public_url + "/token", request, callback.code)
    assert exchanged.status_code == 200, exchanged.text
    return {**exchanged.json(), "client_id": registered["client_id"]}


def introspect(auth: EntrypointServer, token: str, credentials=(RS_CLIENT_ID, RS_CLIENT_SECRET)) -> httpx2.Response:
    return httpx2.post(
        auth.public_url + "/introspect",
        data={"token": token},
        auth=httpx2.BasicAuth(*credentials) if credentials else None,
        timeout=30,
    )


def test_discovery_leads_from_the_mcp_server_to_the_authorization_server(split, http: httpx2.Client) -> None:
    auth, resource = split
    challenge = http.post(resource.public_url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert challenge.status_code == 401
    prm_url = resource.public_url + "/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{prm_url}"' in challenge.headers["www-authenticate"]

    prm = http.get(prm_url)
    assert prm.status_code == 200
    assert prm.json()["resource"] == resource.public_url + "/mcp"
    assert prm.json()["authorization_servers"] == [auth.public_url]

    asm = http.get(auth.public_url + "/.well-known/oauth-authorization-server")
    assert asm.status_code == 200
    assert asm.json()["issuer"] == auth.public_url
    assert asm.json()["token_endpoint"] == auth.public_url + "/token"
    assert "introspection_endpoint" not in asm.json()  # for our own resource servers, not advertised


def test_a_token_from_the_authorization_server_works_at_the_mcp_server(split, http: httpx2.Client) -> None:
    auth, resource = split
    tokens = obtain_tokens(auth, resource, http, "mcp:read mcp:write")
    access = tokens["access_token"]

    whoami = mcp_calls.call(http, resource.mcp_url, access, "tools/call", {"name": "whoami", "arguments": {}})
    assert whoami.status == 200, whoami.message
    assert whoami.result["structuredContent"] == {
        "user": DEMO_USERNAME,
        "client_id": tokens["client_id"],
        "scopes": ["mcp:read", "mcp:write"],
    }
    created = mcp_calls.call(
        http,
        resource.mcp_url,
        access,
        "tools/call",
        {"name": "create_note", "arguments": {"title": "Kept by the MCP server"}},
        version=mcp_calls.MODERN,
    )
    assert created.status == 200, created.message

    # The MCP server keeps its data in its own database, with its own record of the user;
    # the authorization server's database holds no note at all.
    assert resource.database.execute("SELECT title FROM notes_note") == [("Kept by the MCP server",)]
    assert auth.database.execute("SELECT COUNT(*) FROM notes_note") == [(0,)]
    (password,) = resource.database.execute("SELECT password FROM auth_user WHERE username = %s", (DEMO_USERNAME,))[0]
    assert password.startswith("!")  # unusable: nobody signs in at the MCP server
    # ... and no token table to look in.
    assert resource.database.execute("SELECT COUNT(*) FROM oauth2_provider_accesstoken") == [(0,)]


def test_a_revoked_token_is_refused_once_the_cache_expires(split, http: httpx2.Client) -> None:
    auth, resource = split
    tokens = obtain_tokens(auth, resource, http, "mcp:read")
    access = tokens["access_token"]
    accepted = mcp_calls.call(http, resource.mcp_url, access, "tools/call", {"name": "whoami", "arguments": {}})
    assert accepted.status == 200

    revoked = http.post(
        auth.public_url + "/revoke",
        data={"token": access, "token_type_hint": "access_token", "client_id": tokens["client_id"]},
    )
    assert revoked.status_code == 200
    assert introspect(auth, access).json() == {"active": False}

    time.sleep(CACHE_SECONDS + 0.5)
    for _ in range(4):  # whichever worker answers, its cached answer has expired
        refused = mcp_calls.call(http, resource.mcp_url, access, "tools/call", {"name": "whoami", "arguments": {}})
        assert refused.status == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_introspection_answers_only_the_resource_servers_own_client(split, http: httpx2.Client) -> None:
    auth, resource = split
    tokens = obtain_tokens(auth, resource, http, "mcp:read")
    access = tokens["access_token"]

    answer = introspect(auth, access)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    claims = answer.json()
    assert claims.keys() == {
        "active",
        "scope",
        "client_id",
        "username",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "token_type",
    }
    assert claims["active"] is True
    assert claims["aud"] == [resource.public_url + "/mcp"]
    assert claims["iss"] == auth.public_url
    assert (claims["username"], claims["client_id"], claims["scope"]) == (
        DEMO_USERNAME,
        tokens["client_id"],
        "mcp:read",
    )
    assert claims["token_type"] == "Bearer"
    assert claims["exp"] > time.time()

    # Anyone else is turned away, whatever the token: no credentials, a wrong secret, another
    # confidential client (self-registered in a second), or a bearer token.
    other = flow.register(
        http,
        auth.public_url + "/register",
        {
            "client_name": "Curious",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    assert other["client_secret"]
    for refused in (
        introspect(auth, access, credentials=None),
        introspect(auth, access, credentials=(RS_CLIENT_ID, "wrong-secret")),
        introspect(auth, access, credentials=(other["client_id"], other["client_secret"])),
        httpx2.post(
            auth.public_url + "/introspect",
            data={"token": access},
            headers={"Authorization": f"Bearer {access}"},
            timeout=30,
        ),
    ):
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_client"
        assert refused.headers["www-authenticate"] == 'Basic realm="introspection"'

    assert introspect(auth, "not-a-token").json() == {"active": False}
    assert httpx2.get(auth.public_url + "/introspect", timeout=30).status_code == 405
    missing = httpx2.post(
        auth.public_url + "/introspect", auth=httpx2.BasicAuth(RS_CLIENT_ID, RS_CLIENT_SECRET), timeout=30
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


def test_each_role_answers_only_its_own_paths(split, http: httpx2.Client) -> None:
    auth, resource = split
    for method, path in (
        ("GET", "/.well-known/oauth-authorization-server"),
        ("GET", "/authorize"),
        ("POST", "/token"),
        ("POST", "/register"),
        ("POST", "/introspect"),
        ("GET", "/accounts/login/"),
        ("GET", "/admin/"),
    ):
        assert http.request(method, resource.public_url + path).status_code == 404, path
    for method, path in (("POST", "/mcp"), ("GET", "/.well-known/oauth-protected-resource/mcp")):
        assert http.request(method, auth.public_url + path).status_code == 404, path
    for server in split:
        assert http.get(server.public_url + "/readyz").json() == {"status": "ready", "database": "ok"}

    # The authorization server serves exactly one resource: the MCP server's endpoint.
    registered = flow.register(
        http,
        auth.public_url + "/register",
        {"client_name": "Lost", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
    )
    request = flow.AuthorizationRequest(registered["client_id"], REDIRECT_URI, "mcp:read", auth.public_url + "/mcp")
    browser = flow.Browser(auth.public_url, DEMO_USERNAME, DEMO_PASSWORD)
    try:
        callback = browser.authorize(request.url(auth.public_url + "/authorize"))
    finally:
        browser.close()
    assert callback.error == "invalid_target"
