"""The SQLite default under concurrent load from several gunicorn workers: WAL, a busy timeout and
IMMEDIATE transactions mean writers queue instead of failing with "database is locked"."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest

from democlient import mcp_calls
from tests.conftest import TokenKit
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e

WORKERS = 4
ROUNDS = 24


def test_concurrent_writes_on_sqlite_never_fail() -> None:
    with LiveServer(workers=WORKERS, name="sqlite-load", sqlite=True) as server:
        assert server.database_url.startswith("sqlite:///")
        with httpx2.Client(timeout=60) as http:
            kit = TokenKit(server, http)
            writer = kit.tokens("mcp:read mcp:write")
            refresh_seeds = [kit.tokens("mcp:read") for _ in range(4)]

        def one_round(index: int) -> list[int]:
            with httpx2.Client(timeout=60) as client:
                statuses = []
                kit = TokenKit(server, client)
                registered = client.post(
                    server.url + "/register",
                    json={"redirect_uris": ["http://127.0.0.1:1/cb"], "token_endpoint_auth_method": "none"},
                )
                statuses.append(registered.status_code)
                reply = mcp_calls.call(
                    client,
                    server.mcp_url,
                    writer["access_token"],
                    "tools/call",
                    {"name": "create_note", "arguments": {"title": f"note {index}"}},
                )
                statuses.append(reply.status)
                if index < len(refresh_seeds):
                    seed = refresh_seeds[index]
                    refreshed = client.post(
                        server.url + "/token",
                        data={
                            "grant_type": "refresh_token",
                            "refresh_token": seed["refresh_token"],
                            "client_id": seed["client_id"],
                        },
                    )
                    statuses.append(refreshed.status_code)
                if index % 6 == 0:
                    statuses.append(200 if kit.tokens("mcp:read")["access_token"] else 500)
                return statuses

        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = [status for batch in pool.map(one_round, range(ROUNDS)) for status in batch]
        with httpx2.Client(timeout=60) as http:
            notes = mcp_calls.call(
                http, server.mcp_url, writer["access_token"], "tools/call", {"name": "search_notes", "arguments": {}}
            ).result["structuredContent"]
        log = server.log_path.read_text(errors="replace")

    assert "database is locked" not in log
    assert statuses.count(201) == ROUNDS  # every registration
    assert all(status in (200, 201) for status in statuses), sorted(set(statuses))
    assert notes["total"] == ROUNDS  # every write landed
