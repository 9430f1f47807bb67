"""Fill the access-token table up to N rows, fast, for the large-table phase of `make bench`.

Reads {"rows": N} on stdin, prints {"rows": …, "inserted": …, "seconds": …, "size": …}. Runs with
our server's settings (DATABASE_URL of the benchmark's own database). The rows are live tokens
of the benchmark user's client, like the real ones except that nobody holds their secrets: the
checksums are SHA-256 of random strings. PostgreSQL builds them in one INSERT … SELECT over
generate_series; SQLite gets them through executemany in one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import DatabaseError, connection, transaction  # noqa: E402
from oauth2_provider.models import get_access_token_model  # noqa: E402

from authserver.models import Client  # noqa: E402

CHUNK = 250_000


def main() -> None:
    wanted = int(json.loads(sys.stdin.read())["rows"])
    model = get_access_token_model()
    table = connection.ops.quote_name(model._meta.db_table)
    user_id = get_user_model().objects.get(username=settings.DEMO_USERNAME).pk
    application_id = Client.objects.order_by("pk").values_list("pk", flat=True).first()
    have = model.objects.count()
    missing = max(0, wanted - have)
    salt = secrets.token_hex(8)
    resource = json.dumps([settings.MCP_URL])
    columns = "token, expires, scope, application_id, user_id, created, updated, token_checksum, resource"
    started = time.monotonic()
    if connection.vendor == "postgresql":
        done = 0
        while done < missing:
            batch = min(CHUNK, missing - done)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) "  # noqa: S608 (our own table name)
                    "SELECT '', now() + interval '1 hour', 'mcp:read', %s, %s, now(), now(), "
                    "encode(sha256(convert_to(%s || g::text, 'UTF8')), 'hex'), %s::jsonb "
                    "FROM generate_series(%s, %s) AS g",
                    [application_id, user_id, f"bench-{salt}-", resource, done + 1, done + batch],
                )
            done += batch
        # The background work a bulk insert leaves (vacuum, statistics, the checkpoint of its
        # write-ahead log) is done now, so that it does not run during the measurement after.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
            with contextlib.suppress(DatabaseError):  # a role without the right to: skipped
                cursor.execute("CHECKPOINT")
            cursor.execute("SELECT pg_size_pretty(pg_total_relation_size(%s))", [model._meta.db_table])
            size = cursor.fetchone()[0]
    else:
        now = datetime.now(UTC).replace(tzinfo=None)
        expires = (now + timedelta(hours=1)).isoformat(sep=" ")
        created = now.isoformat(sep=" ")

        def rows(start: int, count: int):
            for n in range(start, start + count):
                checksum = hashlib.sha256(f"bench-{salt}-{n}".encode()).hexdigest()
                yield ("", expires, "mcp:read", application_id, user_id, created, created, checksum, resource)

        done = 0
        while done < missing:
            batch = min(CHUNK, missing - done)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",  # noqa: S608
                    list(rows(done + 1, batch)),
                )
            done += batch
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            size = f"{pages * cursor.fetchone()[0] / 1024 / 1024:.0f} MB (whole file)"
    seconds = round(time.monotonic() - started, 1)
    print(json.dumps({"rows": model.objects.count(), "inserted": missing, "seconds": seconds, "size": size}))


if __name__ == "__main__":
    main()
