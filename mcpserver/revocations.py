"""Revocations heard from PostgreSQL, so that every worker's token cache forgets a token at once.

The token cache (token_cache.py) is per process. Django's signals tell only the process that
made a change, so another worker or replica would go on accepting a revoked token until its
cache entry expired. On PostgreSQL, triggers (migration mcpserver 0002) send a NOTIFY on
`CHANNEL` when a transaction that revokes a token, or changes its client or user, commits; each
worker holds one connection that LISTENs and drops what it hears from its cache, typically well
under a millisecond after the commit.

The cache is used only while that connection is listening (`token_cache.usable`): when it
breaks, the cache is emptied and every token is looked up again until a new connection listens
(notifications sent meanwhile were not heard). A connection that stops answering without
breaking is found by a ping every `PING_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import psycopg
from django.conf import settings

from . import token_cache, token_lookup

CHANNEL = "mcp_token_revoked"
EVERYTHING = "*"  # the payload for "forget every token" (a client or user changed)
APPLICATION_NAME = "mcp-revocations"  # the listener's connection in pg_stat_activity
PING_SECONDS = 10.0
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # waits before reconnecting, the last one repeated

logger = logging.getLogger("mcpserver")


def wanted() -> bool:
    """Whether this process needs a listener: it verifies tokens in its own PostgreSQL (the
    combined role; a split resource server asks by introspection), with the cache on."""
    return token_cache.ttl() > 0 and settings.SERVER_ROLE == "combined" and token_lookup.on_postgresql()


def heard(payload: str) -> None:
    token_cache.invalidate(None if payload == EVERYTHING else payload)


async def listen_once(on_listening: Callable[[], None]) -> None:
    """Listen on one connection until it breaks or stops answering (raises psycopg.Error)."""
    conn = await token_lookup.connect(APPLICATION_NAME)
    try:
        await conn.execute(f"LISTEN {CHANNEL}")
        # Whatever was revoked before this point was not heard here: start from an empty cache.
        token_cache.invalidate()
        token_cache.set_listening(True)
        on_listening()
        while True:
            async for notify in conn.notifies(timeout=PING_SECONDS):
                heard(notify.payload)
            async with asyncio.timeout(token_lookup.QUERY_TIMEOUT):
                await conn.execute("SELECT 1")
    finally:
        token_cache.set_listening(False)
        with contextlib.suppress(psycopg.Error, OSError):
            await conn.close()


async def listen_forever() -> None:
    failures = 0

    def listened() -> None:
        nonlocal failures
        failures = 0

    while True:
        try:
            await listen_once(listened)
        except Exception as exc:  # noqa: BLE001 (whatever stopped it, listen again: without it the cache is unused)
            if failures == 0:
                name = type(exc).__name__
                logger.warning("revocation listener lost (%s): tokens are looked up until it is back", name)
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1


@contextlib.asynccontextmanager
async def listening() -> AsyncIterator[None]:
    """Runs the listener for as long as the application (its ASGI lifespan) runs, when wanted."""
    if not wanted():
        yield
        return
    task = asyncio.create_task(listen_forever(), name="revocation-listener")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
