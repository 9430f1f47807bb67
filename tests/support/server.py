"""A real server for end-to-end tests: migrate, seed, and gunicorn with uvicorn workers, on a
free port and a database of its own (a SQLite file, or a fresh PostgreSQL database when the
suite runs on PostgreSQL)."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

import psycopg

from democlient.processes import GUNICORN, READY_PATH, ROOT, ServerProcess, free_port

__all__ = ["ROOT", "LiveServer", "free_port", "postgres_admin_url"]
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password-for-tests"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-password-for-tests"
OTHER_USERNAME = "other"
OTHER_PASSWORD = "other-password-for-tests"


# Overrides that change what the database holds: such servers are set up from scratch.
SETUP_KEYS = {"DEMO_USERNAME", "DEMO_PASSWORD", "ADMIN_USERNAME", "ADMIN_PASSWORD", "SERVER_ROLE", "EXTRA_APPS"}
_templates: dict[bool, str] = {}


def database_template(sqlite: bool) -> str:
    """A migrated, seeded database that servers start from as a copy (a file or a PostgreSQL
    template), so that each test server costs a copy rather than a full migration."""
    if sqlite not in _templates:
        builder = LiveServer(name="template", sqlite=sqlite)
        if builder.database_name is not None:
            atexit.register(_drop_database, builder.database_name)
        builder.set_up_database()
        if sqlite or builder.database_name is None:
            path = builder.workdir / "db.sqlite3"
            with closing(sqlite3.connect(path)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file
            _templates[sqlite] = str(path)
        else:
            _templates[sqlite] = builder.database_name
    return _templates[sqlite]


def _drop_database(name: str) -> None:
    with psycopg.connect(postgres_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_admin_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


class LiveServer:
    """One server process tree; `url` is its PUBLIC_URL."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        workers: int = 2,
        name: str = "live",
        sqlite: bool = False,
        database_url: str | None = None,
        replica_of: LiveServer | None = None,
    ) -> None:
        """`sqlite=True` keeps the SQLite default even when the suite runs on PostgreSQL;
        `database_url` is a database of the caller's (e.g. a private PostgreSQL instance);
        `replica_of`: another server of the same deployment, whose database (set up already) this
        one shares."""
        self.replica_of = replica_of
        if replica_of is not None:
            database_url = replica_of.database_url
        self.sqlite = sqlite
        self.overrides = dict(env or {})
        self.workers = workers
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"mcp-{name}-"))
        self.log_path = self.workdir / "server.log"
        self.server: ServerProcess | None = None
        self.database_name: str | None = None
        self.given_database = database_url is not None
        self.database_url = database_url or self._create_database()

    @property
    def mcp_url(self) -> str:
        return self.url + "/mcp"

    @property
    def process(self) -> subprocess.Popen | None:
        """gunicorn's master process, once started."""
        return self.server.process if self.server else None

    def _create_database(self) -> str:
        admin = postgres_admin_url()
        if admin is None or self.sqlite:
            return f"sqlite:///{self.workdir / 'db.sqlite3'}"
        self.database_name = f"e2e_{self.name}_{secrets.token_hex(4)}".lower()
        with psycopg.connect(admin, autocommit=True) as conn:  # exists (empty) from now on
            conn.execute(f'CREATE DATABASE "{self.database_name}"')
        base, _, _ = admin.rpartition("/")
        return f"{base}/{self.database_name}"

    def _uses_template(self) -> bool:
        # A server whose users or role differ from the defaults sets its database up itself, and
        # so does one given a database of the caller's (another PostgreSQL server has no template).
        return not (SETUP_KEYS & self.overrides.keys()) and not self.given_database

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run one SQL statement on this server's database (e.g. to let time pass for a token).

        Placeholders are written `%s` for both engines."""
        if self.database_url.startswith("sqlite:///"):
            with sqlite3.connect(self.database_url.removeprefix("sqlite:///"), timeout=20) as conn:
                rows = conn.execute(sql.replace("%s", "?"), params).fetchall()
            conn.close()
            return rows
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "PYTEST_")) and key != "DATABASE_URL"
        }
        env.update(
            PYTHONPATH=str(ROOT),
            DJANGO_SETTINGS_MODULE="config.settings",
            PUBLIC_URL=self.url,
            PORT=str(self.port),
            BIND=f"127.0.0.1:{self.port}",
            DATABASE_URL=self.database_url,
            SECRET_KEY="e2e-secret-key-" + "x" * 40,
            DEBUG="0",
            WEB_CONCURRENCY=str(self.workers),
            DEMO_USERNAME=DEMO_USERNAME,
            DEMO_PASSWORD=DEMO_PASSWORD,
            ADMIN_USERNAME=ADMIN_USERNAME,
            ADMIN_PASSWORD=ADMIN_PASSWORD,
            MCP_CONFORMANCE_FIXTURES="1",
            CIMD_FETCHER="tests.support.cimd_stub.StubFetcher",
            CIMD_STUB_DOCUMENTS=str(self.workdir / "cimd.json"),
            REGISTRATION_RATE_LIMIT="1000",
            # The abuse limits (authserver/throttling.py) out of the way of tests that run many
            # flows from 127.0.0.1; tests of the limits themselves set them low in `env`.
            REGISTRATION_GLOBAL_RATE_LIMIT="100000",
            TOKEN_RATE_LIMIT="100000",
            TOKEN_GLOBAL_RATE_LIMIT="100000",
            LOGIN_RATE_LIMIT="100000",
            LOGIN_GLOBAL_RATE_LIMIT="100000",
            LOGIN_FAILURE_LIMIT="1000",
            CIMD_FETCH_RATE_LIMIT="100000",
            CIMD_FETCH_GLOBAL_RATE_LIMIT="100000",
            LOG_LEVEL="WARNING",
            # The tests sign in as the administrator with a password alone; the enrolment that
            # MFA_REQUIRED_FOR_STAFF enforces is tested on its own (tests/test_mfa*.py).
            MFA_REQUIRED_FOR_STAFF="0",
        )
        env.update(self.overrides)
        return env

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.environment(),
            capture_output=True,
            text=True,
            check=check,
            timeout=180,
        )

    def set_up_database(self) -> None:
        """Migrate and seed this server's database (demo, admin and a second user)."""
        self.manage("migrate", "--noinput")
        self.manage("createcachetable")
        self.manage("seed_users")
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            f"User.objects.filter(username={OTHER_USERNAME!r}).exists() or "
            f"User.objects.create_user({OTHER_USERNAME!r}, password={OTHER_PASSWORD!r})",
        )

    def _copy_template(self) -> None:
        template = database_template(sqlite=self.database_name is None)
        if self.database_name is None:
            shutil.copyfile(template, self.workdir / "db.sqlite3")
        else:
            with psycopg.connect(postgres_admin_url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{self.database_name}"')
                conn.execute(f'CREATE DATABASE "{self.database_name}" TEMPLATE "{template}"')

    def start(self) -> LiveServer:
        if self.replica_of is not None:
            pass  # the database is the other server's, migrated and seeded
        elif self._uses_template():
            self._copy_template()
        else:
            self.set_up_database()
        self.server = ServerProcess(GUNICORN, self.log_path, env=self.environment()).launch()
        self.server.wait_ready(self.url + READY_PATH, timeout=60)
        return self

    def log_tail(self, lines: int = 40) -> str:
        return self.server.log_tail(lines) if self.server else ""

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=20)
        admin = postgres_admin_url()
        if admin and self.database_name and not self.sqlite:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
