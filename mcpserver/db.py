"""Database work for the MCP endpoint, which runs outside Django's request cycle.

`/mcp` is served by the MCP SDK's ASGI app, so Django's `request_started`/`request_finished`
signals never fire there and nothing would close a broken connection. Queries therefore run on
a small pool of threads, each keeping its own persistent connection, and `run_db` drops a
connection that failed so that the next call reconnects (the database may have restarted).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=int(os.environ.get("MCP_DB_THREADS", "4")), thread_name_prefix="mcp-db")


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
