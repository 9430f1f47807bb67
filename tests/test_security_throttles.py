"""Abuse limits: per-IP and global throttles on /register, /token, sign-in attempts and CIMD
fetches, and the sign-in lockout (django-axes, username + IP). Every refusal is a 429 with
Retry-After and a JSON body (a page for a person's browser on the sign-in page).

In-process tests vary the client address with REMOTE_ADDR; the end-to-end ones run against the
security server (three workers, so the counters must be shared) from addresses of their own.
"""

from __future__ import annotations

import secrets

import pytest

from authserver import throttling
from tests.conftest import publish_cimd_document
from tests.support import security_rows as rows
from tests.support.cimd_stub import StubFetcher
from tests.support.security import Kit, client, log_in_attempt, new_ip
from tests.support.server import OTHER_PASSWORD, OTHER_USERNAME


def assert_429_json(response, window: int) -> int:
    assert response.status_code == 429
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "too_many_requests"
    assert body["error_description"]
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window
    assert body["retry_after"] == retry_after
    return retry_after


# --- The counter ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_check_counts_per_ip_then_in_total(settings) -> None:
    settings.THROTTLES = {**settings.THROTTLES, "token": (2, 3, 60)}
    now = 60 * 16_667.0  # the start of a window
    verdicts = [throttling.check("token", ip, now) for ip in ("a", "a", "a", "b", "b", "c")]
    assert [v.allowed for v in verdicts] == [True, True, False, True, False, False]
    assert verdicts[2].limit == 2  # "a" refused by its own limit…
    # …without using up the total: "b" still got one, then both "b" and "c" met the global limit.
    assert verdicts[4].limit == verdicts[5].limit == 3
    # A new window starts afresh, and Retry-After counts down to its start.
    assert throttling.check("token", "a", now + 60).allowed
    assert throttling.check("token", "d", now + 59.5).retry_after == 1


# --- In process: each endpoint's 429 ------------------------------------------------------------


@pytest.mark.django_db
def test_token_endpoint_is_throttled_per_ip_and_globally(client, settings) -> None:
    settings.THROTTLES = {**settings.THROTTLES, "token": (2, 3, 600)}
    form = {"grant_type": "authorization_code", "code": "x", "client_id": "nobody"}
    statuses = [client.post("/token", form, REMOTE_ADDR="192.0.2.1").status_code for _ in range(2)]
    assert statuses == [401, 401]  # unknown client: counted, then refused by OAuth
    assert_429_json(client.post("/token", form, REMOTE_ADDR="192.0.2.1"), 600)
    assert client.post("/token", form, REMOTE_ADDR="192.0.2.2").status_code == 401
    refused = client.post("/token", form, REMOTE_ADDR="192.0.2.3")
    assert_429_json(refused, 600)
    assert refused["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_registration_is_throttled_per_ip_and_globally(client, settings) -> None:
    settings.REGISTRATION_RATE_LIMIT = 1
    settings.THROTTLES = {**settings.THROTTLES, "register": (1, 2, 3600)}
    body = {"redirect_uris": [rows.REDIRECT_URI], "token_endpoint_auth_method": "none"}

    def register(ip: str):
        return client.post("/register", data=body, content_type="application/json", REMOTE_ADDR=ip)

    assert register("192.0.2.1").status_code == 201
    assert_429_json(register("192.0.2.1"), 3600)
    assert register("192.0.2.2").status_code == 201
    assert_429_json(register("192.0.2.3"), 3600)


@pytest.mark.django_db
def test_sign_in_attempts_are_throttled_with_a_page_for_people(client, settings) -> None:
    settings.THROTTLES = {**settings.THROTTLES, "login": (2, 100, 300)}
    for n in range(2):
        answer = client.post(
            "/accounts/login/",
            {"username": f"nobody{n}", "password": "x"},
            REMOTE_ADDR="192.0.2.9",
            HTTP_ACCEPT="text/html",
        )
        assert answer.status_code == 400  # wrong password: the form again
    page = client.post(
        "/accounts/login/", {"username": "nobody", "password": "x"}, REMOTE_ADDR="192.0.2.9", HTTP_ACCEPT="text/html"
    )
    assert page.status_code == 429
    assert page["Content-Type"].startswith("text/html")
    assert 1 <= int(page["Retry-After"]) <= 300
    assert b"Too many sign-in attempts" in page.content
    # A program gets JSON.
    assert_429_json(client.post("/accounts/login/", {"username": "n", "password": "x"}, REMOTE_ADDR="192.0.2.9"), 300)
    # GETs (showing the form) are not attempts.
    assert client.get("/accounts/login/", REMOTE_ADDR="192.0.2.9").status_code == 200


@pytest.mark.django_db
def test_repeated_failures_lock_out_one_username_from_one_address(client, settings, caplog) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    rows.make_user("carol")

    def sign_in(password: str, ip: str, html: bool = False):
        extra = {"HTTP_ACCEPT": "text/html"} if html else {}
        return client.post("/accounts/login/", {"username": "carol", "password": password}, REMOTE_ADDR=ip, **extra)

    assert [sign_in("wrong", "192.0.2.20").status_code for _ in range(2)] == [400, 400]
    with caplog.at_level("INFO", logger="audit"):
        locked = sign_in("wrong", "192.0.2.20", html=True)  # the third failure locks
    lockouts = [r.audit for r in caplog.records if getattr(r, "audit", {}).get("event") == "login_locked_out"]
    assert lockouts == [
        {"event": "login_locked_out", "user_id": lockouts[0]["user_id"], "username": "carol", "ip": "192.0.2.20"}
    ]
    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("text/html")
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert b"Too many failed sign-in attempts" in locked.content
    # The right password does not help now…
    still = sign_in(rows.PASSWORD, "192.0.2.20")
    assert_429_json(still, int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert "_auth_user_id" not in client.session
    # …but the same user from another address, and another user from this one, are not locked.
    assert sign_in(rows.PASSWORD, "192.0.2.21").status_code == 302
    client.logout()
    rows.make_user("dave")
    other = client.post("/accounts/login/", {"username": "dave", "password": rows.PASSWORD}, REMOTE_ADDR="192.0.2.20")
    assert other.status_code == 302


@pytest.mark.django_db
def test_the_test_client_login_still_works_without_a_request(client) -> None:
    # authenticate() without a request has no address to lock out; axes is skipped, not fatal.
    rows.make_user("erin")
    assert client.login(username="erin", password=rows.PASSWORD)


def cimd_document(url: str) -> dict:
    return {
        "client_id": url,
        "client_name": "URL client",
        "redirect_uris": [rows.REDIRECT_URI],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }


@pytest.mark.django_db
def test_cimd_fetches_are_throttled_per_ip_and_globally(client, settings, monkeypatch) -> None:
    settings.THROTTLES = {**settings.THROTTLES, "cimd": (2, 3, 300)}
    urls = [f"https://app{n}.example/client.json" for n in range(5)]
    monkeypatch.setattr(StubFetcher, "documents", {url: cimd_document(url) for url in urls})
    monkeypatch.setattr(StubFetcher, "fetched", [])
    pkce_params = {
        "response_type": "code",
        "redirect_uri": rows.REDIRECT_URI,
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        "scope": "mcp:read",
    }

    def authorize(url: str, ip: str):
        return client.get("/authorize", {**pkce_params, "client_id": url}, REMOTE_ADDR=ip)

    for url in urls[:2]:
        answer = authorize(url, "192.0.2.30")
        assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]
    assert_429_json(authorize(urls[2], "192.0.2.30"), 300)
    assert authorize(urls[2], "192.0.2.31").status_code == 302
    assert_429_json(authorize(urls[3], "192.0.2.32"), 300)  # the global limit
    assert StubFetcher.fetched == urls[:3]  # no fetch for a refused URL
    # A client already fetched costs nothing: it is not throttled.
    assert authorize(urls[0], "192.0.2.30").status_code == 302


# --- End to end: the same limits on a server with three workers -------------------------------------


@pytest.mark.e2e
def test_live_token_throttle_is_shared_by_the_workers(security_stack) -> None:
    limit = 40
    with client(new_ip()) as http:
        statuses = [
            http.post(
                security_stack.url + "/token", data={"grant_type": "refresh_token", "refresh_token": "x"}
            ).status_code
            for _ in range(limit)
        ]
        refused = http.post(security_stack.url + "/token", data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert set(statuses) == {401}  # no client: refused by OAuth, but counted
    assert_429_json(refused, 86400)


@pytest.mark.e2e
def test_live_sign_in_lockout_and_attempt_limit(security_stack) -> None:
    ip = new_ip()
    with client(ip) as http:
        wrong = [log_in_attempt(http, security_stack, OTHER_USERNAME, "wrong").status_code for _ in range(2)]
        assert wrong == [400, 400]
        locked = log_in_attempt(http, security_stack, OTHER_USERNAME, "wrong")
        assert locked.status_code == 429
        assert locked.headers["Content-Type"].startswith("text/html")
        assert int(locked.headers["Retry-After"]) == 600
        right_but_locked = log_in_attempt(http, security_stack, OTHER_USERNAME, OTHER_PASSWORD, html=False)
        assert_429_json(right_but_locked, 600)
    with client(new_ip()) as elsewhere:  # the lockout is for this username from that address only
        assert log_in_attempt(elsewhere, security_stack, OTHER_USERNAME, OTHER_PASSWORD).status_code == 302
    # The attempt limit: 6 sign-in POSTs per address (4 used above), then 429 whatever the name.
    with client(ip) as http:
        answers = [log_in_attempt(http, security_stack, f"nobody-{n}", "x").status_code for n in range(3)]
    assert answers == [400, 400, 429]


@pytest.mark.e2e
def test_live_cimd_fetches_are_throttled_per_ip_and_globally(security_stack) -> None:
    run = secrets.token_hex(4)
    urls = [f"https://cimd-{run}-{n}.example/client.json" for n in range(8)]
    for url in urls:
        publish_cimd_document(security_stack, url, cimd_document(url))
    first, second, third = new_ip(), new_ip(), new_ip()
    kit = Kit(security_stack, first)
    # The global count starts from nothing: other tests on this server (the live fuzzing) may have
    # tried a URL client id already today.
    security_stack.execute("DELETE FROM authserver_ratelimitcounter WHERE key = %s", ("cimd:all",))

    def authorize(url: str, ip: str):
        with client(ip) as http:
            return http.get(
                security_stack.url + "/authorize",
                params={
                    "response_type": "code",
                    "client_id": url,
                    "redirect_uri": rows.REDIRECT_URI,
                    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    "code_challenge_method": "S256",
                    "scope": "mcp:read",
                },
            )

    try:
        statuses = [authorize(url, first).status_code for url in urls[:3]]
        assert statuses == [302, 302, 302]  # fetched: on to the sign-in page
        assert_429_json(authorize(urls[3], first), 86400)  # 3 per address
        assert [authorize(url, second).status_code for url in urls[3:6]] == [302, 302, 302]
        assert_429_json(authorize(urls[6], third), 86400)  # 6 in all
        assert authorize(urls[0], third).status_code == 302  # known already: no fetch, no limit
    finally:
        kit.close()
