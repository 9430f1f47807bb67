"""Test helpers for apps' MCP tools: call them as a client would, in-process.

`McpTestClient(user, scopes)` issues a real access token for `user` (django-oauth-toolkit's
models, bound to this server's MCP resource), builds the real `/mcp` application (the bearer gate,
then the SDK) and sends it JSON-RPC requests, so a test sees what a client sees: the 403 that
asks for a scope, the tool's structured result, its error message.

Queries of synchronous tools run on the server's database threads, which see only committed
rows: with pytest-django, use the `transactional_db` fixture (or `TransactionTestCase`).

A tool that asks the person (`ask_user`) is answered by `answer`, speaking 2026-07-28 as a client
does: each question the server returns goes to `answer`, and the call is retried with the answers
and the server's `requestState` until it completes (`rounds` keeps the questions).

    with McpTestClient(user, scopes=["crm:write"], protocol=MODERN,
                       answer=lambda question: {"action": "accept", "content": {"delete": True}}) as mcp:
        mcp.call_tool("crm_delete_contact", {"id": 1})

    def test_adding_needs_the_write_scope(transactional_db):
        user = User.objects.create_user("ada")
        with McpTestClient(user, scopes=["mcp:read"]) as mcp:
            with pytest.raises(InsufficientScope) as refused:
                mcp.call_tool("crm_add_contact", {"name": "Grace"})
        assert refused.value.scope == "crm:write"
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import Any

from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, set_token_value
from starlette.testclient import TestClient

from .db import close_thread_connections

LEGACY = "2025-11-25"  # initialize-based sessions (stateless here: no initialize needed)
MODERN = "2026-07-28"  # per-request `_meta` and the Mcp-Method / Mcp-Name headers
NAMED_BY = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
EVERY_CAPABILITY = {"elicitation": {"form": {}}, "sampling": {}, "roots": {}}
MAX_ROUNDS = 10


class InsufficientScope(Exception):
    """The server answered 403 insufficient_scope: the token lacks `scope` (a step-up is needed)."""

    def __init__(self, scope: str, description: str) -> None:
        super().__init__(description)
        self.scope = scope


class McpError(Exception):
    """A JSON-RPC error answer (e.g. an unknown tool, or invalid arguments)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ToolFailed(Exception):
    """The tool ran and reported an error (`isError`): the message the client shows."""


class McpTestClient:
    def __init__(
        self,
        user: Any,
        scopes: list[str] | tuple[str, ...] = ("mcp:read",),
        protocol: str = LEGACY,
        answer: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        capabilities: dict[str, Any] | None = None,
    ) -> None:
        """`protocol`: the revision to speak, LEGACY (2025-11-25) or MODERN (2026-07-28).
        `answer`: answers the server's questions on MODERN (an input request such as
        `{"method": "elicitation/create", "params": {...}}` in, the client's result out).
        `capabilities`: what the client declares on MODERN (default: elicitation, sampling and
        roots when it answers, nothing otherwise)."""
        self.user = user
        self.scopes = list(scopes)
        self.protocol = protocol
        self.answer = answer
        self.capabilities = capabilities if capabilities is not None else (EVERY_CAPABILITY if answer else {})
        self.rounds: list[dict[str, Any]] = []  # every input_required result, in order
        self.ids = itertools.count(1)
        self.http: TestClient | None = None
        self.token = ""

    def __enter__(self) -> McpTestClient:
        from .app import build_mcp_app

        self.token = issue_token(self.user, self.scopes)
        app, _server = build_mcp_app()
        self.http = TestClient(app, base_url=settings.PUBLIC_URL)
        self.http.__enter__()
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self.http is not None:
            self.http.__exit__(kind, error, trace)
        close_thread_connections()

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `result` of one JSON-RPC request; raises InsufficientScope or McpError."""
        assert self.http is not None, "use McpTestClient as a context manager"
        params = dict(params or {})
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": self.protocol,
        }
        if self.protocol == MODERN:
            headers["Mcp-Method"] = method
            if method in NAMED_BY:
                headers["Mcp-Name"] = str(params[NAMED_BY[method]])
            params["_meta"] = {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": self.capabilities,
            }
        body = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params}
        response = self.http.post(settings.MCP_PATH, content=json.dumps(body), headers=headers)
        if response.status_code == 403:
            answer = response.json()
            scope = answer["error_description"].rsplit(" ", 1)[-1]
            raise InsufficientScope(scope, answer["error_description"])
        if response.status_code != 200:
            raise McpError(response.status_code, response.text)
        message = last_message(response.text, response.headers.get("content-type", ""))
        if "error" in message:
            raise McpError(message["error"]["code"], message["error"]["message"])
        return message["result"]

    def answered(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The result of a request the server may answer with questions: each round's questions
        go to `answer` and the request is sent again with the answers, as a client does."""
        result = self.request(method, params)
        for _round in range(MAX_ROUNDS):
            if result.get("resultType") != "input_required" or self.answer is None:
                return result
            self.rounds.append(result)
            responses = {key: self.answer(question) for key, question in (result.get("inputRequests") or {}).items()}
            retry = {**params, "inputResponses": responses}
            if "requestState" in result:
                retry["requestState"] = result["requestState"]
            result = self.request(method, retry)
        raise AssertionError(f"still asking after {MAX_ROUNDS} rounds")

    def list_tools(self) -> list[dict[str, Any]]:
        return self.request("tools/list")["tools"]

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        """The tool's structured result (or its content, if it has none); ToolFailed on `isError`."""
        result = self.answered("tools/call", {"name": name, "arguments": arguments or {}})
        if result.get("isError"):
            raise ToolFailed(" ".join(item.get("text", "") for item in result["content"]))
        return result.get("structuredContent", result["content"])

    def read_resource(self, uri: str) -> list[dict[str, Any]]:
        return self.answered("resources/read", {"uri": uri})["contents"]

    def list_resources(self) -> list[dict[str, Any]]:
        return self.request("resources/list")["resources"]

    def get_prompt(self, name: str, arguments: dict[str, str] | None = None) -> list[dict[str, Any]]:
        return self.answered("prompts/get", {"name": name, "arguments": arguments or {}})["messages"]


def last_message(text: str, content_type: str) -> dict[str, Any]:
    """The JSON-RPC answer of a JSON body or of an event stream (its last `data:` event)."""
    if content_type.startswith("application/json"):
        return json.loads(text)
    events = [line[5:].strip() for line in text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return json.loads(events[-1])


def issue_token(user: Any, scopes: list[str]) -> str:
    """A live access token for `user` with `scopes`, bound to this server's MCP resource, as the
    authorization server would issue it (stored hashed)."""
    client = get_application_model().objects.create(
        name="MCP test client",
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1/callback",
    )
    raw = secrets.token_urlsafe(32)
    token = get_access_token_model()(
        user=user,
        application=client,
        scope=" ".join(scopes),
        resource=[settings.MCP_URL],
        expires=timezone.now() + timedelta(hours=1),
    )
    set_token_value(token, raw)
    token.save()
    return raw


@contextlib.contextmanager
def declarations_undone() -> Iterator[None]:
    """Tools, resources, prompts and scopes declared inside are forgotten afterwards (tests that
    declare their own; declare them before building an application)."""
    from common.scopes import registry as scopes

    from .registry import registry

    declarations, scope_snapshot = list(registry.declarations), scopes.snapshot()
    try:
        yield
    finally:
        registry.declarations[:] = declarations
        scopes.restore(scope_snapshot)
