"""The registry of what the MCP server offers: every tool, resource and prompt declared through
the public API (mcpserver/api.py), each with the scope it needs and the place it was declared.

It is filled while Django loads the apps (each installed app's `mcp_tools.py`, mcpserver/apps.py)
and read by everything that needs to know: the MCP server built on the SDK (server.py), the bearer
gate's per-request scope rules (`ScopeRules`), the system checks (checks.py) and the client docs.
"""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from mcp.server.mcpserver.utilities.context_injection import find_context_parameter
from mcp.shared.inbound import NAME_BEARING_METHODS, find_invalid_x_mcp_header
from mcp.shared.uri_template import InvalidUriTemplate, UriTemplate

from common.scopes import BASELINE, Problem
from common.scopes import registry as scopes

Kind = Literal["tool", "resource", "prompt", "method"]

# The JSON-RPC method that names each kind in its `name` (or `uri`) parameter.
CALLS: dict[Kind, str] = {"tool": "tools/call", "resource": "resources/read", "prompt": "prompts/get"}


def where(fn: Callable[..., Any]) -> str:
    """`path:line` of a function, relative to the project when it lives there."""
    fn = inspect.unwrap(fn)
    try:
        path = Path(inspect.getsourcefile(fn) or "?")
        line = fn.__code__.co_firstlineno
    except (TypeError, AttributeError):
        return repr(fn)
    with contextlib.suppress(ValueError):
        path = path.resolve().relative_to(settings.BASE_DIR)
    return f"{path}:{line}"


@dataclass
class Declaration:
    """One tool, resource (or resource template), prompt or protocol method, as an app declared it."""

    kind: Kind
    name: str
    scope: str
    fn: Callable[..., Any]
    where: str
    uri: str | None = None  # resources
    options: dict[str, Any] = field(default_factory=dict)  # passed on to the SDK (title, annotations…)
    complete: dict[str, Callable[..., Any]] = field(default_factory=dict)  # argument → suggestions
    instances: Callable[..., Any] | None = None  # a template's resources for the current user
    input_schema: dict[str, Any] | None = None  # tools: instead of the one derived from the signature
    params_type: type | None = None  # protocol methods: their params model

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name!r}"

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(inspect.unwrap(self.fn))

    @property
    def takes_context(self) -> bool:
        """A function that takes the SDK's Context may send progress and log notifications."""
        try:
            return find_context_parameter(self.fn) is not None
        except Exception:  # noqa: BLE001 (an unresolvable annotation is reported by the checks)
            return False

    @property
    def is_template(self) -> bool:
        return self.uri is not None and "{" in self.uri

    @property
    def description(self) -> str:
        return self.options.get("description") or inspect.getdoc(self.fn) or ""

    @property
    def read_only(self) -> bool:
        annotations = self.options.get("annotations")
        return bool(annotations is not None and annotations.read_only_hint)

    @property
    def app_label(self) -> str | None:
        from django.apps import apps

        app = apps.get_containing_app_config(self.fn.__module__) if apps.apps_ready else None
        return app.label if app is not None else None


class Registry:
    def __init__(self) -> None:
        self.declarations: list[Declaration] = []

    def add(self, declaration: Declaration) -> None:
        self.declarations.append(declaration)

    def of_kind(self, kind: Kind) -> list[Declaration]:
        return [d for d in self.declarations if d.kind == kind]

    def problems(self) -> list[Problem]:
        """Everything that must be fixed before the server may start (checks.py reports them)."""
        found = list(scopes.problems) + scopes.unknown_implied()
        seen: dict[tuple[str, str], Declaration] = {}
        for declaration in self.declarations:
            key = (declaration.kind, declaration.uri or declaration.name)
            if key in seen:
                first = seen[key]
                found.append(
                    Problem(
                        "mcp.E002",
                        f"{declaration.where}: the {declaration.label} is declared twice "
                        f"(also at {first.where}); names must be unique",
                    )
                )
            seen.setdefault(key, declaration)
            found.extend(declaration_problems(declaration))
        return found


def declaration_problems(declaration: Declaration) -> list[Problem]:
    """What is wrong with one declaration, without the SDK (which checks.py asks as well)."""
    at = f"{declaration.where}: the {declaration.label}"
    found = []
    if declaration.scope not in scopes:
        found.append(
            Problem(
                "mcp.E001",
                f"{at} needs the scope {declaration.scope!r}, which no app declares "
                f"(declare_scope({declaration.scope!r}, ...) in an mcp_tools.py)",
            )
        )
    if declaration.uri is not None:
        try:
            UriTemplate.parse(declaration.uri)
        except InvalidUriTemplate as exc:
            found.append(
                Problem("mcp.E003", f"{at} has a URI template that does not parse ({declaration.uri!r}): {exc}")
            )
    if declaration.takes_context and not declaration.is_async:
        found.append(Problem("mcp.E004", f"{at} takes a Context, so it must be an async function"))
    try:
        parameters = set(inspect.signature(declaration.fn).parameters)
    except (TypeError, ValueError):
        parameters = set()
    for argument in declaration.complete:
        if argument not in parameters:
            found.append(Problem("mcp.E005", f"{at} completes {argument!r}, which is not one of its parameters"))
    if declaration.input_schema is not None:
        problem = input_schema_problem(declaration.input_schema)
        if problem:
            found.append(Problem("mcp.E007", f"{at} has an input schema MCP clients cannot use: {problem}"))
    return found


def input_schema_problem(schema: Any) -> str | None:
    """What is wrong with a tool's own input schema: not a JSON Schema (2020-12 unless its
    `$schema` says otherwise), not an object schema, or a misplaced `x-mcp-header`."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return 'a tool\'s input schema must be a JSON object schema ("type": "object")'
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return find_invalid_x_mcp_header(schema)


# The registry of this process.
registry = Registry()


@dataclass(frozen=True)
class ScopeRules:
    """What the bearer gate needs on every request, computed once from the registry: the scopes
    each named call needs, and which tools answer without streaming."""

    baseline: frozenset[str]
    named: dict[tuple[str, str], frozenset[str]]  # (JSON-RPC method, name or URI) → scopes needed
    templates: tuple[tuple[UriTemplate, frozenset[str]], ...]  # resources/read of a templated URI
    quiet_tools: frozenset[str]  # tools without a Context: they cannot send a notification
    declared: frozenset[str]  # every declared scope
    default_scope: str  # what a 401 challenge asks for

    def needed(self, method: str | None, name: str | None) -> frozenset[str]:
        """The scopes a JSON-RPC request needs: the baseline, plus the scope of what it names."""
        if name is None or method not in NAME_BEARING_METHODS:
            return self.baseline
        found = self.named.get((method, name))
        if found is not None:
            return found
        if method == "resources/read":
            for template, needed in self.templates:
                if template.match(name) is not None:
                    return needed
        return self.baseline


def scope_rules(source: Registry | None = None) -> ScopeRules:
    source = source or registry
    baseline = frozenset({BASELINE})
    named: dict[tuple[str, str], frozenset[str]] = {}
    templates = []
    for declaration in source.declarations:
        needed = baseline | {declaration.scope}
        if declaration.kind not in CALLS:
            continue
        if declaration.is_template:
            templates.append((UriTemplate.parse(declaration.uri), needed))
        else:
            named.setdefault((CALLS[declaration.kind], declaration.uri or declaration.name), needed)
    quiet = frozenset(d.name for d in source.of_kind("tool") if not d.takes_context)
    return ScopeRules(baseline, named, tuple(templates), quiet, frozenset(scopes.names()), " ".join(scopes.defaults()))


def resolved_signature(fn: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    """The signature and annotations of `fn` with every annotation resolved in `fn`'s own module,
    so that a wrapper defined elsewhere describes it exactly (the SDK derives schemas from them)."""
    return inspect.signature(fn, eval_str=True), typing.get_type_hints(fn, include_extras=True)
