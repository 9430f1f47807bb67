"""System checks of the declared tools, resources, prompts and scopes: each mistake is an error
that names the file and the tool, and stops start-up (`manage.py migrate`/`check`, and the ASGI
application itself, config/asgi.py)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.management.base import SystemCheckError

from .registry import Registry, registry
from .server import add, new_server, sdk_tool


def check_registry(app_configs: Any = None, source: Registry | None = None, **kwargs: Any) -> list[checks.Error]:
    source = source or registry
    problems = source.problems()
    errors = [checks.Error(problem.message, id=problem.id) for problem in problems]
    if not problems:
        errors += sdk_refusals(source)
    return errors


def sdk_refusals(source: Registry) -> list[checks.Error]:
    """What the SDK itself refuses (a template whose variables are not the function's parameters,
    an annotation it cannot resolve…), found by registering each declaration on a scratch server."""
    server = new_server()
    errors = []
    for declaration in source.declarations:
        try:
            if declaration.kind == "tool":
                sdk_tool(declaration)
            else:
                add(server, declaration)
        except Exception as exc:  # noqa: BLE001 (whatever the SDK raises is the app author's to read)
            errors.append(
                checks.Error(
                    f"{declaration.where}: the {declaration.label} is refused by the MCP SDK: {exc}", id="mcp.E006"
                )
            )
    return errors


def raise_if_misdeclared() -> None:
    """Stop an application that is about to serve with a mistake in its declarations (gunicorn
    runs no system checks of its own)."""
    errors = check_registry()
    if errors:
        raise SystemCheckError(
            "The MCP server's declarations have errors:\n" + "\n".join(f"({e.id}) {e.msg}" for e in errors)
        )
