"""The OAuth scopes of the MCP server: the one place their names and meanings are written.

Kept free of Django imports so that `config.settings` can read it to configure
django-oauth-toolkit's `SCOPES` before any app is loaded.
"""

from __future__ import annotations

READ = "mcp:read"
WRITE = "mcp:write"

# What the consent page shows, in plain words, for each scope.
DESCRIPTIONS: dict[str, str] = {
    READ: "See your notes, and list the server's tools, resources and prompts",
    WRITE: "Create, change and delete your notes",
}

# Every MCP request needs at least this scope; it is the `scope` hint of a bare 401.
BASELINE = READ

# A scope that includes others (the MCP spec asks servers to account for hierarchies).
IMPLIES: dict[str, frozenset[str]] = {
    WRITE: frozenset({READ}),
}


def effective_scopes(granted: list[str] | set[str] | tuple[str, ...]) -> frozenset[str]:
    """The granted scopes plus every scope they imply."""
    result = set(granted)
    for scope in granted:
        result |= IMPLIES.get(scope, frozenset())
    return frozenset(result)
