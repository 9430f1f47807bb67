"""The registry of OAuth scopes: the one place a scope's name, meaning and rules are kept.

Apps declare their scopes (`mcpserver.api.declare_scope`, from their `mcp_tools.py`); everything
else reads them from here: the protected-resource metadata's `scopes_supported`, the authorization
server's scopes (django-oauth-toolkit's `SCOPES_BACKEND_CLASS`, authserver/scopes.py) and so the
consent page, the 401 challenge's default scope, the 403 step-up and the client docs.

A problem found while declaring (a scope declared twice with different meanings, a malformed
name) is kept in `problems` and reported by the system checks (mcpserver/checks.py), which stop
start-up; declaring never raises, so that every problem is reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Every MCP request needs this scope: listing what the server offers. It is declared here with
# words of its own; an app whose read tools need nothing more may describe it in its own words
# (once), since the consent page then speaks of what the app shows.
BASELINE = "mcp:read"
BASELINE_DESCRIPTION = "List this server's tools, resources and prompts"

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


@dataclass(frozen=True)
class Scope:
    name: str
    description: str
    implies: frozenset[str]  # scopes a grant of this one includes (the MCP spec's hierarchies)
    default: bool  # asked for by the 401 challenge, and granted when a client asks for no scope
    where: str  # file:line of the declaration, for error messages


@dataclass(frozen=True)
class Problem:
    """A declaration that must be fixed before the server starts (a system check error)."""

    id: str
    message: str


class ScopeRegistry:
    def __init__(self) -> None:
        self._scopes: dict[str, Scope] = {}
        self.problems: list[Problem] = []
        self._declare_baseline()

    def _declare_baseline(self) -> None:
        self._scopes[BASELINE] = Scope(BASELINE, BASELINE_DESCRIPTION, frozenset(), True, "")

    def declare(
        self, name: str, description: str, *, implies: Iterable[str] = (), default: bool = False, where: str = ""
    ) -> str:
        """Declare a scope; returns its name. Declaring the same scope again with the same meaning
        is allowed (two apps may share one)."""
        if not isinstance(name, str) or not SCOPE_TOKEN.fullmatch(name):
            self.problems.append(Problem("mcp.E010", f"{where}: {name!r} is not a valid OAuth scope name (RFC 6749)"))
            return name
        if not isinstance(description, str) or not description.strip():
            self.problems.append(Problem("mcp.E010", f"{where}: the scope {name!r} needs a description in plain words"))
        scope = Scope(name, description, frozenset(implies), bool(default) or name == BASELINE, where)
        known = self._scopes.get(name)
        if known is None or (name == BASELINE and not known.where):
            self._scopes[name] = scope  # a new scope, or the baseline described by an app
        elif (known.description, known.implies, known.default) != (scope.description, scope.implies, scope.default):
            self.problems.append(
                Problem(
                    "mcp.E011",
                    f"{where}: the scope {name!r} is declared differently at {known.where}; declare it once",
                )
            )
        return name

    def unknown_implied(self) -> list[Problem]:
        """Declarations that imply a scope nobody declares (checked once every app is loaded)."""
        return [
            Problem("mcp.E012", f"{scope.where}: the scope {scope.name!r} implies {implied!r}, which is not declared")
            for scope in self._scopes.values()
            for implied in sorted(scope.implies)
            if implied not in self._scopes
        ]

    def __contains__(self, name: object) -> bool:
        return name in self._scopes

    def descriptions(self) -> dict[str, str]:
        """Scope → what the consent page says, in declaration order (the baseline first)."""
        return {name: scope.description for name, scope in self._scopes.items()}

    def names(self) -> list[str]:
        return sorted(self._scopes)

    def defaults(self) -> list[str]:
        """The scopes a client gets when it asks for none, and the 401 challenge asks for."""
        return sorted(name for name, scope in self._scopes.items() if scope.default)

    def effective(self, granted: Iterable[str]) -> frozenset[str]:
        """The granted scopes plus every scope they imply, transitively."""
        result: set[str] = set()
        pending = list(granted)
        while pending:
            name = pending.pop()
            if name not in result:
                result.add(name)
                known = self._scopes.get(name)
                if known is not None:
                    pending.extend(known.implies)
        return frozenset(result)

    def snapshot(self) -> tuple[dict[str, Scope], list[Problem]]:
        return dict(self._scopes), list(self.problems)

    def restore(self, snapshot: tuple[dict[str, Scope], list[Problem]]) -> None:
        """Back to a snapshot (tests that declare scopes of their own)."""
        self._scopes, self.problems = dict(snapshot[0]), list(snapshot[1])


# The registry of this process, filled while Django loads the apps (mcpserver's autodiscovery).
registry = ScopeRegistry()
