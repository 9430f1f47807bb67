"""Who may call `/mcp`, and what they hear when they may not: the bearer gate against a live
server, with real tokens from the OAuth flow (a token's row is edited only to let time pass or to
simulate what another issuer would have bound it to)."""

from __future__ import annotations

import hashlib
import json
import time

import httpx2
import pytest

from democlient import mcp_calls
from tests.support.server import OTHER_PASSWORD, OTHER_USERNAME, LiveServer

pytestmark = pytest.mark.e2e

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def prm_url(server: LiveServer) -> str:
    return server.url + "/.well-known/oauth-protected-resource/mcp"


def invalid_token_challenge(server: LiveServer, description: str) -> str:
    return (
        f'Bearer error="invalid_token", error_description="{description}", '
        f'resource_metadata="{prm_url(server)}", scope="mcp:read"'
    )


def checksum(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def post(http: httpx2.Client, server: LiveServer, token: str | None, body=PING, **headers: str) -> httpx2.Response:
    sent = dict(JSON_HEADERS)
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers)
    return http.post(server.mcp_url, headers=sent, content=json.dumps(body) if not isinstance(body, bytes) else body)


@pytest.fixture(scope="module")
def read_token(stack: LiveServer) -> dict:
    from tests.conftest import TokenKit

    with httpx2.Client(timeout=30) as http:
        return TokenKit(stack, http).tokens("mcp:read")


def test_no_token_gets_401_without_an_error_code(stack: LiveServer, http: httpx2.Client) -> None:
    response = post(http, stack, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer resource_metadata="{prm_url(stack)}", scope="mcp:read"'
    assert response.json() == {"error": "invalid_request", "error_description": "Authorization required"}


def test_unknown_token_gets_401_invalid_token(stack: LiveServer, http: httpx2.Client) -> None:
    response = post(http, stack, "not-a-token-we-issued")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == invalid_token_challenge(
        stack, "The access token is unknown or revoked"
    )
    assert response.json()["error"] == "invalid_token"


def test_non_bearer_authorization_gets_401_invalid_token(stack: LiveServer, http: httpx2.Client) -> None:
    response = http.post(stack.mcp_url, headers={**JSON_HEADERS, "Authorization": "Basic dXNlcjpwYXNz"}, json=PING)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == invalid_token_challenge(
        stack, "The Authorization header is malformed"
    )


def test_token_in_the_query_string_is_not_accepted(stack: LiveServer, http: httpx2.Client, read_token) -> None:
    response = http.post(stack.mcp_url + "?access_token=" + read_token["access_token"], headers=JSON_HEADERS, json=PING)
    assert response.status_code == 401
    assert "error=" not in response.headers["www-authenticate"]


def test_valid_token_reaches_the_tools_with_its_user_client_and_scopes(
    stack: LiveServer, http: httpx2.Client, read_token
) -> None:
    reply = mcp_calls.call(
        http, stack.mcp_url, read_token["access_token"], "tools/call", {"name": "whoami", "arguments": {}}
    )
    assert reply.status == 200
    assert reply.result["structuredContent"] == {
        "user": "demo",
        "client_id": read_token["client_id"],
        "scopes": ["mcp:read"],
    }


@pytest.mark.parametrize("version", [mcp_calls.LEGACY, mcp_calls.MODERN])
def test_read_only_token_calling_a_write_tool_gets_403_with_the_scope_to_ask_for(
    stack: LiveServer, http: httpx2.Client, read_token, version: str
) -> None:
    reply = mcp_calls.call(
        http,
        stack.mcp_url,
        read_token["access_token"],
        "tools/call",
        {"name": "create_note", "arguments": {"title": "should not exist"}},
        version=version,
    )
    assert reply.status == 403
    assert reply.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", error_description="create_note requires the scope mcp:write", '
        f'resource_metadata="{prm_url(stack)}", scope="mcp:read mcp:write"'
    )


def test_step_up_token_with_write_scope_may_write(stack: LiveServer, http: httpx2.Client, tokens) -> None:
    granted = tokens.tokens("mcp:read mcp:write")
    reply = mcp_calls.call(
        http,
        stack.mcp_url,
        granted["access_token"],
        "tools/call",
        {"name": "create_note", "arguments": {"title": "Step-up works", "body": "written with mcp:write"}},
    )
    assert reply.status == 200
    assert reply.result["isError"] is False
    assert reply.result["structuredContent"]["title"] == "Step-up works"


def test_expired_token_gets_401(stack: LiveServer, http: httpx2.Client, tokens) -> None:
    token = tokens.tokens("mcp:read")["access_token"]
    assert post(http, stack, token).status_code == 200
    stack.execute(
        "UPDATE oauth2_provider_accesstoken SET expires = %s WHERE token_checksum = %s",
        ("2020-01-01 00:00:00", checksum(token)),
    )
    # On PostgreSQL a worker that cached the token hears of the change by NOTIFY, a moment after
    # the commit (tests/test_revocations.py measures how long): a request sent in that moment may
    # still be answered from the cache.
    deadline = time.monotonic() + 2
    response = post(http, stack, token)
    while response.status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.01)
        response = post(http, stack, token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == invalid_token_challenge(stack, "The access token has expired")


@pytest.mark.parametrize(
    ("resource", "description"),
    [
        ('["https://other.example/mcp"]', "The access token was not issued for {mcp_url}"),
        ("[]", "The access token was not issued for {mcp_url}"),
    ],
    ids=["another-resource", "unbound"],
)
def test_token_not_bound_to_this_resource_gets_401(
    stack: LiveServer, http: httpx2.Client, tokens, resource: str, description: str
) -> None:
    token = tokens.tokens("mcp:read")["access_token"]
    stack.execute(
        "UPDATE oauth2_provider_accesstoken SET resource = %s WHERE token_checksum = %s", (resource, checksum(token))
    )
    response = post(http, stack, token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == invalid_token_challenge(
        stack, description.format(mcp_url=stack.mcp_url)
    )


def test_revoked_token_gets_401(stack: LiveServer, http: httpx2.Client, tokens) -> None:
    granted = tokens.tokens("mcp:read")
    assert post(http, stack, granted["access_token"]).status_code == 200
    revoked = http.post(
        stack.url + "/revoke", data={"token": granted["access_token"], "client_id": granted["client_id"]}
    )
    assert revoked.status_code == 200
    response = post(http, stack, granted["access_token"])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == invalid_token_challenge(
        stack, "The access token is unknown or revoked"
    )


def test_registration_access_token_is_not_an_mcp_token(stack: LiveServer, http: httpx2.Client, tokens) -> None:
    registration = tokens.register()
    response = post(http, stack, registration["registration_access_token"])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == invalid_token_challenge(
        stack, f"The access token was not issued for {stack.mcp_url}"
    )


def test_token_of_a_disabled_client_gets_401(stack: LiveServer, http: httpx2.Client, tokens) -> None:
    granted = tokens.tokens("mcp:read")
    stack.execute("UPDATE authserver_client SET is_enabled = %s WHERE client_id = %s", (False, granted["client_id"]))
    response = post(http, stack, granted["access_token"])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == invalid_token_challenge(
        stack, "The client of this access token is disabled"
    )


def test_foreign_origin_gets_403_before_anything_else(stack: LiveServer, http: httpx2.Client, read_token) -> None:
    response = post(http, stack, read_token["access_token"], Origin="https://evil.example")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Invalid Origin header"  # as a JSON-RPC error (issue 7)
    without_token = post(http, stack, None, Origin="https://evil.example")
    assert without_token.status_code == 403


def test_foreign_host_gets_421(stack: LiveServer, http: httpx2.Client, read_token) -> None:
    response = post(http, stack, read_token["access_token"], Host="evil.example:80")
    assert response.status_code == 421


def test_loopback_browser_origin_is_allowed_with_cors(stack: LiveServer, http: httpx2.Client, read_token) -> None:
    origin = "http://localhost:6274"  # MCP Inspector's default
    preflight = http.options(
        stack.mcp_url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    response = post(http, stack, None, Origin=origin)
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == origin
    assert "WWW-Authenticate" in response.headers["access-control-expose-headers"]


def test_unsupported_protocol_version_gets_400(stack: LiveServer, http: httpx2.Client, read_token) -> None:
    envelope = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "server/discover",
        "params": {
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "1999-01-01",
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        },
    }
    response = post(
        http,
        stack,
        read_token["access_token"],
        body=envelope,
        **{"MCP-Protocol-Version": "1999-01-01", "Mcp-Method": "server/discover"},
    )
    assert response.status_code == 400
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {
            "code": -32022,
            "message": "Unsupported protocol version",
            "data": {"supported": ["2026-07-28"], "requested": "1999-01-01"},
        },
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, -32700),
        (b"[" * 5000 + b"]" * 5000, 400, -32700),
        (b'{"jsonrpc": "2.0", "id": 1}', 400, -32602),
        (b'"just a string"', 400, -32602),
    ],
    ids=["not-json", "deeply-nested", "no-method", "not-an-object"],
)
def test_malformed_json_rpc_gets_a_json_rpc_error_not_a_500(
    stack: LiveServer, http: httpx2.Client, read_token, body: bytes, status: int, code: int
) -> None:
    response = post(http, stack, read_token["access_token"], body=body, **{"MCP-Protocol-Version": "2025-11-25"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_oversized_body_gets_413(stack: LiveServer, http: httpx2.Client, read_token) -> None:
    huge = json.dumps({**PING, "params": {"pad": "x" * (2 * 1024 * 1024)}})
    response = post(http, stack, read_token["access_token"], body=huge.encode())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32600


def test_get_in_stateless_mode_is_405(stack: LiveServer, http: httpx2.Client, read_token) -> None:
    response = http.get(
        stack.mcp_url, headers={"Authorization": f"Bearer {read_token['access_token']}", "Accept": "text/event-stream"}
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"


def test_each_user_sees_only_their_own_notes(stack: LiveServer, http: httpx2.Client, tokens) -> None:
    mine = tokens.tokens("mcp:read mcp:write")
    theirs = tokens.tokens("mcp:read mcp:write", username=OTHER_USERNAME, password=OTHER_PASSWORD)
    created = mcp_calls.call(
        http,
        stack.mcp_url,
        mine["access_token"],
        "tools/call",
        {"name": "create_note", "arguments": {"title": "Private to demo", "body": "secret plans"}},
    )
    note_id = created.result["structuredContent"]["id"]

    search = mcp_calls.call(
        http,
        stack.mcp_url,
        theirs["access_token"],
        "tools/call",
        {"name": "search_notes", "arguments": {"query": "secret plans"}},
    )
    assert search.result["structuredContent"] == {"notes": [], "total": 0}
    read = mcp_calls.call(
        http,
        stack.mcp_url,
        theirs["access_token"],
        "tools/call",
        {"name": "get_note", "arguments": {"note_id": note_id}},
    )
    assert read.result["isError"] is True
    assert read.result["content"][0]["text"].endswith(f"Note {note_id} does not exist")
    resource = mcp_calls.call(
        http, stack.mcp_url, theirs["access_token"], "resources/read", {"uri": f"notes://{note_id}"}
    )
    assert resource.error is not None
    deleted = mcp_calls.call(
        http,
        stack.mcp_url,
        theirs["access_token"],
        "tools/call",
        {"name": "delete_note", "arguments": {"note_id": note_id}},
    )
    assert deleted.result["isError"] is True

    own = mcp_calls.call(http, stack.mcp_url, mine["access_token"], "resources/read", {"uri": f"notes://{note_id}"})
    assert own.result["contents"][0]["text"] == "# Private to demo\n\nsecret plans\n"
