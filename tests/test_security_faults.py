"""Faults: the database going away under load.

In process (both databases): a database error anywhere in a Django request, in a view or in a
middleware, is a 503 with Retry-After in the path's own format, never a 500.

End to end (in the PostgreSQL pass of `make test`; in CI a missing PostgreSQL binary fails it): a
private PostgreSQL instance that the test starts itself (initdb into a temporary folder, its
own port) behind a live server with two workers; requests run in threads while the database is
stopped (fast shutdown, then a crash) and restarted. During each outage the service answers 503
(Django and /mcp), it recovers by itself (same gunicorn processes), and every token issued
before the outages still works afterwards.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx2
import pytest
from django.db import OperationalError

from tests.support import figures
from tests.support.private_postgres import PrivatePostgres, private_instance_for_the_postgres_pass
from tests.support.security import Kit, new_ip, whoami
from tests.support.server import LiveServer, postgres_admin_url

# --- In process --------------------------------------------------------------------------------


def down(*args, **kwargs):
    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


def assert_503(response, html: bool) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Cache-Control"] == "no-store"
    if html:
        assert response["Content-Type"].startswith("text/html")
        assert b"temporarily unavailable" in response.content
    else:
        body = response.json()
        assert body["error"] == "temporarily_unavailable"
        assert body["error_description"]


@pytest.mark.django_db
def test_database_error_in_a_view_is_503_json_on_the_api(client, monkeypatch) -> None:
    monkeypatch.setattr("authserver.throttling.count_hits", down)
    assert_503(client.post("/token", {"grant_type": "refresh_token", "refresh_token": "x"}), html=False)
    assert_503(
        client.post("/register", data={"redirect_uris": ["http://127.0.0.1/cb"]}, content_type="application/json"),
        html=False,
    )


@pytest.mark.django_db
def test_database_error_on_a_page_is_a_503_page(client, monkeypatch) -> None:
    monkeypatch.setattr("authserver.views.client_named_in", down)
    assert_503(client.get("/accounts/login/?next=/authorize%3Fclient_id%3Dx", HTTP_ACCEPT="text/html"), html=True)


@pytest.mark.django_db
def test_database_error_in_a_middleware_is_503_too(client, monkeypatch) -> None:
    # The session is loaded by a middleware, outside any view: Django itself would answer 500.
    from django.contrib.sessions.backends.db import SessionStore

    monkeypatch.setattr(SessionStore, "load", down)
    client.cookies["sessionid"] = "x" * 32
    assert_503(client.get("/account/apps/", HTTP_ACCEPT="text/html"), html=True)
    assert_503(client.get("/account/apps/"), html=False)  # a program gets JSON


@pytest.mark.django_db
def test_other_errors_are_not_taken_for_an_outage(client, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr("authserver.throttling.count_hits", broken)
    client.raise_request_exception = False
    response = client.post("/token", {"grant_type": "refresh_token", "refresh_token": "x"})
    assert response.status_code == 500  # a bug stays visible as one
    assert response.json()["error"] == "server_error"


# --- End to end, on a private PostgreSQL instance ------------------------------------------------------

OUTAGE_SECONDS = 2.0
RECOVERY_LIMIT = 30.0


@pytest.fixture(scope="module")
def private_postgres():
    """A private PostgreSQL instance, in the PostgreSQL pass only (see `private_postgres.py`)."""
    instances = private_instance_for_the_postgres_pass()
    instance = next(instances)
    if instance is None:
        if postgres_admin_url() is None:
            pytest.skip("runs in the PostgreSQL pass of `make test` (DATABASE_URL=postgres://…), as in CI")
        pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql/*/bin (CI has them)")
    yield instance
    instances.close()  # stops and removes it


def child_pids(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


@dataclass
class Answer:
    at: float
    probe: str
    status: int | None
    content_type: str
    retry_after: str | None
    body: str


class Load:
    """Threads that send a mix of requests, each touching the database, until stopped."""

    def __init__(self, server: LiveServer, tokens: list[dict]) -> None:
        self.server = server
        self.tokens = tokens
        self.answers: list[Answer] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(3)]

    def probes(self, http: httpx2.Client, n: int):
        url = self.server.url
        token = self.tokens[n % len(self.tokens)]
        return [
            ("mcp", lambda: whoami(http, self.server, token["access_token"])),
            (
                "register",
                lambda: http.post(
                    url + "/register",
                    json={"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"},
                ),
            ),
            ("token", lambda: http.post(url + "/token", data={"grant_type": "authorization_code", "code": "x"})),
            (
                "login-page",
                lambda: http.get(
                    url + "/accounts/login/?" + urlencode({"next": f"/authorize?client_id={token['client_id']}"}),
                    headers={"Accept": "text/html"},
                ),
            ),
            ("metadata", lambda: http.get(url + "/.well-known/oauth-authorization-server")),
        ]

    def run(self, n: int) -> None:
        with httpx2.Client(timeout=15, follow_redirects=False, headers={"X-Forwarded-For": new_ip()}) as http:
            probes = self.probes(http, n)
            i = n
            while not self.stopping.is_set():
                name, send = probes[i % len(probes)]
                i += 1
                try:
                    response = send()
                    answer = Answer(
                        time.monotonic(),
                        name,
                        response.status_code,
                        response.headers.get("content-type", ""),
                        response.headers.get("retry-after"),
                        response.text[:300],
                    )
                except httpx2.HTTPError as exc:
                    answer = Answer(time.monotonic(), name, None, "", None, repr(exc))
                with self.lock:
                    self.answers.append(answer)
                time.sleep(0.02)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def since(self, moment: float) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.at >= moment]


NORMAL = {"mcp": {200}, "register": {201}, "token": {400, 401}, "login-page": {200}, "metadata": {200}}
NEEDS_DATABASE = ("mcp", "register", "token", "login-page")


def recovered(answers: list[Answer]) -> bool:
    latest = {}
    for answer in answers:
        latest[answer.probe] = answer.status
    return all(latest.get(probe) in NORMAL[probe] for probe in NEEDS_DATABASE)


def outage(pg: PrivatePostgres, load: Load, mode: str) -> tuple[float, float, list[Answer]]:
    """Stop the database (mode), keep it down until both roles have answered 503 and
    OUTAGE_SECONDS have passed, start it again; (seconds down, seconds to recover, answers)."""
    stopped_at = time.monotonic()
    pg.stop(mode)
    deadline = stopped_at + 20
    while time.monotonic() < deadline:
        during = load.since(stopped_at + 0.5)
        probes_503 = {a.probe for a in during if a.status == 503}
        if {"mcp", "register", "login-page"} <= probes_503 and time.monotonic() - stopped_at >= OUTAGE_SECONDS:
            break
        time.sleep(0.1)
    pg.start()
    started_at = time.monotonic()
    while time.monotonic() < started_at + RECOVERY_LIMIT:
        if recovered(load.since(started_at + 0.2)):
            break
        time.sleep(0.1)
    recovery = time.monotonic() - started_at
    time.sleep(0.5)
    return started_at - stopped_at, recovery, load.since(stopped_at)


def assert_503_format(answer: Answer) -> None:
    assert answer.retry_after is not None and int(answer.retry_after) >= 1, answer
    if answer.probe == "login-page":
        assert answer.content_type.startswith("text/html"), answer
    else:
        assert answer.content_type.startswith("application/json"), answer
        body = json.loads(answer.body)
        assert body["error"] == "temporarily_unavailable", answer


@pytest.mark.e2e
def test_database_outage_503_then_recovery_with_no_token_lost(private_postgres) -> None:
    pg = private_postgres
    server = LiveServer(name="fault", workers=2, database_url=pg.create_database("fault"))
    server.start()
    kit = Kit(server)
    try:
        issued = [kit.tokens() for _ in range(3)]
        master = server.process.pid
        workers = child_pids(master)
        assert len(workers) == 2

        with Load(server, issued) as load:
            deadline = time.monotonic() + 15
            while not recovered(load.since(0)) and time.monotonic() < deadline:
                time.sleep(0.1)  # every probe answered normally at least once
            assert recovered(load.since(0)), [a for a in load.answers if a.status not in NORMAL[a.probe]][:5]
            issued.append(kit.tokens())  # issued a moment before the database goes away
            outages = [outage(pg, load, "fast"), outage(pg, load, "immediate")]

        for seconds_down, recovery, answers in outages:
            assert recovery < RECOVERY_LIMIT, "did not recover by itself"
            by_probe: dict[str, set[int | None]] = defaultdict(set)
            for answer in answers:
                by_probe[answer.probe].add(answer.status)
                assert answer.status in NORMAL[answer.probe] | {503}, answer  # never a 500 or a dropped request
                if answer.status == 503:
                    assert_503_format(answer)
            for probe in NEEDS_DATABASE:
                assert 503 in by_probe[probe], (probe, by_probe[probe])
            assert by_probe["metadata"] == {200}  # what needs no database keeps working
            figures.OUTAGE_SECONDS.append(seconds_down)
            figures.RECOVERY_SECONDS.append(recovery)

        # Same processes: the service recovered by itself, nothing was restarted.
        assert server.process.poll() is None and server.process.pid == master
        assert child_pids(master) == workers

        # Every token issued before the outages still works, access and refresh alike.
        checked = 0
        for granted in issued:
            reply = whoami(kit.http, server, granted["access_token"])
            assert reply.status_code == 200, reply.text
            checked += 1
            refreshed = kit.refresh(granted["client_id"], granted["refresh_token"])
            assert refreshed.status_code == 200, refreshed.text
            checked += 1
        figures.count("tokens_checked_after_recovery", checked)
    finally:
        kit.close()
        server.stop()
