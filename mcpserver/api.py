"""The public API for putting an app's data behind MCP: the only module apps import.

In an app's `mcp_tools.py` (imported at start-up for every installed app, like `admin.py`):

    from mcpserver.api import current_user, declare_scope, mcp_resource, mcp_tool

    READ = declare_scope("crm:read", "See your contacts", default=True)
    WRITE = declare_scope("crm:write", "Add and change your contacts", implies=[READ])

    @mcp_tool(scope=READ, annotations=ToolAnnotations(read_only_hint=True))
    def find_contacts(name: str) -> list[ContactOut]:
        '''Find the user's contacts by name.'''
        return [...Contact.objects.filter(owner_id=current_user().id, name__icontains=name)...]

Rules (docs/extending.md explains each):
- Every tool, resource and prompt needs a scope; without `scope=` it is the baseline scope
  (`BASELINE_SCOPE`, which every MCP request needs anyway). A token without the scope gets HTTP
  403 `insufficient_scope` naming it, and the client asks the user again (step-up).
- A synchronous function runs on a database thread with Django's connection handling, so it may
  use the ORM as a view does; an async function runs on the event loop and reaches the ORM
  through `await run_sync(fn, ...)`.
- A function that takes a `Context` parameter (async only) may report progress and log while it
  runs, and its answer streams; one without answers with one JSON body.
- `current_user()` says whom the request acts for; `current_user().upstream_token()` is their
  token at the identity provider they signed in with, for calling its APIs (never for the
  client). Raise `ToolError` (or `ResourceError`) with a
  message for the user; any other exception reaches the client as a bare "Error executing tool".

Mistakes (an undeclared scope, two tools with one name, a URI template that does not parse) are
Django system check errors that name the file and the tool, and stop start-up.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.prompts.base import AssistantMessage, UserMessage
from mcp.types import EmbeddedResource, Resource, TextResourceContents, ToolAnnotations

from common.scopes import BASELINE as BASELINE_SCOPE
from common.scopes import registry as _scopes

from .db import run_sync
from .identity import CurrentUser, UpstreamToken, UpstreamTokenUnavailable, current_user
from .registry import Declaration, registry, where

__all__ = [
    "BASELINE_SCOPE",
    "AssistantMessage",
    "Context",
    "CurrentUser",
    "EmbeddedResource",
    "Resource",
    "ResourceError",
    "TextResourceContents",
    "ToolAnnotations",
    "ToolError",
    "UpstreamToken",
    "UpstreamTokenUnavailable",
    "UserMessage",
    "current_user",
    "declare_scope",
    "mcp_method",
    "mcp_prompt",
    "mcp_resource",
    "mcp_tool",
    "run_sync",
]

F = TypeVar("F", bound=Callable[..., Any])


def declare_scope(name: str, description: str, *, implies: Iterable[str] = (), default: bool = False) -> str:
    """Declare an OAuth scope once, with what the consent page says about it in plain words.

    `implies`: scopes a grant of this one includes (a write scope usually implies its read scope).
    `default`: the 401 challenge asks for it, and a client that asks for no scope gets it; for
    the read scope of an app whose tools a client should be able to use after the first sign-in.
    Returns the name, for `scope=`.
    """
    caller = inspect.currentframe().f_back
    place = f"{caller.f_code.co_filename}:{caller.f_lineno}" if caller else ""
    return _scopes.declare(name, description, implies=implies, default=default, where=_relative(place))


def _relative(place: str) -> str:
    from django.conf import settings

    base = str(settings.BASE_DIR) + "/"
    return place.removeprefix(base)


def mcp_tool(
    fn: F | None = None,
    *,
    scope: str = BASELINE_SCOPE,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    annotations: ToolAnnotations | None = None,
    structured_output: bool | None = None,
    input_schema: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> Any:
    """Declare a tool. Its input schema comes from the signature (or `input_schema`), its
    description from the docstring; `annotations` tell clients whether it changes data."""

    def declare(function: F) -> F:
        options = _given(title=title, description=description, annotations=annotations, meta=meta)
        if structured_output is not None:
            options["structured_output"] = structured_output
        registry.add(
            Declaration(
                "tool",
                name or function.__name__,
                scope,
                function,
                where(function),
                options=options,
                input_schema=input_schema,
            )
        )
        return function

    return declare(fn) if fn is not None else declare


def mcp_resource(
    uri: str,
    *,
    scope: str = BASELINE_SCOPE,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    mime_type: str | None = None,
    complete: dict[str, Callable[[str], Any]] | None = None,
    instances: Callable[[], Any] | None = None,
) -> Callable[[F], F]:
    """Declare a resource at `uri`, or a resource template (RFC 6570, e.g. `crm://contacts/{id}`,
    whose variables are the function's parameters).

    `complete`: argument name → a function of the typed prefix returning suggestions.
    `instances`: a function returning the template's resources of the current user (a list of
    `Resource`), listed by `resources/list`.
    """

    def declare(function: F) -> F:
        options = _given(title=title, description=description, mime_type=mime_type)
        registry.add(
            Declaration(
                "resource",
                name or function.__name__,
                scope,
                function,
                where(function),
                uri=uri,
                options=options,
                complete=dict(complete or {}),
                instances=instances,
            )
        )
        return function

    return declare


def mcp_prompt(
    fn: F | None = None,
    *,
    scope: str = BASELINE_SCOPE,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    complete: dict[str, Callable[[str], Any]] | None = None,
) -> Any:
    """Declare a prompt: a function returning its messages (a string, or `UserMessage`s)."""

    def declare(function: F) -> F:
        options = _given(title=title, description=description)
        registry.add(
            Declaration(
                "prompt",
                name or function.__name__,
                scope,
                function,
                where(function),
                options=options,
                complete=dict(complete or {}),
            )
        )
        return function

    return declare(fn) if fn is not None else declare


def mcp_method(method: str, params_type: type, *, scope: str = BASELINE_SCOPE) -> Callable[[F], F]:
    """Answer a protocol method the SDK's server does not cover (e.g. `logging/setLevel`): the
    function receives the request's params and returns its result."""

    def declare(function: F) -> F:
        registry.add(Declaration("method", method, scope, function, where(function), params_type=params_type))
        return function

    return declare


def _given(**options: Any) -> dict[str, Any]:
    return {key: value for key, value in options.items() if value is not None}
