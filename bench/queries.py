"""Database work per request, measured in-process for `make bench`.

Runs with our server's settings and database; reads a JSON job on stdin, prints JSON.

- mode "count": builds the real ASGI application (config.asgi) and sends it requests through
  Starlette's TestClient, with a counter wrapped around every statement executed on every
  database connection of the process (the MCP side's database threads included): authenticated
  `tools/list` and `tools/call` in both protocol generations (token cache off, then on), a tool
  that reads the database itself, and at `/token` the refresh-token grant and the code exchange
  through django-oauth-toolkit (Django's test client) and the refresh grant's lean path (the ASGI
  application, where PostgreSQL has it: its statements run on the event loop).
- mode "lookup": the time of the token lookup itself (the one SQL statement), and of the whole
  verification (`verification.verify`, thread hop included), at the table's current size.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The conformance fixtures give a tool that does nothing (like the peer's `ping`), so the count
# shows what authentication itself costs; `whoami` reads the user's name too.
os.environ["MCP_CONFORMANCE_FIXTURES"] = "1"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402

REQUESTS = 30

from codes import mint as mint_codes  # noqa: E402  (bench/codes.py, same database)


class StatementCounter:
    """Counts statements on every connection of the process, by their first keyword."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kinds: collections.Counter = collections.Counter()
        self.samples: list[str] = []
        self.keep = False

    def __call__(self, execute, sql, params, many, context):
        kind = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
        with self.lock:
            self.kinds[kind] += 1
            if self.keep:
                self.samples.append(" ".join(sql.split())[:160])
        return execute(sql, params, many, context)

    def install(self, sender, connection, **kwargs) -> None:
        if self not in connection.execute_wrappers:
            connection.execute_wrappers.append(self)

    def snapshot(self) -> collections.Counter:
        with self.lock:
            return collections.Counter(self.kinds)


def mcp_request(method: str, params: dict | None, modern: bool, token: str, name: str | None = None):
    """Headers and body of the request wrk sends for the same scenario (run.py)."""
    from run import mcp_headers, rpc_body

    headers = dict(header.split(": ", 1) for header in mcp_headers(token, modern, method, name))
    return headers, rpc_body(method, params, modern)


TOOL = "test_simple_text"  # a conformance fixture that does nothing
MCP_CASES = {
    "list_2025": ("tools/list", None, False, None),
    "call_2025": ("tools/call", {"name": TOOL, "arguments": {}}, False, TOOL),
    "list_2026": ("tools/list", None, True, None),
    "call_2026": ("tools/call", {"name": TOOL, "arguments": {}}, True, TOOL),
    "call_whoami_2025": ("tools/call", {"name": "whoami", "arguments": {}}, False, "whoami"),
}
# What the statements sent on the event loop are (they pass no Django connection, so only counted).
LOOKUP_ON_LOOP = "SELECT … FROM oauth2_provider_accesstoken … (token lookup, on the event loop)"
LEAN_REFRESH_ON_LOOP = [
    "WITH … per_ip AS (INSERT … ratelimitcounter …), total AS (…) SELECT … client … refresh token … "
    "access token (the abuse counters, the client, the live refresh token: one read)",
    "WITH old AS (UPDATE … refreshtoken … revoked …), gone AS (DELETE … accesstoken …), used AS (UPDATE "
    "… client last_used_at …), access AS (INSERT … accesstoken …) INSERT … refreshtoken (the rotation)",
]


class Measurement:
    """The statements and time of REQUESTS requests of each kind, kept in `found`."""

    def __init__(self) -> None:
        self.counter = StatementCounter()
        connection_created.connect(self.counter.install, weak=False)
        self.found: dict = {"requests_each": REQUESTS, "cases": {}}

    def snapshot(self) -> collections.Counter:
        """Statements Django ran, plus the token lookups and the lean refresh path's statements
        sent on the event loop (PostgreSQL)."""
        from authserver import lean_refresh
        from mcpserver import token_lookup

        kinds = self.counter.snapshot()
        kinds["SELECT"] += token_lookup.executed
        kinds["WITH"] += lean_refresh.executed
        return kinds

    def measure(self, label: str, send) -> None:
        counter = self.counter
        send()  # the first request of a kind may set things up (compiled SQL, connections)
        before = self.snapshot()
        counter.keep, counter.samples = True, []
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(REQUESTS):
            send()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        counter.keep = False
        kinds = self.snapshot() - before
        total = sum(kinds.values())
        self.found["cases"][label] = {
            "per_request": round(total / REQUESTS, 2),
            "by_kind": {k: round(v / REQUESTS, 2) for k, v in sorted((+kinds).items())},
            "statements": self.statements_of_one(kinds),
            # One request at a time, in-process: what a request costs this process (MCP requests
            # include Starlette's TestClient, which costs several milliseconds itself).
            "wall_ms": round(wall / REQUESTS * 1000, 2),
            "cpu_ms": round(cpu / REQUESTS * 1000, 2),
        }

    def statements_of_one(self, kinds: collections.Counter) -> list[str]:
        """The statements of one request: those Django ran, with the ones sent on the event loop
        named in their place."""
        samples = self.counter.samples
        per_request = samples[: len(samples) // REQUESTS]
        lookups_on_loop = (kinds["SELECT"] - sum(1 for s in samples if s.startswith("SELECT"))) // REQUESTS
        per_request = [LOOKUP_ON_LOOP] * max(0, lookups_on_loop) + per_request
        on_loop = (kinds["WITH"] - sum(1 for s in samples if s.startswith("WITH"))) // REQUESTS
        if on_loop:
            per_request += LEAN_REFRESH_ON_LOOP[:on_loop]
        return per_request


def count(job: dict) -> dict:
    from starlette.testclient import TestClient

    from config.asgi import build_application

    measurement = Measurement()
    with TestClient(build_application(), base_url=settings.PUBLIC_URL, raise_server_exceptions=True) as client:
        measure_mcp(measurement, client, job)
        measure_grants(measurement, client, job)
    found = measurement.found
    found["database"] = connection.vendor
    found["summary"] = {label: case["per_request"] for label, case in found["cases"].items()}
    return found


def measure_mcp(measurement: Measurement, client, job: dict) -> None:
    """Authenticated MCP requests of each kind, token cache off, then on."""
    for cache_seconds in (0, job["cache_seconds"]):
        settings.MCP_TOKEN_CACHE_SECONDS = cache_seconds
        if cache_seconds:
            wait_for_revocation_listener()
        suffix = "" if cache_seconds == 0 else "+cache"
        for label, (method, params, modern, name) in MCP_CASES.items():
            headers, body = mcp_request(method, params, modern, job["access_token"], name)

            def send(headers=headers, body=body, label=label) -> None:
                answer = client.post("/mcp", headers=headers, content=body)
                if answer.status_code != 200 or '"result"' not in answer.text or '"isError":true' in answer.text:
                    raise RuntimeError(f"{label}: {answer.status_code} {answer.text[:300]}")

            measurement.measure(label + suffix, send)


def measure_grants(measurement: Measurement, client, job: dict) -> None:
    """The refresh grant and the code exchange through django-oauth-toolkit (Django's own test
    client: their cost in Django, without an HTTP or ASGI layer), then the lean refresh path
    through the ASGI application (`client`) where it is on."""
    from django.test import Client as DjangoClient

    from authserver import lean_refresh

    settings.MCP_TOKEN_CACHE_SECONDS = 0
    chain = [job["refresh_tokens"][0]]
    django_client = DjangoClient(HTTP_HOST=settings.PUBLIC_HOST)

    def refresh_form() -> dict:
        return {
            "grant_type": "refresh_token",
            "refresh_token": chain[-1],
            "client_id": job["client_id"],
            "resource": job["resource"],
        }

    def refresh(post, label: str, **accept) -> None:
        answer = post("/token", data=refresh_form(), **accept)
        if answer.status_code != 200:
            raise RuntimeError(f"{label}: {answer.status_code} {answer.text[:300]}")
        chain.append(answer.json()["refresh_token"])

    measurement.measure("refresh", lambda: refresh(django_client.post, "refresh", HTTP_ACCEPT="application/json"))
    codes = [line.split() for line in mint_codes({**job["code_job"], "count": REQUESTS + 1})]

    def exchange() -> None:
        code, verifier = codes.pop()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "client_id": job["client_id"],
            "redirect_uri": job["code_job"]["redirect_uri"],
            "resource": job["resource"],
        }
        answer = django_client.post("/token", data=form, HTTP_ACCEPT="application/json")
        if answer.status_code != 200:
            raise RuntimeError(f"code: {answer.status_code} {answer.text[:300]}")

    measurement.measure("code", exchange)
    if lean_refresh.enabled():
        lean_post = client.post
        measurement.measure(
            "refresh_lean", lambda: refresh(lean_post, "lean refresh", headers={"Accept": "application/json"})
        )


def wait_for_revocation_listener(seconds: float = 10) -> None:
    """On PostgreSQL the cache is used only once the application's listener hears revocations."""
    from mcpserver import token_cache, token_lookup

    deadline = time.monotonic() + seconds
    while token_lookup.on_postgresql() and not token_cache.listening() and time.monotonic() < deadline:
        time.sleep(0.05)


def lookup(job: dict) -> dict:
    from mcpserver import tokens, verification

    checksum = verification.checksum(job["access_token"])
    if tokens.lookup(checksum) is None:
        raise RuntimeError("the benchmark's access token is not in the table")
    rounds = 2000

    def timed(fn) -> list[float]:
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1e6)
        return sorted(times)

    sql_times = timed(lambda: tokens.lookup(checksum))
    unknown_times = timed(lambda: tokens.lookup("0" * 64))

    async def verify_many() -> list[float]:
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            verdict = await verification.verify(job["access_token"])
            times.append((time.perf_counter() - started) * 1e6)
            if isinstance(verdict, verification.Rejection):
                raise RuntimeError(f"the benchmark's token was refused: {verdict.reason}")
        return sorted(times)

    settings.MCP_TOKEN_CACHE_SECONDS = 0
    verify_times = asyncio.run(verify_many())
    plan = ""
    with connection.cursor() as cursor:
        sql = tokens.lookup_sql()
        explain = "EXPLAIN " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
        cursor.execute(explain + sql, [checksum])
        plan = " | ".join(str(row[-1]).strip() for row in cursor.fetchall())

    def summary(times: list[float]) -> dict:
        return {"median_us": round(statistics.median(times), 1), "p99_us": round(times[int(len(times) * 0.99)], 1)}

    return {
        "lookup": summary(sql_times),
        "lookup_unknown": summary(unknown_times),
        "verify": summary(verify_times),
        "plan": plan[:400],
    }


def main() -> None:
    job = json.loads(sys.stdin.read())
    result = count(job) if job["mode"] == "count" else lookup(job)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
