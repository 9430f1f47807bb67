"""The MCP server on the official `mcp` SDK, built from the registry of declared tools, resources
and prompts (registry.py). Its name, title and instructions come from settings.

Each declared function reaches the SDK wrapped (`guarded`): the wrapper checks the declaration's
scope once more inside the SDK (the bearer gate has already answered 403 to a token without it;
this keeps a declaration's scope binding whatever path a call takes), and runs a synchronous
function on a database thread with Django's connection handling (db.run_sync), so the ORM works
in it as in a view.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import MCPServer, RequestStateSecurity
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_REQUEST,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    Resource,
    ResourceTemplateReference,
)

from . import identity
from .db import run_sync
from .registry import Declaration, Registry, registry, resolved_signature


class Server(MCPServer):
    """MCPServer whose `resources/list` also carries the resources of templates, per user."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resource_instances: list[tuple[str, Callable[[], Awaitable[list[Resource]]]]] = []

    async def list_resources(self) -> list[Resource]:
        listed = await super().list_resources()
        caller = identity.peek()
        for scope, provider in self.resource_instances:
            if caller is not None and caller.has_scope(scope):
                listed.extend(await provider())
        return listed


def request_state_keys() -> list[bytes]:
    """A key for sealing 2026-07-28 `requestState`, shared by every worker and replica."""
    return [hmac.new(settings.SECRET_KEY.encode(), b"mcp-request-state", hashlib.sha256).digest()]


def require(scope: str, label: str) -> None:
    caller = identity.peek()
    if caller is None or not caller.has_scope(scope):
        raise MCPError(code=INVALID_REQUEST, message=f"The {label} requires the scope {scope}")


async def call(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """Call an app's function: awaited if async, else on a database thread."""
    if is_coroutine_function(fn):
        return await fn(*args, **kwargs)
    return await run_sync(fn, *args, **kwargs)


def is_coroutine_function(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(inspect.unwrap(fn))


def guarded(declaration: Declaration) -> Callable[..., Awaitable[Any]]:
    """The declared function as the SDK is given it: async, scope-checked, described by the
    original's signature and resolved annotations."""
    fn, scope, label = declaration.fn, declaration.scope, declaration.label

    if is_coroutine_function(fn):

        @functools.wraps(fn)
        async def run(*args, **kwargs):
            require(scope, label)
            return await fn(*args, **kwargs)

    else:

        @functools.wraps(fn)
        async def run(*args, **kwargs):
            require(scope, label)
            return await run_sync(fn, *args, **kwargs)

    run.__signature__, run.__annotations__ = resolved_signature(fn)
    del run.__wrapped__  # the SDK must see the async wrapper, not unwrap to the original
    return run


def add(server: Server, declaration: Declaration) -> None:
    """Register one declaration with the SDK (raises what the SDK raises for a bad one)."""
    function = guarded(declaration)
    if declaration.kind == "tool":
        server.add_tool(function, name=declaration.name, **declaration.options)
        if declaration.input_schema is not None:
            # MCPServer derives input schemas from signatures and has no public way to give one;
            # this is the one place that sets it on the SDK's tool.
            server._tool_manager.get_tool(declaration.name).parameters = declaration.input_schema
    elif declaration.kind == "resource":
        server.resource(declaration.uri, name=declaration.name, **declaration.options)(function)
        if declaration.instances is not None:
            instances = declaration.instances
            server.resource_instances.append((declaration.scope, lambda: call(instances)))
    elif declaration.kind == "prompt":
        server.prompt(name=declaration.name, **declaration.options)(function)
    else:
        # Protocol methods MCPServer does not cover (e.g. logging/setLevel) go to its low-level
        # server, as the SDK's own conformance server registers them.
        scope, label, handler = declaration.scope, declaration.label, declaration.fn

        async def method(ctx, params):
            require(scope, label)
            return await call(handler, params)

        server._lowlevel_server.add_request_handler(declaration.name, declaration.params_type, method)


def new_server() -> Server:
    return Server(
        name=settings.MCP_SERVER_NAME,
        title=settings.MCP_SERVER_TITLE or None,
        version=settings.MCP_SERVER_VERSION,
        instructions=settings.MCP_SERVER_INSTRUCTIONS or None,
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


def build_server(source: Registry | None = None) -> Server:
    """A fresh MCP server with every declared capability (the SDK's session manager can run only
    once per instance, so tests build one per application)."""
    source = source or registry
    server = new_server()
    for declaration in source.declarations:
        add(server, declaration)
    completions = {
        (d.kind, d.uri or d.name): d for d in source.declarations if d.complete and d.kind in ("prompt", "resource")
    }

    @server.completion()
    async def complete(ref, argument: CompletionArgument, context: CompletionContext | None) -> Completion:
        if isinstance(ref, PromptReference):
            declaration = completions.get(("prompt", ref.name))
        elif isinstance(ref, ResourceTemplateReference):
            declaration = completions.get(("resource", ref.uri))
        else:
            declaration = None
        caller = identity.peek()
        suggest = declaration.complete.get(argument.name) if declaration else None
        if suggest is None or caller is None or not caller.has_scope(declaration.scope):
            return Completion(values=[])
        values = list(await call(suggest, argument.value or ""))[:100]
        return Completion(values=values, total=len(values), has_more=False)

    return server
