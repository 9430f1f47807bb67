"""The bearer gate in-process (mcpserver/gate.py, mcpserver/challenge.py): the gate driven as an
ASGI app in front of a stub MCP app, with tokens from the test database, so that its parsing and
scope decisions are checked without a live server (tests/test_gate_e2e.py checks the deployed
stack end to end)."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from starlette.middleware.cors import CORSMiddleware

from mcpserver import token_cache, token_lookup, verification
from mcpserver.challenge import FixedChallenge
from mcpserver.gate import BearerGate
from mcpserver.identity import current_user
from mcpserver.registry import registry, scope_rules
from tests.support.inprocess import close_database_threads
from tests.support.security_rows import make_client, make_token, make_user

HOST = settings.PUBLIC_HOST
PRM = f'resource_metadata="{settings.MCP_PROTECTED_RESOURCE_METADATA_URL}"'
JSON_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class StubMCP:
    """The MCP app behind the gate: answers 200 and records who it ran for and what it read."""

    name: str
    calls: list[dict] = field(default_factory=list)

    async def __call__(self, scope, receive, send) -> None:
        message = await receive() if scope["method"] == "POST" else {}
        caller = current_user()
        self.calls.append(
            {
                "body": message.get("body"),
                "user": caller.username,
                "client_id": caller.client_id,
                "scopes": sorted(caller.scopes),
            }
        )
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})


class Counted:
    """An ASGI app that counts the requests it was given."""

    def __init__(self, app) -> None:
        self.app, self.calls = app, 0
        self.no_token_answer = app.no_token_answer  # what FixedChallenge stores

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        await self.app(scope, receive, send)


def request(app, method: str = "POST", body: bytes = b"", headers: dict[str, str] | None = None, host=HOST) -> Answer:
    """One HTTP request through `app`, as uvicorn would hand it over."""
    raw = [(b"host", host.encode())] + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": method, "path": "/mcp", "headers": raw, "query_string": b""}
    scope |= {"scheme": "http", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000), "root_path": ""}
    events = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive():
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    headers_out = {k.decode(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], headers_out, b"".join(m.get("body", b"") for m in sent[1:]))


def rpc(method: str, **params) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


def bearer(token: str) -> dict[str, str]:
    return {**JSON_HEADERS, "authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(settings, transactional_db):
    """Token values by scope: a read-only and a read-write token of one user, looked up in the
    database on every request (no cache)."""
    settings.MCP_TOKEN_CACHE_SECONDS = 0
    token_cache.invalidate()
    user, client = make_user("gina"), make_client()
    yield {"read": make_token(user, client, scope="mcp:read"), "write": make_token(user, client), "client": client}
    token_lookup.close()
    close_database_threads()


@pytest.fixture
def apps() -> tuple[StubMCP, StubMCP]:
    return StubMCP("streaming"), StubMCP("json")


@pytest.fixture
def gate(apps) -> BearerGate:
    streaming, json_app = apps
    return BearerGate(streaming, verification.verify, scope_rules(), stateless=True, json_app=json_app)


def test_no_token_is_a_401_without_an_error_code(gate: BearerGate, apps) -> None:
    answer = request(gate, body=rpc("tools/list"), headers=JSON_HEADERS)
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == f'Bearer {PRM}, scope="mcp:read"'
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {"error": "invalid_request", "error_description": "Authorization required"}
    assert apps[0].calls == apps[1].calls == []


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Basic bm9wZTpub3Bl", "The Authorization header is malformed"),
        ("Bearer", "The Authorization header is malformed"),
        ("Bearer not-a-token-we-issued", "The access token is unknown or revoked"),
    ],
)
def test_a_bad_credential_is_a_401_invalid_token(gate: BearerGate, tokens, authorization: str, reason: str) -> None:
    answer = request(gate, body=rpc("tools/list"), headers={**JSON_HEADERS, "authorization": authorization})
    assert answer.status == 401
    assert answer.json() == {"error": "invalid_token", "error_description": reason}
    assert answer.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{reason}", {PRM}, scope="mcp:read"'
    )


def test_a_token_reaches_the_app_as_its_user_with_its_scopes(gate: BearerGate, apps, tokens) -> None:
    body = rpc("tools/call", name="whoami", arguments={})
    answer = request(gate, body=body, headers=bearer(tokens["read"]))
    assert answer.status == 200
    streaming, json_app = apps
    # whoami cannot send a notification: the app answering with one JSON body gets it, body intact.
    assert streaming.calls == []
    assert json_app.calls == [
        {"body": body, "user": "gina", "client_id": tokens["client"].client_id, "scopes": ["mcp:read"]}
    ]


def test_a_tool_that_may_stream_goes_to_the_streaming_app(gate: BearerGate, apps, tokens) -> None:
    streaming, json_app = apps
    progress_tools = [d.name for d in registry.of_kind("tool") if d.name not in gate.rules.quiet_tools]
    assert progress_tools, "no tool that takes a Context is registered"
    request(gate, body=rpc("tools/call", name=progress_tools[0], arguments={}), headers=bearer(tokens["write"]))
    request(
        gate,
        body=json.dumps([json.loads(rpc("ping")), json.loads(rpc("ping"))]).encode(),
        headers=bearer(tokens["read"]),
    )
    assert len(streaming.calls) == 2  # a batch of two is never "quiet"
    assert json_app.calls == []


def test_a_write_tool_with_a_read_token_is_a_403_naming_the_scope(gate: BearerGate, apps, tokens) -> None:
    answer = request(gate, body=rpc("tools/call", name="create_note", arguments={}), headers=bearer(tokens["read"]))
    assert answer.status == 403
    description = "create_note requires the scope mcp:write"
    assert answer.json() == {"error": "insufficient_scope", "error_description": description}
    assert answer.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", error_description="{description}", {PRM}, scope="mcp:read mcp:write"'
    )
    assert apps[0].calls == apps[1].calls == []
    ok = request(gate, body=rpc("tools/call", name="create_note", arguments={}), headers=bearer(tokens["write"]))
    assert ok.status == 200


def test_one_forbidden_call_in_a_batch_refuses_the_batch(gate: BearerGate, apps, tokens) -> None:
    batch = [json.loads(rpc("tools/list")), json.loads(rpc("tools/call", name="create_note", arguments={}))]
    answer = request(gate, body=json.dumps(batch).encode(), headers=bearer(tokens["read"]))
    assert answer.status == 403
    assert answer.json()["error_description"] == "create_note requires the scope mcp:write"


def test_the_2026_headers_name_the_tool_without_the_body(gate: BearerGate, tokens) -> None:
    modern = {**bearer(tokens["read"]), "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call"}
    # The body says whoami; the scope is decided by the headers (the SDK then holds the body to them).
    body = rpc("tools/call", name="whoami", arguments={})
    named = request(gate, body=body, headers={**modern, "mcp-name": " create_note "})  # whitespace is not the name
    assert named.status == 403
    assert named.json()["error_description"] == "create_note requires the scope mcp:write"
    wrapped = "=?base64?" + base64.b64encode(b"create_note").decode() + "?="
    assert request(gate, body=body, headers={**modern, "mcp-name": wrapped}).status == 403


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 400, -32700, "Parse error: the JSON is nested too deeply"),
        (b"x" * (1024 * 1024 + 1), 413, -32600, "The request body is too large"),
    ],
)
def test_a_body_the_gate_cannot_read_is_a_json_rpc_error(
    gate: BearerGate, settings, tokens, body: bytes, status: int, code: int, message: str
) -> None:
    settings.MCP_MAX_BODY_BYTES = 1024 * 1024
    answer = request(gate, body=body, headers=bearer(tokens["read"]))
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


def test_a_body_that_is_not_json_is_left_to_the_sdk(gate: BearerGate, apps, tokens) -> None:
    assert request(gate, body=b"{not json", headers=bearer(tokens["read"])).status == 200
    assert apps[0].calls[0]["body"] == b"{not json"


def test_an_oversized_header_section_is_a_431(gate: BearerGate, settings) -> None:
    answer = request(gate, body=rpc("ping"), headers={**JSON_HEADERS, "x-big": "a" * settings.REQUEST_MAX_HEADER_BYTES})
    assert answer.status == 431
    assert answer.json()["error"]["code"] == -32600


def test_a_foreign_host_or_origin_is_refused_whatever_it_carries(gate: BearerGate, tokens) -> None:
    assert request(gate, body=rpc("ping"), headers=bearer(tokens["read"]), host="evil.example").status == 421
    foreign = {**bearer(tokens["read"]), "origin": "https://evil.example"}
    answer = request(gate, body=rpc("ping"), headers=foreign)
    assert answer.status == 403
    assert answer.json()["jsonrpc"] == "2.0"  # the SDK's plain-text refusal, as a JSON-RPC error


def test_get_in_stateless_mode_is_a_405(gate: BearerGate, tokens) -> None:
    answer = request(gate, method="GET", headers=bearer(tokens["read"]))
    assert answer.status == 405
    assert answer.headers["allow"] == "POST, OPTIONS"
    assert answer.json() == {
        "error": "invalid_request",
        "error_description": "This server does not offer a GET stream; POST requests",
    }


def test_an_unreachable_database_is_a_503(apps) -> None:
    from mcpserver.db import DatabaseUnavailable

    async def unavailable(token: str):
        raise DatabaseUnavailable

    gate = BearerGate(apps[0], unavailable, scope_rules(), stateless=True)
    answer = request(gate, body=rpc("ping"), headers=bearer("any"))
    assert answer.status == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"] == "temporarily_unavailable"


def test_the_stored_401_is_what_the_gate_answers(gate: BearerGate, caplog) -> None:
    counted_gate, counted_cors = Counted(gate), Counted(gate)
    front = FixedChallenge(counted_gate, counted_cors)
    with caplog.at_level("INFO", logger="audit"):
        stored = request(front, body=rpc("tools/list"), headers=JSON_HEADERS)
        gated = request(gate, body=rpc("tools/list"), headers=JSON_HEADERS)
    assert counted_gate.calls == counted_cors.calls == 0  # the stored answer
    assert (stored.status, stored.headers, stored.body) == (gated.status, gated.headers, gated.body)
    events = [record.audit for record in caplog.records if hasattr(record, "audit")]
    assert events == [{"event": "mcp_unauthorized", "status": 401, "reason": "no token"}] * 2
    # A credential or a foreign Host goes to the gate, a browser's Origin to CORS (then the gate).
    request(front, body=rpc("ping"), headers={**JSON_HEADERS, "authorization": "Basic bm9wZQ=="})
    request(front, body=rpc("ping"), headers=JSON_HEADERS, host="evil.example")
    request(front, body=rpc("ping"), headers={**JSON_HEADERS, "origin": "http://127.0.0.1:8000"})
    assert (counted_gate.calls, counted_cors.calls) == (2, 1)


def test_a_browsers_401_leaves_the_stored_and_the_gates_answers_as_they_were(gate: BearerGate) -> None:
    """Starlette's CORS middleware adds its headers to the answer it passes on: they must reach
    that browser's answer only."""
    cors = CORSMiddleware(gate, allow_origin_regex=r"http://127\.0\.0\.1(:\d+)?", allow_methods=["POST"])
    front = FixedChallenge(gate, cors)
    stored_before = request(front, body=rpc("ping"), headers=JSON_HEADERS)
    gated_before = request(front, body=rpc("ping"), headers=JSON_HEADERS, host="localhost:8000")
    browser = request(front, body=rpc("ping"), headers={**JSON_HEADERS, "origin": "http://127.0.0.1:8000"})
    assert browser.status == 401
    assert browser.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    stored = request(front, body=rpc("ping"), headers=JSON_HEADERS)
    gated = request(front, body=rpc("ping"), headers=JSON_HEADERS, host="localhost:8000")
    assert "access-control-allow-origin" not in stored.headers
    assert (stored.headers, gated.headers) == (stored_before.headers, gated_before.headers)
