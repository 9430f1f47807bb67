"""Everything the web container does before it serves (docker/entrypoint.sh runs this):

1. wait until the database answers (DATABASE_WAIT_SECONDS; a managed database or a slow volume
   may take a while, and `depends_on` does not exist outside compose);
2. migrate, create the cache table, seed the demo user and the administrator from the
   environment (`manage.py seed_users`), and, for a split authorization server, the resource
   server's introspection client; then print the callback URLs to register at the identity
   providers (`manage.py sso_callback_urls`).

Step 2 runs under a lock, because replicas of the web service start together against one
database and concurrent migrations fail: a PostgreSQL advisory lock, or a file lock beside a
SQLite database. Whoever comes second finds nothing left to do.

One Python process for all steps (rather than one `manage.py` call each) saves a Django start-up
per step; the output is JSON lines, like the server's.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Any fixed number, the same in every replica: the key of the PostgreSQL advisory lock.
MIGRATION_LOCK_KEY = 7_262_025


def log(message: str, level: str = "INFO", **fields: object) -> None:
    line = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": "prestart",
        "message": message,
        **fields,
    }
    print(json.dumps(line), flush=True)


def wait_for_database(timeout: int) -> None:
    from django.db import OperationalError, connection

    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.ensure_connection()
            return
        except OperationalError as exc:
            connection.close()
            if time.monotonic() >= deadline:
                log(f"the database did not answer within {timeout}s", level="ERROR", error=type(exc).__name__)
                raise SystemExit(1) from exc
            log("waiting for the database", error=type(exc).__name__)
            time.sleep(1)


@contextmanager
def one_replica_at_a_time() -> Iterator[None]:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_KEY])
    elif connection.vendor == "sqlite":
        import fcntl

        with open(f"{connection.settings_dict['NAME']}.prestart-lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    else:
        yield


def run(command: str, *args: str, **options: object) -> None:
    from django.core.management import call_command

    output = io.StringIO()
    call_command(command, *args, stdout=output, **options)
    for line in output.getvalue().splitlines():
        if line.strip():
            log(line.strip(), command=command)


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import CommandError

    from authserver.introspection import ensure_introspection_client

    log("starting", role=settings.SERVER_ROLE, public_url=settings.PUBLIC_URL)
    wait_for_database(settings.DATABASE_WAIT_SECONDS)
    try:
        with one_replica_at_a_time():
            run("migrate", interactive=False, verbosity=1)
            run("createcachetable")
            run("seed_users")
            log(ensure_introspection_client(), command="seed_introspection_client")
        if settings.SERVER_ROLE != "resource":
            run("sso_callback_urls")  # what to register at the identity providers
    except (CommandError, ValueError) as exc:
        # A configuration mistake (e.g. a user without a password): say it plainly and stop.
        log(str(exc), level="ERROR")
        raise SystemExit(1) from exc
    log("ready to serve")


if __name__ == "__main__":
    main()
