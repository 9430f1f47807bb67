"""The whole discovery chain against a live server, as README.md shows it with curl."""

from __future__ import annotations

import httpx2
import pytest

from democlient import mcp_calls

pytestmark = pytest.mark.e2e


def test_discovery_chain_then_authenticated_call(stack, http: httpx2.Client, tokens) -> None:
    unauthenticated = http.post(stack.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert unauthenticated.status_code == 401
    prm_url = stack.url + "/.well-known/oauth-protected-resource/mcp"
    assert unauthenticated.headers["www-authenticate"] == f'Bearer resource_metadata="{prm_url}", scope="mcp:read"'

    prm = http.get(prm_url).json()
    assert prm["resource"] == stack.mcp_url
    issuer = prm["authorization_servers"][0]
    asm = http.get(issuer + "/.well-known/oauth-authorization-server").json()
    assert asm["issuer"] == issuer == stack.url

    granted = tokens.tokens("mcp:read")
    reply = mcp_calls.call(
        http, stack.mcp_url, granted["access_token"], "tools/call", {"name": "whoami", "arguments": {}}
    )
    assert reply.status == 200
    assert reply.result["structuredContent"]["user"] == "demo"
    assert reply.result["structuredContent"]["scopes"] == ["mcp:read"]
