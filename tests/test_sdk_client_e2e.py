"""The official `mcp` SDK client, with its own OAuth client provider, against the live stack:
discovery from the 401, registration (self-registration or a URL client id), PKCE, the user's
login and consent (completed over HTTP by the test, as a browser would), the token, and an
authenticated session in each protocol generation."""

from __future__ import annotations

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from democlient import flow
from tests.conftest import REDIRECT_URI, publish_cimd_document
from tests.support.server import DEMO_PASSWORD, DEMO_USERNAME, LiveServer

pytestmark = pytest.mark.e2e

CIMD_URL = "https://client.example.test/mcp/client-metadata.json"


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class HeadlessUser:
    """Plays the user's browser: the SDK hands it the authorization URL, it logs in and consents."""

    def __init__(self, server: LiveServer) -> None:
        self.browser = flow.Browser(server.url, DEMO_USERNAME, DEMO_PASSWORD)
        self.authorization_urls: list[str] = []
        self.callback: flow.Callback | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        self.callback = await anyio.to_thread.run_sync(self.browser.authorize, authorization_url)

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.callback is not None and self.callback.code, self.callback
        return AuthorizationCodeResult(
            code=self.callback.code, state=self.callback.params.get("state"), iss=self.callback.params.get("iss")
        )


def sdk_oauth(
    server: LiveServer, user: HeadlessUser, storage: MemoryStorage, client_metadata_url: str | None = None
) -> OAuthClientProvider:
    """The SDK's own OAuth client, as a public client with a loopback redirect URI."""
    return OAuthClientProvider(
        server_url=server.mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name="SDK e2e client",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=user.redirect_handler,
        callback_handler=user.callback_handler,
        client_metadata_url=client_metadata_url,
    )


async def connect_and_use(server: LiveServer, mode: str, client_metadata_url: str | None = None) -> dict:
    user = HeadlessUser(server)
    storage = MemoryStorage()
    provider = sdk_oauth(server, user, storage, client_metadata_url)
    try:
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(server.mcp_url, http_client=http), mode=mode) as client,
        ):
            tools = await client.list_tools()
            whoami = await client.call_tool("whoami", {})
            resources = await client.list_resources()
            protocol = client.protocol_version
    finally:
        user.browser.close()
    return {
        "tools": sorted(tool.name for tool in tools.tools),
        "whoami": whoami.structured_content,
        "is_error": whoami.is_error,
        "resources": [str(r.uri) for r in resources.resources],
        "authorization_urls": user.authorization_urls,
        "client_id": storage.client_info.client_id if storage.client_info else None,
        "token": storage.tokens,
        "protocol": protocol,
    }


def test_self_registered_client_speaking_2025_11_25(stack: LiveServer) -> None:
    outcome = anyio.run(connect_and_use, stack, "legacy")

    assert len(outcome["authorization_urls"]) == 1
    authorize = outcome["authorization_urls"][0]
    assert authorize.startswith(stack.url + "/authorize?")
    assert "code_challenge_method=S256" in authorize
    assert f"resource={stack.mcp_url.replace(':', '%3A').replace('/', '%2F')}" in authorize
    assert outcome["protocol"] == "2025-11-25"
    assert outcome["client_id"] and not outcome["client_id"].startswith("https://")
    assert outcome["is_error"] is False
    assert outcome["whoami"]["user"] == DEMO_USERNAME
    assert outcome["whoami"]["client_id"] == outcome["client_id"]
    assert "mcp:read" in outcome["whoami"]["scopes"]
    assert {"whoami", "search_notes", "create_note", "delete_note", "get_note"} <= set(outcome["tools"])
    assert "notes://index" in outcome["resources"]
    assert outcome["token"].refresh_token


def test_url_client_id_speaking_2026_07_28(stack: LiveServer) -> None:
    publish_cimd_document(
        stack,
        CIMD_URL,
        {
            "client_id": CIMD_URL,
            "client_name": "SDK e2e client by URL",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
    )
    outcome = anyio.run(connect_and_use, stack, "2026-07-28", CIMD_URL)

    assert outcome["protocol"] == "2026-07-28"
    assert outcome["client_id"] == CIMD_URL
    assert "client_id=https%3A%2F%2Fclient.example.test" in outcome["authorization_urls"][0]
    assert outcome["is_error"] is False
    assert outcome["whoami"]["client_id"] == CIMD_URL
    assert outcome["whoami"]["user"] == DEMO_USERNAME
    assert {"whoami", "search_notes"} <= set(outcome["tools"])
