"""Verifying bearer tokens at `/mcp` against the authorization server's own token table.

The two roles share the database, so verification is local: one indexed lookup on DOT's
`token_checksum` (tokens are stored hashed), joined to the client and the user. The query is
built by the ORM once per process and then executed directly, because compiling DOT's
45-column join on every request cost more than the lookup itself.

A resource server deployed apart from the authorization server (SERVER_ROLE=resource) has no
token table to look in: it asks the authorization server by RFC 7662 introspection
(authserver/introspection.py answers) and remembers each answer for a few seconds
(INTROSPECTION_CACHE_SECONDS), so a revoked token stops working at most that long after.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote_plus

import httpx2
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils.dateparse import parse_datetime
from mcp.server.auth.provider import AccessToken as SDKAccessToken
from oauth2_provider.models import get_access_token_model

from . import token_cache, token_lookup
from .db import DatabaseUnavailable, run_db

logger = logging.getLogger("mcpserver")

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
    expires, scope, resource, user_id, user_active, username, client_id, client_enabled, approval = row
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
        claims={"iss": settings.ISSUER, "username": username},
    )


def checksum(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def verify_bearer_token(token: str) -> SDKAccessToken | Rejection:
    """The verified token, or why it is refused. Raises DatabaseUnavailable when the database is."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
        return Rejection("The access token is malformed")
    if settings.SERVER_ROLE == "resource":
        return await introspected(token)
    key = checksum(token)
    cached = token_cache.get(key)  # MCP_TOKEN_CACHE_SECONDS; off by default (token_cache.py)
    if cached is not None:
        return cached
    started = token_cache.generation()
    verdict = judge(await token_lookup.fetch(key, lookup, _lookup_sql))
    token_cache.put(key, verdict, started)
    return verdict


# --- Split deployment: verification by introspection at the authorization server -------------


class AuthorizationServerUnavailable(DatabaseUnavailable):
    """The authorization server gave no usable introspection answer; the gate answers 503."""


CACHE_MAX_ENTRIES = 10_000
_cache: dict[str, tuple[float, SDKAccessToken | Rejection]] = {}  # checksum -> (valid until, verdict)
_pending: dict[str, asyncio.Future] = {}  # one introspection call per token at a time
_http: tuple[asyncio.AbstractEventLoop, httpx2.AsyncClient] | None = None
# Tests replace the network with an httpx2 MockTransport here.
introspection_transport: httpx2.AsyncBaseTransport | None = None


def _client_authorization() -> str:
    # RFC 6749 §2.3.1: the id and secret are form-encoded before the Basic encoding.
    pair = f"{quote_plus(settings.INTROSPECTION_CLIENT_ID)}:{quote_plus(settings.INTROSPECTION_CLIENT_SECRET)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def _http_client() -> httpx2.AsyncClient:
    """One pooled client per event loop (a worker has one), so introspection reuses connections."""
    global _http
    loop = asyncio.get_running_loop()
    if _http is None or _http[0] is not loop:
        _http = (
            loop,
            httpx2.AsyncClient(
                timeout=settings.INTROSPECTION_TIMEOUT, follow_redirects=False, transport=introspection_transport
            ),
        )
    return _http[1]


def clear_introspection_cache() -> None:
    _cache.clear()


def _still_good(verdict: SDKAccessToken | Rejection) -> SDKAccessToken | Rejection:
    if isinstance(verdict, SDKAccessToken) and verdict.expires_at is not None and verdict.expires_at <= time.time():
        return Rejection("The access token has expired")
    return verdict


async def introspected(token: str) -> SDKAccessToken | Rejection:
    """The authorization server's verdict on `token`, from the cache while it is fresh."""
    key = checksum(token)
    cached = _cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return _still_good(cached[1])
    pending = _pending.get(key)
    if pending is None:
        pending = asyncio.ensure_future(_introspect_and_remember(token, key))
        _pending[key] = pending
        pending.add_done_callback(lambda _done: _pending.pop(key, None))
    return await asyncio.shield(pending)


async def _introspect_and_remember(token: str, key: str) -> SDKAccessToken | Rejection:
    claims = await _introspect(token)
    verdict = await judge_claims(claims)
    lifetime = float(settings.INTROSPECTION_CACHE_SECONDS)
    if isinstance(verdict, SDKAccessToken) and verdict.expires_at is not None:
        lifetime = min(lifetime, verdict.expires_at - time.time())
    if lifetime > 0:
        if len(_cache) >= CACHE_MAX_ENTRIES:
            now = time.monotonic()
            for stale in [k for k, (until, _v) in _cache.items() if until <= now]:
                del _cache[stale]
            if len(_cache) >= CACHE_MAX_ENTRIES:
                _cache.clear()
        _cache[key] = (time.monotonic() + lifetime, verdict)
    return verdict


async def _introspect(token: str) -> dict:
    url = settings.INTROSPECTION_URL
    try:
        response = await _http_client().post(
            url,
            data={"token": token, "token_type_hint": "access_token"},
            headers={"Authorization": _client_authorization(), "Accept": "application/json"},
        )
    except httpx2.HTTPError as exc:
        logger.warning("token introspection at %s failed: %s", url, type(exc).__name__)
        raise AuthorizationServerUnavailable(f"introspection failed: {type(exc).__name__}") from exc
    if response.status_code != 200:
        # 401 means this server's INTROSPECTION_CLIENT_ID/SECRET are not accepted there.
        logger.error("token introspection at %s answered HTTP %s", url, response.status_code)
        raise AuthorizationServerUnavailable(f"introspection answered HTTP {response.status_code}")
    try:
        claims = response.json()
    except ValueError as exc:
        raise AuthorizationServerUnavailable("introspection answered something other than JSON") from exc
    if not isinstance(claims, dict):
        raise AuthorizationServerUnavailable("introspection answered something other than a JSON object")
    return claims


def local_user(username: str) -> tuple[int, bool]:
    """(id, is_active) of this server's own record of an authorization-server user, created on
    first sight: the MCP server keeps per-user data, and its database is not the other's."""
    model = get_user_model()
    field = model.USERNAME_FIELD
    found = model.objects.filter(**{field: username}).values_list("pk", "is_active").first()
    if found is not None:
        return found
    user = model(**{field: username})
    user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # created meanwhile by another worker or replica
        return model.objects.filter(**{field: username}).values_list("pk", "is_active").get()
    return user.pk, user.is_active


async def judge_claims(claims: dict) -> SDKAccessToken | Rejection:
    """Accept an introspection answer only for an active token bound to this MCP endpoint,
    issued by our authorization server, for a user."""
    if claims.get("active") is not True:
        return Rejection("The access token is unknown, expired or revoked")
    audience = claims.get("aud")
    audience = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    if settings.MCP_URL not in audience:
        return Rejection(f"The access token was not issued for {settings.MCP_URL}")
    if claims.get("iss", settings.ISSUER) != settings.ISSUER:
        return Rejection("The access token was issued by another authorization server")
    expires_at = claims.get("exp")
    if not isinstance(expires_at, int) or expires_at <= time.time():
        return Rejection("The access token has expired")
    username, client_id, scope = claims.get("username"), claims.get("client_id"), claims.get("scope")
    if not isinstance(username, str) or not username or not isinstance(client_id, str):
        return Rejection("The access token does not belong to an active user")
    user_id, active = await run_db(local_user, username)
    if not active:
        return Rejection("The access token does not belong to an active user")
    return SDKAccessToken(
        token="",
        client_id=client_id,
        scopes=scope.split() if isinstance(scope, str) else [],
        expires_at=expires_at,
        resource=settings.MCP_URL,
        subject=str(user_id),
        claims={"iss": settings.ISSUER, "sub": str(claims.get("sub", "")), "username": username},
    )
