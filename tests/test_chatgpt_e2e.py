"""ChatGPT's way in, against real gunicorn servers: a URL client id whose metadata document
declares private_key_jwt, the user's sign-in and consent in the browser, the code exchanged with
a signed client assertion, a refresh with a new one, then MCP calls; with an RS256 key published
at a jwks_uri, an ES256 one, and an inline jwks. And the replay store shared by every worker and
replica: one assertion wins once, whichever process sees it.

The web servers hosting the document and the JWKS are the one thing outside the machine: they are
stood in for through the server's document fetcher (CIMD_FETCHER, tests/support/cimd_stub.py).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import httpx2
import pytest

from democlient import flow, mcp_calls
from tests.conftest import publish_cimd_document
from tests.support.server import DEMO_PASSWORD, DEMO_USERNAME, LiveServer
from tests.support.signing import ClientKey, assertion_fields

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def replica(stack: LiveServer) -> Iterator[LiveServer]:
    """A second server process tree on the stack's database: another replica of the same deployment
    (same public URL, so the same issuer; same stand-in for the document web servers)."""
    server = LiveServer(
        name="replica",
        database_url=stack.database_url,
        env={"PUBLIC_URL": stack.url, "CIMD_STUB_DOCUMENTS": stack.environment()["CIMD_STUB_DOCUMENTS"]},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def chatgpt_document(client_id: str, callback: str, key: ClientKey, jwks_uri: str | None) -> dict:
    """Shaped like ChatGPT's client metadata document (private_key_jwt with RS256 and a jwks_uri, as
    public reports show it: engram-app/Engram#1637)."""
    document = {
        "client_id": client_id,
        "client_uri": "https://chatgpt.example/",
        "redirect_uris": [callback],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "ChatGPT",
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": key.algorithm,
    }
    if jwks_uri:
        document["jwks_uri"] = jwks_uri
    else:
        document["jwks"] = key.jwks()
    return document


class ChatGPT:
    """What ChatGPT does with this server, step by step, over HTTP."""

    def __init__(self, server: LiveServer, http: httpx2.Client, key: ClientKey, inline_jwks: bool = False) -> None:
        app = secrets.token_hex(4)
        self.server, self.http, self.key = server, http, key
        self.client_id = f"https://chatgpt.example/oauth/{app}/client.json"
        self.callback = f"https://chatgpt.example/connector/oauth/{app}"
        jwks_uri = None if inline_jwks else f"https://chatgpt.example/oauth/{app}/jwks.json"
        if jwks_uri:
            publish_cimd_document(server, jwks_uri, key.jwks())
        publish_cimd_document(server, self.client_id, chatgpt_document(self.client_id, self.callback, key, jwks_uri))
        self.asm = http.get(server.url + "/.well-known/oauth-authorization-server").json()

    def signed(self, audience: str | None = None) -> dict[str, str]:
        return assertion_fields(self.key.assertion(self.client_id, audience or self.asm["issuer"]))

    def authorize(self) -> tuple[flow.AuthorizationRequest, str]:
        request = flow.AuthorizationRequest(self.client_id, self.callback, "mcp:read", self.server.mcp_url)
        browser = flow.Browser(self.server.url, DEMO_USERNAME, DEMO_PASSWORD)
        try:
            callback = browser.authorize(request.url(self.asm["authorization_endpoint"]))
            assert [what for what, _url in browser.pages] == ["login", "consent"]
        finally:
            browser.close()
        assert callback.url.startswith(self.callback + "?") and callback.code, callback.params
        assert callback.params["iss"] == self.asm["issuer"]
        return request, callback.code


@pytest.mark.parametrize(
    ("algorithm", "inline_jwks"),
    [("RS256", False), ("ES256", False), ("RS256", True)],
    ids=["rs256-jwks-uri", "es256-jwks-uri", "inline-jwks"],
)
def test_chatgpt_connects_with_a_signed_url_client_id(stack, http, algorithm: str, inline_jwks: bool) -> None:
    chatgpt = ChatGPT(stack, http, ClientKey(algorithm), inline_jwks=inline_jwks)
    asm = chatgpt.asm
    assert "private_key_jwt" in asm["token_endpoint_auth_methods_supported"]
    assert algorithm in asm["token_endpoint_auth_signing_alg_values_supported"]
    assert asm["client_id_metadata_document_supported"] is True
    challenge = http.post(stack.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert challenge.status_code == 401 and "offline_access" not in challenge.headers["www-authenticate"]

    request, code = chatgpt.authorize()
    exchanged = flow.exchange_code(http, asm["token_endpoint"], request, code, authentication=chatgpt.signed())
    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    assert tokens["scope"] == "mcp:read" and tokens["refresh_token"]

    refreshed = flow.refresh(
        http,
        asm["token_endpoint"],
        chatgpt.client_id,
        tokens["refresh_token"],
        resource=stack.mcp_url,
        authentication=chatgpt.signed(asm["token_endpoint"]),
    )
    assert refreshed.status_code == 200, refreshed.text
    access = refreshed.json()["access_token"]
    assert access != tokens["access_token"]

    reply = mcp_calls.call(http, stack.mcp_url, access, "tools/call", {"name": "whoami", "arguments": {}})
    assert reply.status == 200, reply.response.text if reply.response else reply
    assert reply.result["structuredContent"]["user"] == DEMO_USERNAME
    # The first access token went with the rotation.
    stale = mcp_calls.call(
        http, stack.mcp_url, tokens["access_token"], "tools/call", {"name": "whoami", "arguments": {}}
    )
    assert stale.status == 401


def test_without_its_signature_chatgpt_gets_no_token(stack, http) -> None:
    chatgpt = ChatGPT(stack, http, ClientKey("RS256"))
    request, code = chatgpt.authorize()
    unsigned = flow.exchange_code(http, chatgpt.asm["token_endpoint"], request, code)
    assert unsigned.status_code == 401
    assert unsigned.json()["error"] == "invalid_client"
    assert "private_key_jwt" in unsigned.json()["error_description"]
    impostor = ClientKey("RS256", kid=chatgpt.key.kid)  # another key under ChatGPT's key id
    forged_assertion = assertion_fields(impostor.assertion(chatgpt.client_id, stack.url))
    forged = flow.exchange_code(http, chatgpt.asm["token_endpoint"], request, code, authentication=forged_assertion)
    assert forged.status_code == 401 and "signature does not verify" in forged.json()["error_description"]


def test_an_assertion_is_used_once_across_workers_and_replicas(stack, replica, http) -> None:
    chatgpt = ChatGPT(stack, http, ClientKey("RS256"))
    request, code = chatgpt.authorize()
    # Redeemed through the replica (another process tree on the same database).
    assertion = chatgpt.signed()
    first = flow.exchange_code(http, replica.url + "/token", request, code, authentication=assertion)
    assert first.status_code == 200, first.text
    # The same assertion again, at the other replica: its jti is already recorded.
    replayed = flow.refresh(
        http, stack.url + "/token", chatgpt.client_id, first.json()["refresh_token"], authentication=assertion
    )
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_client"
    assert "used before" in replayed.json()["error_description"]

    # One fresh assertion sent at once to both workers of one server and to the replica: one wins.
    refresh_token = first.json()["refresh_token"]
    burst = chatgpt.signed()
    answers: list[httpx2.Response] = []

    def send(url: str) -> None:
        with httpx2.Client(timeout=30) as client:
            answers.append(flow.refresh(client, url, chatgpt.client_id, refresh_token, authentication=burst))

    threads = [threading.Thread(target=send, args=(url + "/token",)) for url in [stack.url] * 4 + [replica.url] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 6
    assert sorted(answer.status_code for answer in answers) == [200, 401, 401, 401, 401, 401], [
        (answer.status_code, answer.text) for answer in answers
    ]
    assert all("used before" in a.json()["error_description"] for a in answers if a.status_code == 401)
