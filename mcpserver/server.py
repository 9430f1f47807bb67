"""The MCP server (on the official `mcp` SDK) and the scope each of its capabilities needs.

Every tool, resource and prompt is registered together with the OAuth scope it requires, so the
bearer gate can answer 403 with the exact scope for a step-up, and the protected-resource
metadata can list `scopes_supported` from the same registry.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import MCPServer, RequestStateSecurity
from mcp.types import Completion, CompletionArgument, CompletionContext, PromptReference, ResourceTemplateReference

from . import scopes

SERVER_NAME = "notes-mcp"
SERVER_VERSION = "1.0.0"

CompletionProvider = Callable[[CompletionArgument, CompletionContext | None], Awaitable[list[str]]]


@dataclass
class Capabilities:
    """What the server offers, beyond the SDK's own registry: scopes and completions."""

    tool_scopes: dict[str, str] = field(default_factory=dict)
    prompt_scopes: dict[str, str] = field(default_factory=dict)
    completions: dict[tuple[str, str], CompletionProvider] = field(default_factory=dict)
    # Tools that never send a notification (progress, log) while they run: their answers need no
    # event stream and go out as one JSON body.
    quiet_tools: set[str] = field(default_factory=set)

    def require(self, kind: str, name: str, scope: str) -> None:
        if scope not in scopes.DESCRIPTIONS:
            raise ValueError(f"unknown scope {scope!r} for {kind} {name!r}")
        {"tool": self.tool_scopes, "prompt": self.prompt_scopes}[kind][name] = scope

    def scopes_needed(self, method: str | None, name: str | None) -> frozenset[str]:
        """The scopes a request needs: the baseline, plus the scope of the tool or prompt."""
        needed = {scopes.BASELINE}
        if method == "tools/call" and name in self.tool_scopes:
            needed.add(self.tool_scopes[name])
        elif method == "prompts/get" and name in self.prompt_scopes:
            needed.add(self.prompt_scopes[name])
        return frozenset(needed)

    def scopes_supported(self) -> list[str]:
        return sorted({scopes.BASELINE, *self.tool_scopes.values(), *self.prompt_scopes.values()})


@dataclass(frozen=True)
class Principal:
    """Who a request acts for, from the verified access token."""

    user_id: int
    username: str
    client_id: str
    scopes: frozenset[str]


def current_principal() -> Principal:
    """The verified user, client and scopes of the MCP request being handled."""
    token = get_access_token()
    if token is None or token.subject is None:
        # The bearer gate runs before every request, so this means a wiring mistake.
        raise PermissionError("no verified access token for this request")
    username = str((token.claims or {}).get("username") or "")
    return Principal(int(token.subject), username, token.client_id, scopes.effective_scopes(token.scopes))


class Server(MCPServer):
    """MCPServer whose `resources/list` also carries resources computed per user."""

    def __init__(self, *args, dynamic_resources=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dynamic_resources: list[Callable[[], Awaitable[list]]] = list(dynamic_resources or [])

    async def list_resources(self):
        listed = await super().list_resources()
        for provider in self.dynamic_resources:
            listed.extend(await provider())
        return listed


def request_state_keys() -> list[bytes]:
    """A key for sealing 2026-07-28 `requestState`, shared by every worker and replica."""
    return [hmac.new(settings.SECRET_KEY.encode(), b"mcp-request-state", hashlib.sha256).digest()]


def build_server() -> tuple[Server, Capabilities]:
    """A fresh MCP server with every capability registered (the SDK's session manager can run
    only once per instance, so tests build one per application)."""
    from . import notes

    capabilities = Capabilities()
    server = Server(
        name=SERVER_NAME,
        title="Notes",
        version=SERVER_VERSION,
        instructions="Search, read and write the signed-in user's notes.",
        website_url=settings.PUBLIC_URL,
        request_state_security=RequestStateSecurity(keys=request_state_keys()),
        cache_hints={
            "tools/list": CacheHint(ttl_ms=60_000, scope="public"),
            "prompts/list": CacheHint(ttl_ms=60_000, scope="public"),
            "resources/templates/list": CacheHint(ttl_ms=60_000, scope="public"),
            "server/discover": CacheHint(ttl_ms=60_000, scope="public"),
            "resources/list": CacheHint(ttl_ms=0, scope="private"),
            "resources/read": CacheHint(ttl_ms=0, scope="private"),
        },
        log_level="WARNING",
    )
    notes.register(server, capabilities)
    if settings.MCP_CONFORMANCE_FIXTURES:
        from . import fixtures

        fixtures.register(server, capabilities)

    @server.completion()
    async def complete(ref, argument: CompletionArgument, context: CompletionContext | None) -> Completion:
        if isinstance(ref, PromptReference):
            key = ("prompt", ref.name)
        elif isinstance(ref, ResourceTemplateReference):
            key = ("resource", ref.uri)
        else:
            return Completion(values=[])
        provider = capabilities.completions.get(key)
        values = (await provider(argument, context))[:100] if provider else []
        return Completion(values=values, total=len(values), has_more=False)

    return server, capabilities


@lru_cache(maxsize=1)
def capabilities() -> Capabilities:
    """The capability registry of this process (for metadata documents)."""
    return build_server()[1]
