"""Verifying bearer tokens at `/mcp` against the authorization server's own token table.

The two roles share the database, so verification is local: one indexed lookup on DOT's
`token_checksum` (tokens are stored hashed), joined to the client and the user. The query is
built by the ORM once per process and then executed directly, because compiling DOT's
45-column join on every request cost more than the lookup itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.utils.dateparse import parse_datetime
from mcp.server.auth.provider import AccessToken as SDKAccessToken
from oauth2_provider.models import get_access_token_model

from .db import run_db

FIELDS = (
    "expires",
    "scope",
    "resource",
    "user_id",
    "user__is_active",
    "application__client_id",
    "application__is_enabled",
    "application__approval",
)

# A token is opaque to us, but nothing we issue is longer than this.
MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True)
class Rejection:
    """Why a presented token is not accepted (shown to the client as `error_description`)."""

    reason: str


_compiled: dict[str, str] = {}


def _lookup_sql() -> str:
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
        cursor.execute(_lookup_sql(), [token_checksum])
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


def judge(row: tuple | None, now: datetime | None = None) -> SDKAccessToken | Rejection:
    """Accept a token row only if it is live, bound to this MCP endpoint, and its client and
    user may still use it."""
    if row is None:
        return Rejection("The access token is unknown or revoked")
    expires, scope, resource, user_id, user_active, client_id, client_enabled, approval = row
    now = now or datetime.now(UTC)
    expires_at = _as_datetime(expires)
    if expires_at <= now:
        return Rejection("The access token has expired")
    if settings.MCP_URL not in _as_list(resource):
        return Rejection(f"The access token was not issued for {settings.MCP_URL}")
    if client_id is None or not client_enabled or approval != "approved":
        return Rejection("The client of this access token is disabled")
    if user_id is None or not user_active:
        return Rejection("The access token does not belong to an active user")
    return SDKAccessToken(
        token="",  # never kept: nothing downstream needs the secret
        client_id=client_id,
        scopes=(scope or "").split(),
        expires_at=int(expires_at.timestamp()),
        resource=settings.MCP_URL,
        subject=str(user_id),
        claims={"iss": settings.ISSUER},
    )


def checksum(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def verify_bearer_token(token: str) -> SDKAccessToken | Rejection:
    """The verified token, or why it is refused. Raises DatabaseUnavailable when the database is."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        return Rejection("The access token is malformed")
    row = await run_db(lookup, checksum(token))
    return judge(row)
