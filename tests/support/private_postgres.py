"""A private PostgreSQL instance for fault tests: `initdb` into a temporary folder, its own port
and socket folder, started, stopped (fast or immediate, i.e. a crash) and restarted by the test,
and removed at the end. Never the machine's shared server.

PostgreSQL refuses to run as root, so as root (CI) every command runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from tests.support.server import free_port, postgres_admin_url


def binaries() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl, if any."""
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if (Path(p) / "initdb").exists()]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else None


class PrivatePostgres:
    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or binaries()
        if self.bin_dir is None:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mcp-private-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.as_user = "postgres" if os.geteuid() == 0 else None
        if self.as_user:
            entry = pwd.getpwnam(self.as_user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=60"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        self.wait_accepting()
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` closes sessions and shuts down cleanly; `immediate` is a crash (recovery on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def wait_accepting(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        except subprocess.SubprocessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


def private_instance_for_the_postgres_pass() -> Iterator[PrivatePostgres | None]:
    """A started private instance in the PostgreSQL pass of the suite (DATABASE_URL=postgres://…),
    removed afterwards; None in the SQLite pass, or (outside CI) where no binaries are installed.
    CI must run the fault test, so there a missing binary is an error, not a skip."""
    if postgres_admin_url() is None:
        yield None
        return
    bin_dir = binaries()
    if bin_dir is None:
        if os.environ.get("CI", "").lower() == "true":
            raise RuntimeError("CI runs the database fault test, but no PostgreSQL binaries are installed")
        yield None
        return
    instance = PrivatePostgres(bin_dir).init().start()
    try:
        yield instance
    finally:
        instance.destroy()
