"""Start the co-located stack for the demo when nothing answers at its URL, the way `make run`
does (migrate, cache table, seed the users, gunicorn), and stop it again afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx2

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def answers(origin: str) -> bool:
    """Whether a server answers at this origin at all (any HTTP status counts)."""
    try:
        httpx2.get(origin + "/.well-known/oauth-authorization-server", timeout=3)
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
    log = tempfile.NamedTemporaryFile(prefix="mcp-demo-server-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.asgi:application", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not answers(origin):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; its log is {log.name}")
            time.sleep(0.3)
        say(f"Server started (pid {process.pid}, log {log.name}); it stops when the demo ends.")
        yield True
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()
