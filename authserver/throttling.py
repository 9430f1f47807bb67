"""Fixed-window rate limits whose counters live in the database, shared by every worker and
replica.

Written by hand because Django's cache `incr` is a read-then-write on the database and file
caches, so parallel requests on several workers would under-count; one `INSERT … ON CONFLICT
DO UPDATE … RETURNING` statement counts atomically on both SQLite (≥ 3.35) and PostgreSQL.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse

from .models import RateLimitCounter


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    hits: int
    limit: int
    retry_after: int  # seconds until the window ends


def hit(key: str, limit: int, window: int, now: float | None = None) -> Verdict:
    """Count one hit for `key`; allowed while the window's count stays within `limit`."""
    now = time.time() if now is None else now
    window_start = int(now // window) * window
    q = connection.ops.quote_name
    table, key_col, window_col, hits_col = (
        q(RateLimitCounter._meta.db_table),
        q("key"),
        q("window_start"),
        q("hits"),
    )
    sql = (
        f"INSERT INTO {table} ({key_col}, {window_col}, {hits_col}) VALUES (%s, %s, 1) "  # noqa: S608
        f"ON CONFLICT ({key_col}, {window_col}) DO UPDATE SET {hits_col} = {table}.{hits_col} + 1 "
        f"RETURNING {hits_col}"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [key[:200], window_start])
        hits = cursor.fetchone()[0]
    retry_after = max(1, math.ceil(window_start + window - now))
    return Verdict(allowed=hits <= limit, hits=hits, limit=limit, retry_after=retry_after)


def client_ip(request: HttpRequest) -> str:
    """The peer address; behind a trusted proxy uvicorn has already put the real client here."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def too_many_requests(verdict: Verdict, description: str) -> JsonResponse:
    response = JsonResponse(
        {"error": "too_many_requests", "error_description": description, "retry_after": verdict.retry_after},
        status=429,
    )
    response["Retry-After"] = str(verdict.retry_after)
    return response


def prune_counters(now: float | None = None, keep_seconds: int = 86400) -> int:
    """Delete counters of windows that ended long ago; returns how many went."""
    now = time.time() if now is None else now
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=now - keep_seconds).delete()
    return deleted
