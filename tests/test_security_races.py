"""Races, with real concurrency: parallel requests (threads released together by a barrier)
against a live server with three workers, on the suite's database (PostgreSQL in CI).

What the design says (authserver/validators.py):
- N parallel refreshes of one refresh token: exactly one rotates it (200); the others are
  refused (400 invalid_grant) without revoking the family, because a replay within
  REFRESH_TOKEN_REUSE_LEEWAY seconds of the rotation is a client racing itself; the winner's
  new tokens keep working. A replay after the leeway is a theft: the family is revoked.
- N parallel exchanges of one code: at most one token; a replay revokes what was issued.
- N parallel registrations from one address: exactly the limit succeed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx2
import pytest

from tests.support import figures
from tests.support.security import Kit, audit_events, client, new_ip, whoami

pytestmark = pytest.mark.e2e

PARALLEL = 8


def in_parallel(count: int, request: Callable[[httpx2.Client], httpx2.Response], ip: str) -> list[httpx2.Response]:
    """`count` requests, each on its own connection, released at the same moment."""
    barrier = threading.Barrier(count)
    results: list[httpx2.Response | BaseException] = [RuntimeError("not run")] * count
    clients = [client(ip) for _ in range(count)]

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = request(clients[index])
        except BaseException as exc:  # noqa: BLE001 (reported below)
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for http in clients:
        http.close()
    errors = [result for result in results if isinstance(result, BaseException)]
    assert not errors, errors
    figures.count("races_run")
    return results  # type: ignore[return-value]


def events_for(server, name: str, client_id: str) -> list[dict]:
    return [e for e in audit_events(server.log_path) if e["event"] == name and e.get("client_id") == client_id]


def test_parallel_refreshes_one_wins_and_the_family_survives(security_stack) -> None:
    kit = Kit(security_stack)
    try:
        granted = kit.tokens()
        refresh_token, client_id = granted["refresh_token"], granted["client_id"]
        url = security_stack.url + "/token"
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
            "resource": security_stack.mcp_url,
        }
        responses = in_parallel(PARALLEL, lambda http: http.post(url, data=form), kit.ip)

        statuses = Counter(response.status_code for response in responses)
        assert statuses == {200: 1, 400: PARALLEL - 1}, [r.text for r in responses]
        assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
        winner = next(r.json() for r in responses if r.status_code == 200)
        assert winner["refresh_token"] != refresh_token

        # The family is kept: the winner's new tokens work.
        with client(kit.ip) as http:
            assert whoami(http, security_stack, winner["access_token"]).status_code == 200
        assert len(events_for(security_stack, "refresh_race_refused", client_id)) == PARALLEL - 1
        assert events_for(security_stack, "refresh_reuse_detected", client_id) == []

        # After the leeway, the same replay is a stolen token: the whole family goes.
        time.sleep(2.5)
        replay = kit.refresh(client_id, refresh_token)
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        assert len(events_for(security_stack, "refresh_reuse_detected", client_id)) == 1
        with client(kit.ip) as http:
            assert whoami(http, security_stack, winner["access_token"]).status_code == 401
        assert kit.refresh(client_id, winner["refresh_token"]).status_code == 400
    finally:
        kit.close()


@pytest.mark.parametrize("round_", range(3))
def test_parallel_exchanges_of_one_code_give_at_most_one_token(security_stack, round_: int) -> None:
    kit = Kit(security_stack)
    try:
        client_id = kit.register()["client_id"]
        request, callback = kit.authorize(client_id)
        form = {
            "grant_type": "authorization_code",
            "code": callback.code,
            "redirect_uri": request.redirect_uri,
            "client_id": client_id,
            "code_verifier": request.pkce.verifier,
            "resource": security_stack.mcp_url,
        }
        url = security_stack.url + "/token"
        responses = in_parallel(PARALLEL, lambda http: http.post(url, data=form), kit.ip)

        issued = [r.json() for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code != 200]
        assert len(issued) <= 1
        assert {r.status_code for r in refused} == {400}
        assert {r.json()["error"] for r in refused} == {"invalid_grant"}
        if issued and refused:
            # Every other redemption was a replay of a used code, which revokes what it issued.
            with client(kit.ip) as http:
                assert whoami(http, security_stack, issued[0]["access_token"]).status_code == 401
            assert kit.refresh(client_id, issued[0]["refresh_token"]).status_code == 400
            assert events_for(security_stack, "code_replayed", client_id)
        # The design's outcome: one winner, whose tokens the replays revoked.
        assert len(issued) == 1
    finally:
        kit.close()


def test_parallel_registrations_under_the_throttle_give_exactly_the_limit(security_stack) -> None:
    limit = int(security_stack.overrides["REGISTRATION_RATE_LIMIT"])
    ip = new_ip()
    name = f"race-{ip}"
    body = {"client_name": name, "redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"}
    url = security_stack.url + "/register"
    responses = in_parallel(4 * limit, lambda http: http.post(url, json=body), ip)

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: limit, 429: 3 * limit}
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.json()["error"] == "too_many_requests"
        assert int(refused.headers["Retry-After"]) >= 1
    created = security_stack.execute("SELECT COUNT(*) FROM authserver_client WHERE name = %s", (name,))
    assert created == [(limit,)]
