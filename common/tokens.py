"""Which access token is valid: the one rule, applied by the authorization server when it answers
an introspection call (authserver/introspection.py) and by both of the resource server's token
verifiers, local and remote (mcpserver/tokens.py, mcpserver/introspection.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass

EXPIRED = "The access token has expired"
FOREIGN_ISSUER = "The access token was issued by another authorization server"
CLIENT_DISABLED = "The client of this access token is disabled"
INACTIVE_USER = "The access token does not belong to an active user"


def not_for(resource: str) -> str:
    return f"The access token was not issued for {resource}"


@dataclass(frozen=True)
class TokenFacts:
    """What the rule needs to know of a token, wherever it was looked up."""

    expires_at: float  # POSIX seconds
    audience: tuple[str, ...]  # the resources it is bound to (RFC 8707)
    issuer: str
    client_usable: bool  # its client exists, is enabled and approved
    user_active: bool  # its user exists and is active


def refusal(facts: TokenFacts, resource: str, issuer: str, now: float | None = None) -> str | None:
    """Why a known token may not be used at `resource` (None: it may): it must be live, bound to
    that resource, issued by `issuer`, and its client and user must still be allowed to use it."""
    if facts.expires_at <= (time.time() if now is None else now):
        return EXPIRED
    if resource not in facts.audience:
        return not_for(resource)
    if facts.issuer != issuer:
        return FOREIGN_ISSUER
    if not facts.client_usable:
        return CLIENT_DISABLED
    if not facts.user_active:
        return INACTIVE_USER
    return None
