"""Where the token lookup of `/mcp` runs: on PostgreSQL, on the event loop itself.

The lookup is one short indexed query. Run on a database thread (`mcpserver.db.run_db`, how every
other query of the MCP side runs), it cost far more than the query: under load the event loop
and the database threads hand the GIL back and forth, and an authenticated `tools/list` served
at less than half the rate it reached without the hop (docs/performance.md). On PostgreSQL the
lookup therefore goes through one asynchronous psycopg connection per worker, in autocommit
(nothing is left open between lookups), with the same connection parameters and type adapters
as Django's. One query at a time runs on it; a lookup takes a fraction of a millisecond, so the
queue stays short.

A broken connection (the database restarted) is dropped and the lookup retried once on a new
one, like `run_db` does; if that fails too, `DatabaseUnavailable` makes the gate answer 503, and
the next lookup connects again. Other databases (SQLite) keep the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable

import psycopg
from django.db import connections

from .db import DatabaseUnavailable, run_db

CONNECT_TIMEOUT = 5  # seconds; past these the gate answers 503 rather than waiting
QUERY_TIMEOUT = 5

# Statements this module sent (bench/queries.py adds them to the ones Django ran).
executed = 0


class _Connection:
    """One asynchronous connection per event loop, used by one lookup at a time."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock: asyncio.Lock | None = None
        self.conn: psycopg.AsyncConnection | None = None
        self.sql: str | None = None

    def _for_this_loop(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self.close_now()  # a connection of another (finished) event loop
            self.loop, self.lock = loop, asyncio.Lock()
        return self.lock

    def close_now(self) -> None:
        """Close the connection without its event loop (libpq's own close is synchronous)."""
        conn, self.conn = self.conn, None
        if conn is not None and not conn.closed:
            conn.pgconn.finish()

    async def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def row(self, checksum: str, sql_of: Callable[[], str]) -> tuple | None:
        global executed
        if self.sql is None:
            self.sql = await run_db(sql_of)  # compiled by the ORM once, away from the event loop
        async with self._for_this_loop():
            for attempt in (1, 2):
                try:
                    async with asyncio.timeout(QUERY_TIMEOUT):
                        if self.conn is None or self.conn.closed:
                            self.conn = await connect()
                        executed += 1
                        cursor = await self.conn.execute(self.sql, [checksum])
                        return await cursor.fetchone()
                except TimeoutError as exc:
                    # A database that does not answer (rather than refusing): 503 now, a new
                    # connection next time.
                    await self._drop()
                    raise DatabaseUnavailable("the token lookup timed out") from exc
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    await self._drop()
                    if attempt == 2:
                        raise DatabaseUnavailable(str(exc)) from exc
        return None  # not reached


_connection = _Connection()


async def connect(application_name: str = "mcp-token-lookup") -> psycopg.AsyncConnection:
    """A new asynchronous autocommit connection to Django's default database, with its parameters
    (`application_name` tells the connections apart in pg_stat_activity)."""
    params = connections["default"].get_connection_params()
    params.pop("cursor_factory", None)  # Django's is a synchronous cursor
    params.setdefault("connect_timeout", CONNECT_TIMEOUT)
    params.setdefault("application_name", application_name)
    return await psycopg.AsyncConnection.connect(autocommit=True, cursor_factory=psycopg.AsyncClientCursor, **params)


def close() -> None:
    """Close this process's lookup connection (the application's lifespan ends with this)."""
    _connection.close_now()


@functools.cache
def on_postgresql() -> bool:
    # Asked once: looking a connection up in Django's registry costs more than the lookup's
    # own Python work (asgiref's context-local storage).
    return connections["default"].vendor == "postgresql"


async def fetch(checksum: str, lookup: Callable[[str], tuple | None], sql_of: Callable[[], str]) -> tuple | None:
    """The token row for `checksum`: `lookup` on a database thread, or on PostgreSQL the same
    statement (`sql_of()`) on this event loop. Raises DatabaseUnavailable."""
    if not on_postgresql():
        return await run_db(lookup, checksum)
    # Shielded: a client that goes away mid-lookup must not leave the connection mid-query.
    return await asyncio.shield(_connection.row(checksum, sql_of))
