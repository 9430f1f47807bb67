"""Database work for the MCP endpoint, which runs outside Django's request cycle.

`/mcp` is served by the MCP SDK's ASGI app, so Django's `request_started`/`request_finished`
signals never fire there and nothing would close a broken connection. Queries therefore run on
a small pool of threads, each keeping its own persistent connection, and `run_db` drops a
connection that failed so that the next call reconnects (the database may have restarted).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=settings.MCP_DB_THREADS, thread_name_prefix="mcp-db")


class DatabaseUnavailable(Exception):
    """The database could not be reached; the caller answers 503."""


def _call_with_reconnect(fn: Callable[..., T], *args) -> T:
    try:
        return fn(*args)
    except (OperationalError, InterfaceError):
        # The connection (or the server behind it) went away: drop it and try once more on a
        # fresh one, so that a database restart costs no request that comes after it.
        connection.close()
    try:
        return fn(*args)
    except (OperationalError, InterfaceError) as exc:
        connection.close()
        raise DatabaseUnavailable(str(exc)) from exc


async def run_db(fn: Callable[..., T], *args) -> T:
    """Run `fn(*args)` on a database thread; DatabaseUnavailable if the database is down."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, functools.partial(_call_with_reconnect, fn, *args))


def _as_in_a_request(fn: Callable[..., T], *args, **kwargs) -> T:
    # What Django does around each request (its request_started/finished signals): drop a
    # connection that broke or outlived CONN_MAX_AGE, and health-check the next one
    # (CONN_HEALTH_CHECKS), so that a tool's first query after a database restart succeeds.
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


async def run_sync(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run a synchronous function (an app's tool, resource or prompt; ORM code) on a database
    thread, with the caller's context (so `current_user()` works there) and Django's
    connection handling. Exceptions are the function's own."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    call = functools.partial(context.run, _as_in_a_request, fn, *args, **kwargs)
    return await loop.run_in_executor(_executor, call)


def close_thread_connections() -> None:
    """Close the connection of every database thread (tests: so the test database can be dropped)."""
    threads = _executor._max_workers
    barrier = threading.Barrier(threads)  # one task per thread: each waits until all have one

    def close() -> None:
        barrier.wait(timeout=30)
        connection.close()

    for done in [_executor.submit(close) for _ in range(threads)]:
        done.result(timeout=60)
