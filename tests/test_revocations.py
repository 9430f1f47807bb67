"""Revocations reach every worker's token cache (mcpserver/revocations.py), on PostgreSQL.

A real gunicorn server with its default settings (on PostgreSQL the cache is on), and this test
process changing the database the way another worker or replica would: its Django signals
cannot reach the server, so only the database's notifications can."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import psycopg
import pytest

from democlient import mcp_calls
from mcpserver.revocations import APPLICATION_NAME
from mcpserver.tokens import checksum
from tests.support.server import LiveServer, postgres_admin_url

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        postgres_admin_url() is None,
        reason="PostgreSQL only: runs in the PostgreSQL pass of `make test` (DATABASE_URL=postgres://…), as in CI",
    ),
]

DEADLINE = 2.0  # seconds; a cache that did not hear would keep the token for its 30


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    # One worker, so that "the worker that cached the token" is every worker; the test process
    # plays the other one.
    with LiveServer(name="revocations", workers=1) as live:
        yield live


@pytest.fixture
def kit(server: LiveServer, http: httpx2.Client):
    from tests.conftest import TokenKit

    return TokenKit(server, http)


def status(http: httpx2.Client, server: LiveServer, token: str) -> int:
    return mcp_calls.call(http, server.mcp_url, token, "tools/list").status


def without_notifying(server: LiveServer, sql: str, params: tuple) -> None:
    """Change the database with its triggers off (replication role): nobody is told."""
    with psycopg.connect(server.database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(sql, params)


def first_refusal(http: httpx2.Client, server: LiveServer, token: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE:
        if status(http, server, token) == 401:
            return time.monotonic() - started
    pytest.fail(f"the token was still accepted {DEADLINE} s after its revocation")


def listener_pids(server: LiveServer) -> list[int]:
    rows = server.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
        (APPLICATION_NAME,),
    )
    return [pid for (pid,) in rows]


def test_the_cache_answers_for_a_token_it_accepted(server, http, kit) -> None:
    token = kit.tokens()["access_token"]
    assert status(http, server, token) == 200
    # Gone from the database without a word: only the cache can still accept it.
    without_notifying(server, "DELETE FROM oauth2_provider_accesstoken WHERE token_checksum = %s", (checksum(token),))
    assert status(http, server, token) == 200
    assert len(listener_pids(server)) == 1


@pytest.mark.parametrize(
    "revoke",
    [
        "WITH gone AS (DELETE FROM oauth2_provider_refreshtoken WHERE access_token_id = "
        "(SELECT id FROM oauth2_provider_accesstoken WHERE token_checksum = %(c)s)) "
        "DELETE FROM oauth2_provider_accesstoken WHERE token_checksum = %(c)s",
        "UPDATE oauth2_provider_accesstoken SET expires = now() - interval '1 second' WHERE token_checksum = %(c)s",
        "UPDATE authserver_client SET is_enabled = false WHERE id = "
        "(SELECT application_id FROM oauth2_provider_accesstoken WHERE token_checksum = %(c)s)",
        "UPDATE authserver_client SET approval = 'quarantined' WHERE id = "
        "(SELECT application_id FROM oauth2_provider_accesstoken WHERE token_checksum = %(c)s)",
    ],
    ids=["token revoked", "token expired early", "client disabled", "client quarantined"],
)
def test_a_change_committed_elsewhere_is_heard_at_once(server, http, kit, revoke: str) -> None:
    token = kit.tokens()["access_token"]
    assert status(http, server, token) == 200  # now in the cache
    server.execute(revoke, {"c": checksum(token)})
    waited = first_refusal(http, server, token)
    assert waited < DEADLINE
    assert [status(http, server, token) for _ in range(5)] == [401] * 5


def test_a_revoke_through_the_api_is_heard(server, http, kit) -> None:
    issued = kit.tokens()
    assert status(http, server, issued["access_token"]) == 200
    revoked = http.post(
        server.url + "/revoke", data={"token": issued["access_token"], "client_id": issued["client_id"]}
    )
    assert revoked.status_code == 200
    first_refusal(http, server, issued["access_token"])


def test_a_sign_in_does_not_empty_the_cache(server, http, kit) -> None:
    token = kit.tokens()["access_token"]
    assert status(http, server, token) == 200
    without_notifying(server, "DELETE FROM oauth2_provider_accesstoken WHERE token_checksum = %s", (checksum(token),))
    server.execute("UPDATE auth_user SET last_login = now()")  # no verdict depends on it: no notification
    time.sleep(0.2)
    assert status(http, server, token) == 200


def test_without_its_listener_the_cache_is_not_used(server, http, kit) -> None:
    token = kit.tokens()["access_token"]
    assert status(http, server, token) == 200
    (pid,) = listener_pids(server)
    server.execute("SELECT pg_terminate_backend(%s)", (pid,))
    # Revoked while nobody listens: the worker must not answer from its cache any more.
    without_notifying(server, "DELETE FROM oauth2_provider_accesstoken WHERE token_checksum = %s", (checksum(token),))
    first_refusal(http, server, token)
    # The listener comes back by itself, and with it the cache.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and [p for p in listener_pids(server) if p != pid] == []:
        time.sleep(0.1)
    assert len([p for p in listener_pids(server) if p != pid]) == 1
    again = kit.tokens()["access_token"]
    assert status(http, server, again) == 200
    without_notifying(server, "DELETE FROM oauth2_provider_accesstoken WHERE token_checksum = %s", (checksum(again),))
    assert status(http, server, again) == 200
