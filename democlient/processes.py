"""Server processes of our own, the one launcher of the demo, the tests and the benchmark: a
command started in a session of its own with its output appended to a log file, waited for until
it answers, and stopped with its whole process tree (gunicorn's master and workers, or the
container's entrypoint and what it starts). `make demo` starts the stack with it
(`localstack.py`), the end-to-end tests their servers (tests/support/server.py, deploy.py), and
`make bench` both servers it compares (bench/run.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx2

ROOT = Path(__file__).resolve().parent.parent
# `make run`'s server, as deployed: gunicorn with uvicorn workers (gunicorn.conf.py).
GUNICORN = [sys.executable, "-m", "gunicorn", "config.asgi:application", "-c", "gunicorn.conf.py"]
# Answered by every server here (ours and the benchmark's peer) once it serves requests.
READY_PATH = "/.well-known/oauth-authorization-server"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One server's process tree. `launch` starts it, `wait_ready` waits until a URL answers,
    `stop` ends the whole tree (SIGTERM, then SIGKILL after a grace period)."""

    def __init__(self, command: list[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path = ROOT):
        self.command = command
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def launch(self) -> ServerProcess:
        """Start the process without waiting (start several, then wait for each)."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `stop` ends the workers too
        )
        return self

    def wait_ready(self, url: str, timeout: float = 90, any_status: bool = False) -> ServerProcess:
        """Wait until `url` answers 200 (any status with `any_status`); RuntimeError with the
        end of the log if the process exits first or nothing answers in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.process.returncode}) before answering {url}:\n{self.log_tail()}"
                )
            try:
                answer = httpx2.get(url, timeout=2)
            except httpx2.HTTPError:
                answer = None
            if answer is not None and (any_status or answer.status_code == 200):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"nothing answered {url} within {timeout} s:\n{self.log_tail()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, grace: float = 30) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None
