"""The fast paths measured by `make bench` (docs/performance.md) keep the behaviour of the slow
ones: discovery documents answered by the ASGI router from stored bytes are byte for byte what
Django answers, and the optional token cache never accepts a token the database would refuse
after a revocation in this process."""

from __future__ import annotations

import asyncio
import runpy
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from mcp.server.auth.provider import AccessToken as SDKAccessToken
from oauth2_provider.models import get_access_token_model, set_token_value
from starlette.testclient import TestClient

import config.asgi
from authserver.models import Client
from mcpserver import revocations, token_cache, token_lookup, tokens, verification
from mcpserver.db import DatabaseUnavailable
from tests.support.inprocess import close_database_threads, make_client
from tests.support.server import ROOT

SETTINGS_FILE = str(ROOT / "config" / "settings.py")

PRM = "/.well-known/oauth-protected-resource/mcp"
ASM = "/.well-known/oauth-authorization-server"
PRM_ROOT = "/.well-known/oauth-protected-resource"


# --- Discovery documents from the router ----------------------------------------------------


@pytest.fixture
def captures(monkeypatch) -> list[tuple]:
    """The requests the router let Django answer (StoredDocuments.capture), in order."""
    seen: list[tuple] = []
    original = config.asgi.StoredDocuments.capture

    async def spy(self, kind, origin, scope, receive, send):
        seen.append(kind)
        return await original(self, kind, origin, scope, receive, send)

    monkeypatch.setattr(config.asgi.StoredDocuments, "capture", spy)
    return seen


@pytest.fixture
def asgi(settings, captures) -> TestClient:
    with TestClient(config.asgi.build_application(), base_url=settings.PUBLIC_URL) as test_client:
        yield test_client


def without_date(response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k.lower() != "date"]


@pytest.mark.parametrize("path", [PRM, ASM, PRM_ROOT])
def test_a_stored_document_is_what_django_answered(asgi: TestClient, captures: list, path: str) -> None:
    first = asgi.get(path)
    second = asgi.get(path)
    third = asgi.get(path)
    assert first.status_code == second.status_code == third.status_code == 200
    assert len(captures) == 1  # only the first went through Django
    assert second.content == third.content == first.content
    assert without_date(second) == without_date(first)
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == "public, max-age=300"
    assert second.headers["access-control-allow-origin"] == "*"
    assert second.headers["content-type"] == "application/json"
    assert second.headers["x-content-type-options"] == "nosniff"


def test_if_none_match_gets_the_304_django_gives(asgi: TestClient, captures: list) -> None:
    etag = asgi.get(PRM).headers["etag"]
    first = asgi.get(PRM, headers={"If-None-Match": etag})
    second = asgi.get(PRM, headers={"If-None-Match": f'W/"other", {etag}'})
    assert first.status_code == second.status_code == 304
    assert first.content == second.content == b""
    assert second.headers["etag"] == etag
    assert second.headers["cache-control"] == "public, max-age=300"
    assert without_date(second) == without_date(first)
    assert len(captures) == 2  # the 200, then the 304, each once
    stale = asgi.get(PRM, headers={"If-None-Match": '"not-the-etag"'})
    assert stale.status_code == 200
    assert stale.headers["etag"] == etag
    assert len(captures) == 2


def test_head_and_cors_requests_are_kinds_of_their_own(asgi: TestClient, captures: list) -> None:
    get = asgi.get(ASM)
    head = [asgi.head(ASM) for _ in range(2)]
    cors = [asgi.get(ASM, headers={"Origin": "https://client.example"}) for _ in range(2)]
    assert [r.status_code for r in head + cors] == [200] * 4
    assert head[0].content == head[1].content == b""
    assert without_date(head[1]) == without_date(head[0])
    assert cors[1].content == get.content
    assert without_date(cors[1]) == without_date(cors[0])
    assert cors[1].headers["access-control-allow-origin"] == "*"
    assert "etag" in cors[1].headers["access-control-expose-headers"]
    assert "access-control-expose-headers" not in get.headers
    assert len(captures) == 3  # GET, HEAD, GET with Origin


def test_what_django_refuses_is_never_stored(asgi: TestClient, captures: list) -> None:
    for _ in range(2):
        refused = asgi.get(PRM, headers={"Host": "evil.example"})
        assert refused.status_code == 400
        assert refused.headers["content-type"].startswith("application/json")
    assert len(captures) == 2
    too_many = {f"x-filler-{n}": "x" for n in range(120)}
    for _ in range(2):
        assert asgi.get(PRM, headers=too_many).status_code == 431
    assert len(captures) == 2  # straight to Django, not even a capture


def test_a_body_gets_what_django_answers_also_once_the_document_is_stored(asgi: TestClient, captures: list) -> None:
    assert asgi.get(ASM).status_code == 200  # stored from now on
    too_big = asgi.request("GET", ASM, content=b"x" * (2 * 1024 * 1024))
    assert too_big.status_code == 413
    assert too_big.headers["content-type"].startswith("application/json")
    small = asgi.request("GET", ASM, content=b"{}")
    assert small.status_code == 200
    assert len(captures) == 1  # the bodies went to Django itself, never stored
    assert asgi.get(ASM).status_code == 200
    assert len(captures) == 1


def test_other_requests_on_those_paths_go_to_django(asgi: TestClient, captures: list) -> None:
    stored = asgi.get(PRM)
    with_query = asgi.get(PRM + "?x=1")
    assert with_query.status_code == 200
    assert with_query.content == stored.content
    preflight = asgi.options(ASM, headers={"Origin": "https://client.example", "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    posted = asgi.post(ASM)  # Django's CSRF check answers a cookieless POST, as before
    assert posted.status_code == 403
    assert posted.headers["content-type"] == "application/json"
    assert asgi.get(PRM + "/").status_code == 404
    assert len(captures) == 1


def test_a_changed_setting_is_served_at_once(asgi: TestClient, settings) -> None:
    before = asgi.get(PRM).json()
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OAUTH2_PROTECTED_RESOURCE_NAME": "Renamed"}
    after = asgi.get(PRM).json()
    assert before["resource_name"] != "Renamed"
    assert after["resource_name"] == "Renamed"


# --- The token cache ----------------------------------------------------------------------------

RAW = "a-bench-test-token-0123456789"


@pytest.fixture
def lookups(settings, transactional_db, monkeypatch) -> list[str]:
    """A live token RAW in the database; the list of lookups verification makes."""
    settings.MCP_TOKEN_CACHE_SECONDS = 30
    # On PostgreSQL the cache works only while this process hears revocations from the database;
    # these tests are about the cache itself, in one process (tests/test_revocations.py runs the
    # listener for real, across processes).
    token_cache.set_listening(True)
    token_cache.invalidate()
    user = get_user_model().objects.create_user("carol", password="carol-password-123")
    client = make_client(approval=Client.Approval.APPROVED)
    access = get_access_token_model()(
        user=user,
        application=client,
        scope="mcp:read",
        resource=[settings.MCP_URL],
        expires=timezone.now() + timedelta(hours=1),
    )
    set_token_value(access, RAW)
    access.save()
    seen: list[str] = []
    original = token_lookup.fetch

    async def counting(checksum: str, lookup, sql_of):
        seen.append(checksum)
        return await original(checksum, lookup, sql_of)

    monkeypatch.setattr(token_lookup, "fetch", counting)
    yield seen
    token_cache.set_listening(False)
    token_lookup.close()
    close_database_threads()


def verify(token: str = RAW):
    return asyncio.run(verification.verify(token))


def test_off_every_call_is_one_lookup(settings, lookups: list) -> None:
    settings.MCP_TOKEN_CACHE_SECONDS = 0
    for _ in range(3):
        assert isinstance(verify(), SDKAccessToken)
    assert lookups == [tokens.checksum(RAW)] * 3


def test_on_an_accepted_token_is_looked_up_once(lookups: list) -> None:
    first, second = verify(), verify()
    assert isinstance(first, SDKAccessToken)
    assert second == first
    assert second.token == ""
    assert lookups == [tokens.checksum(RAW)]


def test_refusals_are_never_cached(lookups: list) -> None:
    for _ in range(2):
        assert isinstance(verify("an-unknown-token"), verification.Rejection)
    assert len(lookups) == 2


def test_a_revoke_in_this_process_is_effective_at_once(lookups: list) -> None:
    assert isinstance(verify(), SDKAccessToken)
    get_access_token_model().objects.get(token_checksum=tokens.checksum(RAW)).revoke()
    refused = verify()
    assert isinstance(refused, verification.Rejection)
    assert refused.reason == "The access token is unknown or revoked"
    assert len(lookups) == 2


@pytest.mark.parametrize("change", ["disable client", "quarantine client", "deactivate user"])
def test_a_client_or_user_change_is_effective_at_once(lookups: list, change: str) -> None:
    assert isinstance(verify(), SDKAccessToken)
    access = get_access_token_model().objects.select_related("application", "user").get()
    if change == "disable client":
        access.application.is_enabled = False
        access.application.save(update_fields=["is_enabled", "updated"])
    elif change == "quarantine client":
        access.application.approval = Client.Approval.QUARANTINED
        access.application.save()
    else:
        access.user.is_active = False
        access.user.save()
    assert isinstance(verify(), verification.Rejection)


def test_a_sign_in_or_a_grant_does_not_empty_the_cache(lookups: list) -> None:
    assert isinstance(verify(), SDKAccessToken)
    access = get_access_token_model().objects.select_related("application", "user").get()
    access.user.last_login = timezone.now()
    access.user.save(update_fields=["last_login"])
    assert isinstance(verify(), SDKAccessToken)
    assert len(lookups) == 1


def test_entries_expire_after_the_configured_seconds(lookups: list, monkeypatch) -> None:
    assert isinstance(verify(), SDKAccessToken)
    now = token_cache.monotonic()
    monkeypatch.setattr(token_cache, "monotonic", lambda: now + 31)
    assert isinstance(verify(), SDKAccessToken)
    assert len(lookups) == 2


def test_an_entry_never_outlives_the_token(lookups: list, monkeypatch) -> None:
    get_access_token_model().objects.update(expires=timezone.now() + timedelta(seconds=2))
    assert isinstance(verify(), SDKAccessToken)
    assert isinstance(verify(), SDKAccessToken)
    assert len(lookups) == 1
    later = token_cache.time() + 5  # past the token's expiry, within the cache's 30 s
    monkeypatch.setattr(token_cache, "time", lambda: later)
    assert token_cache.get(tokens.checksum(RAW)) is None


def test_a_lookup_overtaken_by_a_revocation_does_not_store(lookups: list) -> None:
    started = token_cache.generation()
    accepted = verify()
    token_cache.invalidate(tokens.checksum(RAW))
    token_cache.put(tokens.checksum(RAW), accepted, started)
    assert token_cache.get(tokens.checksum(RAW)) is None


@pytest.mark.parametrize(
    ("value", "database", "seconds"),
    [
        (None, "sqlite:///db.sqlite3", 0),  # no listener: off unless asked for
        (None, "postgres://postgres@127.0.0.1:5432/test", 30),  # revocations heard: on
        ("0", "postgres://postgres@127.0.0.1:5432/test", 0),
        ("5", "sqlite:///db.sqlite3", 5),
        ("300", "sqlite:///db.sqlite3", 300),
        ("301", "sqlite:///db.sqlite3", None),
        ("-1", "postgres://postgres@127.0.0.1:5432/test", None),
    ],
)
def test_the_setting_and_its_bounds(monkeypatch, value: str | None, database: str, seconds: int | None) -> None:
    monkeypatch.setenv("DATABASE_URL", database)
    if value is None:
        monkeypatch.delenv("MCP_TOKEN_CACHE_SECONDS", raising=False)
    else:
        monkeypatch.setenv("MCP_TOKEN_CACHE_SECONDS", value)
    if seconds is None:
        with pytest.raises(ImproperlyConfigured, match="MCP_TOKEN_CACHE_SECONDS must be between 0 and 300"):
            runpy.run_path(SETTINGS_FILE)
    else:
        assert runpy.run_path(SETTINGS_FILE)["MCP_TOKEN_CACHE_SECONDS"] == seconds


def test_the_revocation_listener_runs_only_where_tokens_are_verified_locally(settings, monkeypatch) -> None:
    monkeypatch.setattr(token_lookup, "on_postgresql", lambda: True)
    settings.MCP_TOKEN_CACHE_SECONDS = 30
    for role, wanted in [("combined", True), ("authorization", False), ("resource", False)]:
        settings.SERVER_ROLE = role
        assert revocations.wanted() is wanted, role
    settings.SERVER_ROLE = "combined"
    settings.MCP_TOKEN_CACHE_SECONDS = 0
    assert revocations.wanted() is False
    settings.MCP_TOKEN_CACHE_SECONDS = 30
    monkeypatch.setattr(token_lookup, "on_postgresql", lambda: False)
    assert revocations.wanted() is False


def test_on_postgresql_the_cache_is_used_only_while_revocations_are_heard(settings, monkeypatch) -> None:
    settings.MCP_TOKEN_CACHE_SECONDS = 30
    monkeypatch.setattr(token_lookup, "on_postgresql", lambda: True)
    token_cache.set_listening(False)
    assert token_cache.usable() is False
    token_cache.set_listening(True)
    assert token_cache.usable() is True
    token_cache.set_listening(False)
    monkeypatch.setattr(token_lookup, "on_postgresql", lambda: False)
    assert token_cache.usable() is True  # SQLite: nothing to hear, the setting alone decides


# --- The lookup on PostgreSQL, on the event loop -------------------------------------------------


def postgres_only() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: other databases look tokens up on a database thread")


def test_on_postgresql_the_lookup_is_one_statement_on_the_event_loop(settings, lookups: list, monkeypatch) -> None:
    postgres_only()
    settings.MCP_TOKEN_CACHE_SECONDS = 0
    assert isinstance(verify(), SDKAccessToken)  # compiles the statement (once, on a thread)

    def not_on_a_thread(checksum: str):
        raise AssertionError("the lookup went to a database thread")

    monkeypatch.setattr(tokens, "lookup", not_on_a_thread)
    before = token_lookup.executed
    for _ in range(3):
        assert isinstance(verify(), SDKAccessToken)
    assert token_lookup.executed - before == 3
    assert isinstance(verify("an-unknown-token"), verification.Rejection)
    assert token_lookup.executed - before == 4


def test_a_dropped_connection_is_replaced_at_once(settings, lookups: list) -> None:
    postgres_only()
    settings.MCP_TOKEN_CACHE_SECONDS = 0

    def terminate(backend: int) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
        connection.close()

    async def twice_with_a_kill_between():
        assert isinstance(await verification.verify(RAW), SDKAccessToken)
        backend = token_lookup._connection.conn.info.backend_pid
        await asyncio.to_thread(terminate, backend)
        again = await verification.verify(RAW)
        return again, token_lookup._connection.conn.info.backend_pid != backend

    again, replaced = asyncio.run(twice_with_a_kill_between())
    assert isinstance(again, SDKAccessToken)
    assert replaced


def test_an_unreachable_database_is_unavailable_not_an_error(settings, lookups: list, monkeypatch) -> None:
    postgres_only()
    settings.MCP_TOKEN_CACHE_SECONDS = 0
    assert isinstance(verify(), SDKAccessToken)
    token_lookup.close()
    from django.db import connections

    wrapper = type(connections["default"])
    real = wrapper.get_connection_params

    def nowhere(self):
        return {**real(self), "host": "127.0.0.1", "port": 9}  # nothing listens on the discard port

    monkeypatch.setattr(wrapper, "get_connection_params", nowhere)
    with pytest.raises(DatabaseUnavailable):
        verify()
    monkeypatch.setattr(wrapper, "get_connection_params", real)
    assert isinstance(verify(), SDKAccessToken)  # the next lookup connects again


def test_a_database_that_does_not_answer_is_unavailable_in_bounded_time(settings, lookups: list, monkeypatch) -> None:
    postgres_only()
    settings.MCP_TOKEN_CACHE_SECONDS = 0
    assert isinstance(verify(), SDKAccessToken)  # the statement is compiled and connected
    compiled = token_lookup._connection.sql
    monkeypatch.setattr(token_lookup, "QUERY_TIMEOUT", 0.3)
    monkeypatch.setattr(token_lookup._connection, "sql", "SELECT pg_sleep(5) WHERE %s IS NOT NULL")
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="timed out"):
        verify()
    assert time.monotonic() - started < 3
    monkeypatch.setattr(token_lookup._connection, "sql", compiled)
    assert isinstance(verify(), SDKAccessToken)  # on a new connection


# --- Statements per grant at the token endpoint (docs/performance.md lists each) ---------------

# At most this many SQL statements per refresh grant and per code exchange (issue 16): the abuse
# counters, the client, the redeemed row (locked, with what it needs joined in), and the writes.
GRANT_STATEMENT_BUDGET = 8
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


def statements_of(send) -> list[str]:
    """The SQL statements `send()` runs on this thread's connection (transaction control aside:
    PostgreSQL's BEGIN and COMMIT never pass through Django's cursor)."""
    from django.db import connection

    seen: list[str] = []

    def record(execute, sql, params, many, context):
        seen.append(" ".join(sql.split()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        send()
    return [sql for sql in seen if not sql.upper().startswith(TRANSACTION_CONTROL)]


@pytest.fixture
def grant_kit(settings, transactional_db):
    """A signed-in test client, a public client and a fresh code for it; real transactions (no
    test transaction around them, which would turn each into a savepoint)."""
    from django.test import Client as HttpClient

    from tests.support.inprocess import authorize_code, token_request

    settings.LEAN_REFRESH = False  # the in-process client reaches Django's view, never the ASGI router
    http = HttpClient()
    http.force_login(get_user_model().objects.create_user("dana", password="dana-password-123"))
    app = make_client(name="Statements")
    return http, app, authorize_code, token_request


def test_a_code_exchange_and_a_refresh_stay_within_the_statement_budget(grant_kit) -> None:
    http, app, authorize_code, token_request = grant_kit
    answers = []
    # The first grant of a client in a process also notes its last use (at most once a minute).
    request, code = authorize_code(http, app)
    answers.append(token_request(http, request, code))
    request, code = authorize_code(http, app)
    exchange = statements_of(lambda: answers.append(token_request(http, request, code)))
    refresh_token = answers[-1].json()["refresh_token"]

    def refresh() -> None:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": app.client_id}
        answers.append(http.post("/token", form))

    rotation = statements_of(refresh)
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert len(exchange) <= GRANT_STATEMENT_BUDGET, exchange
    assert len(rotation) <= GRANT_STATEMENT_BUDGET, rotation
    # What each does, in order (the abuse counters first: one statement on PostgreSQL, two elsewhere).
    assert [sql.split()[0] for sql in exchange if "ratelimitcounter" not in sql] == [
        "SELECT",  # the client
        "SELECT",  # the code's grant, locked, with its user
        "INSERT",  # the access token
        "INSERT",  # the refresh token
        "DELETE",  # the grant (the code is used)
        "INSERT",  # the used code's record, for replay detection
    ]
    assert [sql.split()[0] for sql in rotation if "ratelimitcounter" not in sql] == [
        "SELECT",  # the client
        "SELECT",  # the refresh token, locked, with its access token and user
        "UPDATE",  # the old refresh token revoked
        "DELETE",  # its access token
        "INSERT",  # the new access token
        "INSERT",  # the new refresh token
    ]


# --- The 401 without a token, from stored bytes (mcpserver/challenge.py) -------------------------


def test_the_fixed_401_is_what_the_gate_answers(asgi: TestClient, caplog) -> None:
    """Through the whole application; tests/test_gate.py checks which requests take the stored answer."""
    body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    answers = []
    with caplog.at_level("INFO", logger="audit"):
        for host in ("127.0.0.1:8000", "localhost:8000"):  # PUBLIC_URL's host: stored; another: the gate
            answers.append(asgi.post("/mcp", content=body, headers={**headers, "Host": host}))
    stored, gated = answers
    assert stored.status_code == gated.status_code == 401
    assert without_date(stored) == without_date(gated)
    assert (
        stored.content
        == gated.content
        == b'{"error": "invalid_request", "error_description": "Authorization required"}'
    )
    assert stored.headers["www-authenticate"].startswith('Bearer resource_metadata="http://127.0.0.1:8000/.well-known/')
    events = [record.audit for record in caplog.records if hasattr(record, "audit")]
    assert events == [{"event": "mcp_unauthorized", "status": 401, "reason": "no token"}] * 2
