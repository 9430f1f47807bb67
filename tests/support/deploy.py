"""The container's start, outside a container: `docker/entrypoint.sh` run as a process tree
(wait for the database, migrate, seed, then gunicorn with uvicorn workers) on a free loopback
port, against its own database (a SQLite file, or a fresh PostgreSQL database when the suite
runs on PostgreSQL), or against another server's database, as replicas share one.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

from democlient.processes import ServerProcess
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    ROOT,
    free_port,
    postgres_admin_url,
)

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
VENV_BIN = str(Path(sys.executable).parent)


class Database:
    """A database of its own for a test server (or for several, as replicas share one)."""

    def __init__(self, name: str, workdir: Path) -> None:
        admin = postgres_admin_url()
        self.name: str | None = None
        if admin is None:
            self.url = f"sqlite:///{workdir / 'db.sqlite3'}"
            return
        self.name = f"deploy_{name}_{secrets.token_hex(4)}".lower()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = admin.rpartition("/")[0] + "/" + self.name

    @property
    def is_postgres(self) -> bool:
        return self.name is not None

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        """One SQL statement (placeholders written `%s` for both engines)."""
        if not self.is_postgres:
            import sqlite3

            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=20)
            try:
                with conn:
                    return conn.execute(sql.replace("%s", "?"), params).fetchall()
            finally:
                conn.close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def drop(self) -> None:
        admin = postgres_admin_url()
        if admin and self.name:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class EntrypointServer:
    """One `docker/entrypoint.sh` process tree. `local_url` is where it listens; `public_url` is
    its PUBLIC_URL (an https origin when a test plays the TLS proxy in front of it)."""

    def __init__(
        self,
        name: str,
        env: dict[str, str] | None = None,
        database: Database | None = None,
        public_url: str | None = None,
        workers: int = 2,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port or free_port()
        self.local_url = f"http://{host}:{self.port}"
        self.public_url = public_url or self.local_url
        self.workdir = Path(tempfile.mkdtemp(prefix=f"mcp-deploy-{name}-"))
        self.log_path = self.workdir / "server.log"
        self.owns_database = database is None
        self.database = database or Database(name, self.workdir)
        self.overrides = dict(env or {})
        self.workers = workers
        self.server: ServerProcess | None = None

    @property
    def mcp_url(self) -> str:
        return self.public_url + "/mcp"

    def environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "PYTEST_")) and key not in ("DATABASE_URL", "PORT", "BIND")
        }
        env.update(
            # The image puts its virtualenv first on PATH; so does this.
            PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
            PUBLIC_URL=self.public_url,
            BIND=f"{self.host}:{self.port}",
            DATABASE_URL=self.database.url,
            SECRET_KEY="deploy-test-secret-key-" + "y" * 40,
            DEBUG="0",
            WEB_CONCURRENCY=str(self.workers),
            DEMO_USERNAME=DEMO_USERNAME,
            DEMO_PASSWORD=DEMO_PASSWORD,
            ADMIN_USERNAME=ADMIN_USERNAME,
            ADMIN_PASSWORD=ADMIN_PASSWORD,
            CIMD_FETCHER="tests.support.cimd_stub.StubFetcher",
            CIMD_STUB_DOCUMENTS=str(self.workdir / "cimd.json"),
            LOG_LEVEL="INFO",
            DATABASE_WAIT_SECONDS="20",
        )
        env.update(self.overrides)
        return env

    @property
    def process(self) -> subprocess.Popen | None:
        """The process the entrypoint became (gunicorn's master, by `exec`), once launched."""
        return self.server.process if self.server else None

    def launch(self) -> EntrypointServer:
        """Start the process tree without waiting (start several, then wait for each)."""
        # The script finds the project itself, as in the image.
        self.server = ServerProcess([str(ENTRYPOINT)], self.log_path, env=self.environment(), cwd=self.workdir)
        self.server.launch()
        return self

    def start(self) -> EntrypointServer:
        return self.launch().wait_ready()

    def wait_ready(self, timeout: float = 150) -> EntrypointServer:
        assert self.server is not None
        self.server.wait_ready(self.local_url + "/readyz", timeout=timeout)
        return self

    def log_text(self) -> str:
        return self.server.log_text() if self.server else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: children of the process the entrypoint became (exec)."""
        assert self.process is not None
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children

    def command_line(self) -> str:
        assert self.process is not None
        return Path(f"/proc/{self.process.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a command with this server's environment (as `docker compose run` would)."""
        return subprocess.run(
            list(args),
            cwd=ROOT,
            env={**self.environment(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self, drop_database: bool = True) -> None:
        if self.server is not None:
            self.server.stop(grace=20)
        if drop_database and self.owns_database:
            self.database.drop()


def port_free_on(*hosts: str) -> int:
    """A port free on each of these loopback addresses (replicas behind one DNS name share one)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        try:
            for host in hosts:
                with socket.socket() as other:
                    other.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no port free on all of {hosts}")


def start_all(*servers: EntrypointServer) -> None:
    """Launch every server at once (replicas really do start together), then wait for each;
    on failure, stop them all."""
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
    except BaseException:
        stop_all(*servers)
        raise


def stop_all(*servers: EntrypointServer) -> None:
    """Stop every process tree first, then drop the databases (replicas share one)."""
    for server in servers:
        server.stop(drop_database=False)
    for server in servers:
        server.database.drop()
