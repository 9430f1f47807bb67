"""Abuse limits whose state is shared by every worker and replica: fixed-window rate limits per
client IP and in total (registration, token requests, sign-in attempts, CIMD fetches), and the
sign-in lockout after repeated failures (django-axes, keyed on username and IP).

The counter is written by hand because Django's cache `incr` is a read-then-write on the
database and file caches, so parallel requests on several workers would under-count; one
`INSERT … ON CONFLICT DO UPDATE … RETURNING` statement counts atomically on both SQLite
(≥ 3.35) and PostgreSQL. On PostgreSQL both counters of a limit go in one statement (the token
endpoint's budget of statements, docs/performance.md).

Every refusal is a 429 with `Retry-After`: a JSON body for programs, a page for a person's
browser on the sign-in and authorization pages.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse

from common import audit
from common.errors import ErrorPage, OAuthError

from .errors import error_answer
from .models import RateLimitCounter


@dataclass(frozen=True)
class ThrottleVerdict:
    allowed: bool
    hits: int
    limit: int
    retry_after: int  # seconds until the window ends


@dataclass(frozen=True)
class Limit:
    """How many hits one client IP, and all clients together, may make per window."""

    per_ip: int
    total: int
    window: int


def _upsert_sql() -> str:
    q = connection.ops.quote_name
    table, key_col, window_col, hits_col = (
        q(RateLimitCounter._meta.db_table),
        q("key"),
        q("window_start"),
        q("hits"),
    )
    return (
        f"INSERT INTO {table} ({key_col}, {window_col}, {hits_col}) VALUES (%s, %s, 1) "  # noqa: S608
        f"ON CONFLICT ({key_col}, {window_col}) DO UPDATE SET {hits_col} = {table}.{hits_col} + 1 "
        f"RETURNING {hits_col}"
    )


@contextmanager
def counting():
    """One transaction for a request's counters, not waiting for the disk on PostgreSQL.

    A lost count after a crash costs nothing, but a synchronous commit would hold the row lock
    of a shared counter (the global one above all) until the disk answers, which serialised every
    request behind it. (Inside a caller's transaction the counters commit with it, as it does.)"""
    nested = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not nested:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield cursor


def hit(key: str, limit: int, window: int, now: float | None = None, cursor=None) -> ThrottleVerdict:
    """Count one hit for `key`; allowed while the window's count stays within `limit`."""
    now = time.time() if now is None else now
    window_start = int(now // window) * window
    if cursor is None:
        with counting() as own:
            own.execute(_upsert_sql(), [key[:200], window_start])
            hits = own.fetchone()[0]
    else:
        cursor.execute(_upsert_sql(), [key[:200], window_start])
        hits = cursor.fetchone()[0]
    return verdict(hits, limit, window_start, window, now)


def verdict(hits: int, limit: int, window_start: int, window: int, now: float) -> ThrottleVerdict:
    retry_after = max(1, math.ceil(window_start + window - now))
    return ThrottleVerdict(allowed=hits <= limit, hits=hits, limit=limit, retry_after=retry_after)


def pair_sql(quiet: bool) -> str:
    """Both counters of a limit in one PostgreSQL statement (and, outside a caller's transaction,
    its asynchronous commit with it): the total counts only when the address is within its own
    limit, as `count_hits` does in two. Parameters: `pair_params`."""
    upsert = _upsert_sql()
    total = upsert.replace("VALUES (%s, %s, 1)", "SELECT %s, %s, 1 FROM per_ip WHERE per_ip.hits <= %s")
    setting = "quiet AS (SELECT set_config('synchronous_commit', 'off', true) AS value), " if quiet else ""
    selected = "(SELECT hits FROM per_ip), (SELECT hits FROM total)" + (", (SELECT value FROM quiet)" if quiet else "")  # noqa: S608
    return f"WITH {setting}per_ip AS ({upsert}), total AS ({total}) SELECT {selected}"  # noqa: S608 (no input)


def pair_params(name: str, ip: str, limit: Limit, now: float) -> tuple[list, int]:
    """The parameters of `pair_sql` for one hit of limit `name` from `ip`, and the window."""
    window_start = int(now // limit.window) * limit.window
    return [f"{name}:ip:{ip}"[:200], window_start, f"{name}:all", window_start, limit.per_ip], window_start


def pair_verdicts(
    row: tuple, limit: Limit, window_start: int, now: float
) -> tuple[ThrottleVerdict, ThrottleVerdict | None]:
    ip_hits, total_hits = row[:2]
    per_ip = verdict(ip_hits, limit.per_ip, window_start, limit.window, now)
    total = None if total_hits is None else verdict(total_hits, limit.total, window_start, limit.window, now)
    return per_ip, total


def count_hits(
    name: str, ip: str, limit: Limit, now: float | None = None
) -> tuple[ThrottleVerdict, ThrottleVerdict | None]:
    """Count a hit for `ip` and, while `ip` is within its own limit, for everyone: the two
    verdicts (the second None when it was not counted)."""
    now = time.time() if now is None else now
    if connection.vendor == "postgresql":
        params, window_start = pair_params(name, ip, limit, now)
        with connection.cursor() as cursor:
            cursor.execute(pair_sql(quiet=not connection.in_atomic_block), params)
            return pair_verdicts(cursor.fetchone(), limit, window_start, now)
    with counting() as cursor:
        per_ip = hit(f"{name}:ip:{ip}", limit.per_ip, limit.window, now, cursor)
        if not per_ip.allowed:
            return per_ip, None
        return per_ip, hit(f"{name}:all", limit.total, limit.window, now, cursor)


def client_ip(request) -> str:
    """The peer address; behind a trusted proxy uvicorn has already put the real client here.

    Takes a Django request, or the oauthlib request of a CIMD permission check (whose headers
    are Django's META)."""
    meta = getattr(request, "META", None)
    if meta is None:
        meta = getattr(request, "headers", None) or {}
    return meta.get("REMOTE_ADDR", "") or "unknown"


def check(name: str, ip: str, now: float | None = None) -> ThrottleVerdict:
    """Count one hit of limit `name` (settings.THROTTLES) for `ip` and in total: the first
    refusal, or the per-IP verdict when both allow.

    The per-IP counter is checked first, and the total is not counted once the IP is over its
    own limit, so one noisy client cannot use up everyone else's share.
    """
    return decision(*count_hits(name, ip, Limit(*settings.THROTTLES[name]), now))


def decision(per_ip: ThrottleVerdict, total: ThrottleVerdict | None) -> ThrottleVerdict:
    """The per-address refusal, else the total's, else the per-address verdict."""
    if not per_ip.allowed or total is None:
        return per_ip
    return total if not total.allowed else per_ip


def address_or_none(request) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the client's IP address, or None when there is none (a request
    built in a test, a Unix socket): axes stores it in an IP address column, which PostgreSQL
    checks."""
    address = client_ip(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


DESCRIPTIONS = {
    "register": "Too many client registrations; try again later",
    "token": "Too many token requests; try again later",
    "login": "Too many sign-in attempts; try again later",
    "cimd": "Too many new URL client ids (client metadata documents) to fetch; try again later",
}


class Throttled(OAuthError):
    """The 429 of a limit: JSON (the OAuth error object shape, with `retry_after`), or a page for
    a person's browser on the sign-in and authorization pages. Raised where no response can be
    returned too (inside django-oauth-toolkit, e.g. the CIMD permission check), where
    `authserver.errors.ErrorAnswerMiddleware` turns it into its answer."""

    def __init__(self, verdict: ThrottleVerdict, description: str) -> None:
        retry_after = str(verdict.retry_after)
        page = ErrorPage(
            429,
            {
                "title": "Too many requests",
                "error": "too_many_requests",
                "description": f"{description} (in {verdict.retry_after} seconds).",
            },
            headers={"Retry-After": retry_after},
        )
        super().__init__(
            "too_many_requests",
            description,
            429,
            headers={"Retry-After": retry_after},
            fields={"retry_after": verdict.retry_after},
            page=page,
        )
        self.verdict = verdict


def too_many_requests(verdict: ThrottleVerdict, description: str, request: HttpRequest) -> HttpResponse:
    """The 429 answer (`Throttled`) for `request`."""
    return error_answer(request, Throttled(verdict, description))


# A hit already counted for this request before it reached Django, by the refresh grant's lean
# path when it hands the request over (authserver/lean_refresh.py): (limit name, verdict). A
# context variable, so that no client can set it.
counted: ContextVar[tuple[str, ThrottleVerdict] | None] = ContextVar("throttle_counted", default=None)


def enforce(name: str, request) -> None:
    """Count a hit of limit `name` for this request's client; raise Throttled past a limit."""
    ip = client_ip(request)
    already = counted.get()
    if already is not None and already[0] == name:
        counted.set(None)
        verdict = already[1]
    else:
        verdict = check(name, ip)
    if not verdict.allowed:
        audit.event("throttled", limit=name, ip=ip, hits=verdict.hits, allowed=verdict.limit)
        raise Throttled(verdict, DESCRIPTIONS[name])


def throttled(name: str, methods: tuple[str, ...] = ("POST",)) -> Callable:
    """Decorate a view (function or method) so that `methods` requests count against `name`."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs) -> HttpResponse:
            request = next(arg for arg in args if isinstance(arg, HttpRequest))
            if request.method in methods:
                try:
                    enforce(name, request)
                except Throttled as refusal:
                    return error_answer(request, refusal)
            return view(*args, **kwargs)

        return wrapper

    return decorator


class CIMDFetchThrottle:
    """A CIMD registration permission (CIMD_REGISTRATION_PERMISSION_CLASSES): each URL client id
    this server has not seen yet costs an outbound fetch, so they are limited per IP and in
    total. DOT asks only before fetching (first sight, or a stale document)."""

    def has_permission(self, request, client_id: str) -> bool:
        enforce("cimd", request)
        return True


# --- Sign-in lockout (django-axes) -------------------------------------------------------------


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for sign-ins that come with a request (every HTTP sign-in).

    `authenticate()` without a request (Django's test client `login()`, management commands)
    has no client IP to key a lockout on; axes would refuse it outright, so it is left to the
    next backend instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_seconds(request: HttpRequest | None = None) -> int:
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 0


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After, as a page or JSON.

    Every failure during a lockout restarts the cool-off (axes' default), so the whole cool-off
    is what the client has to wait from now.
    """
    seconds = max(1, lockout_seconds(request))
    verdict = ThrottleVerdict(allowed=False, hits=0, limit=settings.AXES_FAILURE_LIMIT, retry_after=seconds)
    return too_many_requests(
        verdict, "Too many failed sign-in attempts for this account from your address; try again later", request
    )


def prune_counters(now: float | None = None, keep_seconds: int = 86400) -> int:
    """Delete the counters of windows that ended long ago (run by `manage.py prune_clients`)."""
    now = time.time() if now is None else now
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=now - keep_seconds).delete()
    return deleted
