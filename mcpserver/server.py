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
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import Context, MCPServer, RequestStateSecurity
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.context_injection import find_context_parameter
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
from .asking import REQUEST_STATE_TTL, answering
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
    original's signature and resolved annotations. An async tool or prompt may also ask the
    client (asking.py), and a tool with an input schema of its own has its arguments checked
    against it; both need the call's Context, which the SDK passes in a hidden parameter."""
    fn, scope, label = declaration.fn, declaration.scope, declaration.label
    signature, annotations = resolved_signature(fn)
    may_ask = declaration.kind in ASKING_KINDS and is_coroutine_function(fn)
    schema = argument_validator(declaration)

    if may_ask or schema is not None:
        context_name = find_context_parameter(fn)
        hidden = context_name is None
        if hidden:
            context_name = CONTEXT_PARAMETER
            signature, annotations = with_context_parameter(signature, annotations)

        @functools.wraps(fn)
        async def run(*args, **kwargs):
            require(scope, label)
            context = kwargs.pop(context_name) if hidden else kwargs[context_name]
            if schema is not None:
                check_arguments(schema, context)
            if may_ask:
                return await answering(context, fn, *args, **kwargs)
            return await call(fn, *args, **kwargs)

    elif is_coroutine_function(fn):

        @functools.wraps(fn)
        async def run(*args, **kwargs):
            require(scope, label)
            return await fn(*args, **kwargs)

    else:

        @functools.wraps(fn)
        async def run(*args, **kwargs):
            require(scope, label)
            return await run_sync(fn, *args, **kwargs)

    run.__signature__, run.__annotations__ = signature, annotations
    del run.__wrapped__  # the SDK must see the async wrapper, not unwrap to the original
    return run


# Kinds whose async functions may ask the client (the SDK passes both a Context and returns
# their InputRequiredResult; a resource template could too, but not a plain resource).
ASKING_KINDS = frozenset({"tool", "prompt"})
CONTEXT_PARAMETER = "mcpserver_context"  # not the function's: the SDK fills it, the wrapper drops it


def with_context_parameter(
    signature: inspect.Signature, annotations: dict[str, Any]
) -> tuple[inspect.Signature, dict[str, Any]]:
    parameters = list(signature.parameters.values())
    at = next((i for i, p in enumerate(parameters) if p.kind is inspect.Parameter.VAR_KEYWORD), len(parameters))
    parameters.insert(at, inspect.Parameter(CONTEXT_PARAMETER, inspect.Parameter.KEYWORD_ONLY, annotation=Context))
    return signature.replace(parameters=parameters), {**annotations, CONTEXT_PARAMETER: Context}


def argument_validator(declaration: Declaration) -> Any:
    """A JSON Schema validator of a tool's own input schema (None for a derived one, which the
    SDK checks through the signature)."""
    if declaration.kind != "tool" or declaration.input_schema is None:
        return None
    schema = declaration.input_schema
    return validator_for(schema, default=Draft202012Validator)(schema)


def check_arguments(validator: Any, context: Context) -> None:
    """Arguments a schema of the tool's own refuses are the caller's mistake, answered like the
    SDK answers arguments its derived schema refuses: a result marked isError."""
    params = context.request_context.params or {}
    arguments = params.get("arguments") or {}
    problem = best_match(validator.iter_errors(arguments))
    if problem is not None:
        where = "/".join(str(part) for part in problem.absolute_path)
        raise ToolError(f"Invalid arguments{' at ' + where if where else ''}: {problem.message}")


def sdk_tool(declaration: Declaration) -> Tool:
    """A tool as the SDK serves it (raises what the SDK raises for a bad one)."""
    tool = Tool.from_function(guarded(declaration), name=declaration.name, **declaration.options)
    if declaration.input_schema is not None:
        # The schema as written is what tools/list shows (keywords the derivation never produces,
        # such as allOf, if/then/else or $anchor, included). MCPServer takes a tool whose schema
        # is not derived from its signature only as a ready Tool, when it is constructed.
        tool = tool.model_copy(update={"parameters": declaration.input_schema})
    return tool


def add(server: Server, declaration: Declaration) -> None:
    """Register one resource, prompt or protocol method with the SDK (raises what the SDK raises
    for a bad one); tools are given to the server when it is built (`sdk_tool`)."""
    function = guarded(declaration)
    if declaration.kind == "resource":
        server.resource(declaration.uri, name=declaration.name, **declaration.options)(function)
        if declaration.instances is not None:
            instances = declaration.instances
            server.resource_instances.append((declaration.scope, lambda: call(instances)))
    elif declaration.kind == "prompt":
        server.prompt(name=declaration.name, **declaration.options)(function)
    elif declaration.kind == "method":
        # Protocol methods MCPServer does not cover (e.g. logging/setLevel) go to its low-level
        # server, as the SDK's own conformance server registers them.
        scope, label, handler = declaration.scope, declaration.label, declaration.fn

        async def method(ctx, params):
            require(scope, label)
            return await call(handler, params)

        server._lowlevel_server.add_request_handler(declaration.name, declaration.params_type, method)
    else:
        raise ValueError(f"the {declaration.label} is given to the server when it is built")


def new_server(tools: list[Tool] | None = None) -> Server:
    return Server(
        tools=tools,
        name=settings.MCP_SERVER_NAME,
        title=settings.MCP_SERVER_TITLE or None,
        version=settings.MCP_SERVER_VERSION,
        instructions=settings.MCP_SERVER_INSTRUCTIONS or None,
        website_url=settings.PUBLIC_URL,
        request_state_security=RequestStateSecurity(keys=request_state_keys(), ttl=REQUEST_STATE_TTL),
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
    server = new_server(tools=[sdk_tool(d) for d in source.of_kind("tool")])
    for declaration in source.declarations:
        if declaration.kind != "tool":
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
