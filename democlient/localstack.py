"""Start the co-located stack for the demo when nothing answers at its URL, the way `make run`
does (migrate, cache table, seed the users, gunicorn), and stop it again afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx2

from .processes import GUNICORN, READY_PATH, ROOT, ServerProcess

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def answers(origin: str) -> bool:
    """Whether a server answers at this origin at all (any HTTP status counts)."""
    try:
        httpx2.get(origin + READY_PATH, timeout=3)
    except httpx2.HTTPError:
        return False
    return True


@contextmanager
def running_stack(origin: str, say: Callable[[str], None], timeout: float = 90) -> Iterator[bool]:
    """Yield True after starting the stack at `origin` (and stop it on exit), or False if
    something already answers there."""
    if answers(origin):
        yield False
        return
    parts = urlsplit(origin)
    if parts.hostname not in LOOPBACK or parts.scheme != "http":
        raise RuntimeError(
            f"Nothing answers at {origin}, and the demo starts a server only on a loopback http URL: "
            "start the stack first (make run, or docker compose up)."
        )
    port = parts.port or 80
    env = dict(os.environ, PUBLIC_URL=origin, PORT=str(port), BIND=f"{parts.hostname}:{port}")
    say(f"Nothing answers at {origin}: setting up the database and starting the server for the demo…")
    for args in (("migrate", "--noinput"), ("createcachetable",), ("seed_users",)):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    log = Path(tempfile.mkdtemp(prefix="mcp-demo-server-")) / "server.log"
    server = ServerProcess(GUNICORN, log, env=env).launch()
    try:
        server.wait_ready(origin + READY_PATH, timeout=timeout, any_status=True)
        say(f"Server started (pid {server.process.pid}, log {log}); it stops when the demo ends.")
        yield True
    finally:
        server.stop(grace=20)
