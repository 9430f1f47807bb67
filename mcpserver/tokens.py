"""Local token verification (verification.py): the authorization server's own token table.

The two roles share the database, so verification is one indexed lookup on DOT's
`token_checksum` (tokens are stored hashed), joined to the client and the user. The query is
built by the ORM once per process and then executed directly, because compiling DOT's
45-column join on every request cost more than the lookup itself. Accepted tokens are
remembered by the revocation-aware cache (token_cache.py, revocations.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.utils.dateparse import parse_datetime
from oauth2_provider.models import get_access_token_model

from common.tokens import TokenFacts

from . import revocations, token_cache, token_lookup
from .verification import Verdict, checksum, judged, malformed

FIELDS = (
    "expires",
    "scope",
    "resource",
    "user_id",
    "user__is_active",
    "user__username",  # so that tools know the user's name without another query
    "application__client_id",
    "application__is_enabled",
    "application__approval",
)

UNKNOWN = "The access token is unknown or revoked"

_compiled: dict[str, str] = {}


def lookup_sql() -> str:
    """The lookup statement for this database, compiled by the ORM once (a `%s` for the checksum)."""
    vendor = connection.vendor
    if vendor not in _compiled:
        queryset = get_access_token_model().objects.filter(token_checksum="%s").values_list(*FIELDS)[:1]
        sql, params = queryset.query.get_compiler(connection=connection).as_sql()
        # Compile with a placeholder value, then make it a bind parameter again.
        _compiled[vendor] = sql
        assert list(params) == ["%s"], params
    return _compiled[vendor]


def lookup(token_checksum: str) -> tuple | None:
    """The row of FIELDS for a token checksum, or None. Runs on a database thread."""
    with connection.cursor() as cursor:
        cursor.execute(lookup_sql(), [token_checksum])
        return cursor.fetchone()


def _as_datetime(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"unreadable expiry {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _as_list(value) -> list:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, list) else []


def judge(row: tuple | None) -> Verdict:
    """The verdict on a token row (FIELDS), by the one rule (common/tokens.py)."""
    if row is None:
        return judged(None, UNKNOWN, client_id="", scopes=[], user_id=0, claims={})
    expires, scope, resource, user_id, user_active, username, client_id, client_enabled, approval = row
    facts = TokenFacts(
        expires_at=_as_datetime(expires).timestamp(),
        audience=tuple(_as_list(resource)),
        issuer=settings.ISSUER,  # our own table holds only our own tokens
        client_usable=client_id is not None and bool(client_enabled) and approval == "approved",
        user_active=user_id is not None and bool(user_active),
    )
    return judged(
        facts,
        UNKNOWN,
        client_id=client_id or "",
        scopes=(scope or "").split(),
        user_id=user_id or 0,
        claims={"iss": settings.ISSUER, "username": username},
    )


class LocalVerifier:
    async def verify(self, token: str) -> Verdict:
        refused = malformed(token)
        if refused is not None:
            return refused
        key = checksum(token)
        cached = token_cache.get(key)  # MCP_TOKEN_CACHE_SECONDS; off by default (token_cache.py)
        if cached is not None:
            return cached
        started = token_cache.generation()
        verdict = judge(await token_lookup.fetch(key, lookup, lookup_sql))
        token_cache.put(key, verdict, started)
        return verdict

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The revocation listener while the application serves; then the lookup connection closed."""
        try:
            async with revocations.listening():
                yield
        finally:
            token_lookup.close()
