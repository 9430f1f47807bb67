"""Verifying the bearer tokens presented at `/mcp`: one interface, two implementations.

- Local (tokens.py): the two roles share the database, so a token is one indexed lookup in the
  authorization server's token table, remembered briefly by a cache that hears revocations.
- Remote (introspection.py): a resource server deployed apart (SERVER_ROLE=resource) asks the
  authorization server by RFC 7662 introspection.

Both turn what they learn into `common.tokens.TokenFacts` and apply the one rule
(`common.tokens.refusal`); each owns what it needs while the application serves (`running`:
the revocation listener and the lookup connection, or the HTTP client), entered by the `/mcp`
application's lifespan (app.py).
"""

from __future__ import annotations

import functools
import hashlib
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from mcp.server.auth.provider import AccessToken as SDKAccessToken

from common.tokens import TokenFacts, refusal

# A token is opaque to us, but nothing we issue is longer than this.
MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True)
class Rejection:
    """Why a presented token is not accepted (shown to the client as `error_description`)."""

    reason: str


Verdict = SDKAccessToken | Rejection


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Verdict:
        """The verified token, or why it is refused. Raises DatabaseUnavailable (or its
        AuthorizationServerUnavailable) when the verdict cannot be had: the gate answers 503."""
        ...

    def running(self) -> AbstractAsyncContextManager[None]:
        """What verification needs while the application serves."""
        ...


def checksum(token: str) -> str:
    """How tokens are keyed (DOT's `token_checksum`, and every cache of verdicts)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def malformed(token: str) -> Rejection | None:
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        return Rejection("The access token is malformed")
    return None


def judged(
    facts: TokenFacts | None,
    unknown: str,
    *,
    client_id: str,
    scopes: list[str],
    user_id: int,
    claims: dict[str, str],
) -> Verdict:
    """The SDK's AccessToken for a token the rule accepts, or the rule's reason."""
    if facts is None:
        return Rejection(unknown)
    reason = refusal(facts, settings.MCP_URL, settings.ISSUER)
    if reason is not None:
        return Rejection(reason)
    return SDKAccessToken(
        token="",  # never kept: nothing downstream needs the secret
        client_id=client_id,
        scopes=scopes,
        expires_at=int(facts.expires_at),
        resource=settings.MCP_URL,
        subject=str(user_id),
        claims=claims,
    )


@functools.cache
def _verifier(role: str) -> TokenVerifier:
    if role == "resource":
        from .introspection import IntrospectionVerifier

        return IntrospectionVerifier()
    from .tokens import LocalVerifier

    return LocalVerifier()


def verifier() -> TokenVerifier:
    """This deployment's verifier (by SERVER_ROLE)."""
    return _verifier(settings.SERVER_ROLE)


async def verify(token: str) -> Verdict:
    return await verifier().verify(token)
