"""Remote token verification (verification.py), for a resource server deployed apart from the
authorization server (SERVER_ROLE=resource): it has no token table to look in, so it asks the
authorization server by RFC 7662 introspection (at its /introspect endpoint) and
remembers each answer for a few seconds (INTROSPECTION_CACHE_SECONDS), so a revoked token stops
working at most that long after.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import quote_plus

import httpx2
from cachetools import TLRUCache
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from mcp.server.auth.provider import AccessToken as SDKAccessToken

from common.tokens import EXPIRED, INACTIVE_USER, TokenFacts

from .db import DatabaseUnavailable, run_db
from .verification import Rejection, Verdict, checksum, judged, malformed

logger = logging.getLogger("mcpserver")

UNKNOWN = "The access token is unknown, expired or revoked"


class AuthorizationServerUnavailable(DatabaseUnavailable):
    """The authorization server gave no usable introspection answer; the gate answers 503."""


CACHE_MAX_ENTRIES = 10_000


def _lifetime(_checksum: str, verdict: SDKAccessToken | Rejection, now: float) -> float:
    """Until when a verdict is kept: INTROSPECTION_CACHE_SECONDS, never past the token's expiry
    (a deadline not after `now` keeps it out)."""
    lifetime = float(settings.INTROSPECTION_CACHE_SECONDS)
    if isinstance(verdict, SDKAccessToken) and verdict.expires_at is not None:
        lifetime = min(lifetime, verdict.expires_at - time.time())
    return now + lifetime


# checksum -> verdict (used by the event loop's thread only)
_cache: TLRUCache[str, SDKAccessToken | Rejection] = TLRUCache(CACHE_MAX_ENTRIES, _lifetime, timer=time.monotonic)
_pending: dict[str, asyncio.Future] = {}  # one introspection call per token at a time
_http: tuple[asyncio.AbstractEventLoop, httpx2.AsyncClient] | None = None
# Tests replace the network with an httpx2 MockTransport here.
transport: httpx2.AsyncBaseTransport | None = None


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
            httpx2.AsyncClient(timeout=settings.INTROSPECTION_TIMEOUT, follow_redirects=False, transport=transport),
        )
    return _http[1]


def clear_introspection_cache() -> None:
    _cache.clear()


def _still_good(verdict: SDKAccessToken | Rejection) -> SDKAccessToken | Rejection:
    if isinstance(verdict, SDKAccessToken) and verdict.expires_at is not None and verdict.expires_at <= time.time():
        return Rejection(EXPIRED)
    return verdict


async def introspected(token: str) -> SDKAccessToken | Rejection:
    """The authorization server's verdict on `token`, from the cache while it is fresh."""
    key = checksum(token)
    cached = _cache.get(key)
    if cached is not None:
        return _still_good(cached)
    pending = _pending.get(key)
    if pending is None:
        pending = asyncio.ensure_future(_introspect_and_remember(token, key))
        _pending[key] = pending
        pending.add_done_callback(lambda _done: _pending.pop(key, None))
    return await asyncio.shield(pending)


async def _introspect_and_remember(token: str, key: str) -> SDKAccessToken | Rejection:
    claims = await _introspect(token)
    verdict = await judge_claims(claims)
    _cache[key] = verdict
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


async def judge_claims(claims: dict) -> Verdict:
    """The verdict on an introspection answer, by the one rule (common/tokens.py), for a user
    this server knows (created on first sight, `local_user`)."""
    if claims.get("active") is not True:
        return Rejection(UNKNOWN)
    audience = claims.get("aud")
    audience = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    expires_at = claims.get("exp")
    username, client_id, scope = claims.get("username"), claims.get("client_id"), claims.get("scope")
    facts = TokenFacts(
        expires_at=expires_at if isinstance(expires_at, int) else 0,
        audience=tuple(audience),
        issuer=claims.get("iss", settings.ISSUER),
        client_usable=isinstance(client_id, str),  # the authorization server said active: usable
        user_active=isinstance(username, str) and bool(username),
    )
    verdict = judged(facts, UNKNOWN, client_id=client_id or "", scopes=[], user_id=0, claims={})
    if isinstance(verdict, Rejection):
        return verdict
    user_id, active = await run_db(local_user, username)
    if not active:  # this server's own record of the user was deactivated here
        return Rejection(INACTIVE_USER)
    return judged(
        facts,
        UNKNOWN,
        client_id=client_id,
        scopes=scope.split() if isinstance(scope, str) else [],
        user_id=user_id,
        claims={"iss": settings.ISSUER, "sub": str(claims.get("sub", "")), "username": username},
    )


class IntrospectionVerifier:
    async def verify(self, token: str) -> Verdict:
        return malformed(token) or await introspected(token)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Nothing to start; the pooled HTTP client is closed when the application stops."""
        global _http
        try:
            yield
        finally:
            if _http is not None:
                with contextlib.suppress(Exception):
                    await _http[1].aclose()
                _http = None
