"""Scopes of the authorization server alone (settings.AUTHORIZATION_SERVER_SCOPES, e.g.
`offline_access`), whatever supplies the MCP server's own scopes.

Several MCP clients add `offline_access` to every request to get a refresh token (SEP-2207); a
server that calls it an unknown scope locks them out. Here it is accepted at registration, at
`/authorize` and at `/token`, listed in the AS metadata, and then dropped: refresh tokens are
always issued, so it grants nothing, and it never reaches a token, the consent page, the
protected-resource metadata or a challenge.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings


def server_scopes() -> list[str]:
    return list(settings.AUTHORIZATION_SERVER_SCOPES)


def without_server_scopes(scopes: Iterable[str]) -> list[str]:
    """`scopes` minus the authorization server's own, order kept."""
    own = set(settings.AUTHORIZATION_SERVER_SCOPES)
    return [scope for scope in scopes if scope not in own]


def strip_from_scope_string(scope: str | None) -> str | None:
    """A space-separated scope parameter without the server's own scopes (None when nothing is left)."""
    if scope is None:
        return None
    kept = without_server_scopes(scope.split())
    return " ".join(kept) or None
