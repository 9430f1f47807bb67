"""The front page's self-check: the discovery doctor (`democlient.doctor`) run in-process against
this server's own MCP URL, the way a client reaches it from outside, summed up as one green or red
line per step of the discovery chain, with the fix for a red one.

It must be neither a way to make the server send requests nor a page that hangs on a slow or
unreachable PUBLIC_URL, so:
- the target is `settings.MCP_URL`, never anything taken from the request;
- one run at a time per deployment (a lock in the shared cache), and its result is kept there for
  CACHE_SECONDS: at most one run (about thirty requests to itself) a minute, whatever the traffic;
- each request has REQUEST_TIMEOUT seconds, the run RUN_BUDGET in all, and the first request that
  gets no answer at all stops the others (`Budget`);
- the page waits for a run at most WAIT_SECONDS (a slow name lookup is not bounded by the HTTP
  timeouts); a run still going then finishes in the background and the next page shows it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
from django.conf import settings
from django.core.cache import cache
from django.db import connections

from democlient.doctor import FAIL, PASS, SKIP, WARN, diagnose

CACHE_SECONDS = 60
REQUEST_TIMEOUT = 3.0
RUN_BUDGET = 8.0
WAIT_SECONDS = 5.0
SEVERITY = {PASS: 0, SKIP: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class Step:
    """One line of the self-check: the doctor's checks it sums up, and the one whose detail a
    green line shows."""

    title: str
    checks: tuple[str, ...]
    summary: str


STEPS: tuple[Step, ...] = (
    Step("The MCP endpoint answers, and asks for a token", ("mcp.https", "challenge.status"), "challenge.status"),
    Step(
        "Its 401 challenge points at the protected-resource metadata",
        (
            "challenge.header",
            "challenge.resource_metadata",
            "challenge.scope",
            "challenge.no_error",
            "challenge.invalid_token",
        ),
        "challenge.resource_metadata",
    ),
    Step(
        "The protected-resource metadata names exactly this MCP URL",
        (
            "prm.header_url",
            "prm.path_inserted",
            "prm.root",
            "prm.found",
            "prm.resource",
            "prm.authorization_servers",
            "prm.scopes_supported",
        ),
        "prm.resource",
    ),
    Step(
        "The authorization server's metadata is found and names the same issuer",
        ("asm.found", "asm.rfc8414", "asm.oidc", "asm.issuer", "asm.issuer_path", "asm.fields"),
        "asm.issuer",
    ),
    Step(
        "Clients can register and sign in (PKCE S256, registration, signed client ids, scopes, iss)",
        (
            "asm.pkce",
            "asm.registration",
            "asm.cimd",
            "asm.dcr",
            "asm.private_key_jwt",
            "asm.scopes",
            "asm.offline_access",
            "asm.iss",
            "asm.grant_types",
        ),
        "asm.registration",
    ),
    Step(
        "Browser clients may read every answer, all of it JSON (CORS)",
        ("cors.prm", "cors.asm", "cors.oauth", "cors.mcp", "http.json"),
        "cors.asm",
    ),
)


def unreachable_fix(mcp_url: str) -> str:
    return (
        f"This server could not reach itself at {mcp_url}, the address its metadata gives clients. Set "
        "PUBLIC_URL to the origin clients dial (scheme, host and port, no path), and make sure that address "
        "leads back to this server from the server too (behind a proxy: the proxy must answer there). `make run` "
        "derives it from PORT (http://127.0.0.1:$PORT); a PUBLIC_URL set by hand must name the port it listens on."
    )


class Budget(httpx2.BaseTransport):
    """An HTTP transport with a total time budget: every request gets at most what is left, and
    after one request got no answer at all (refused, unresolvable, timed out) the rest are not
    even tried."""

    def __init__(self, seconds: float) -> None:
        # Not through the environment's proxies: the server checks how it answers at its own address.
        self.inner = httpx2.HTTPTransport(trust_env=False)
        self.deadline = time.monotonic() + seconds
        self.failure: str | None = None
        self.failed_url: httpx2.URL | None = None

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.failure is not None:
            raise httpx2.ConnectError(f"not tried after an earlier failure ({self.failure})", request=request)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise httpx2.ConnectTimeout("the self-check's time budget is spent", request=request)
        limits = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            name: min(limits.get(name) or remaining, remaining) for name in ("connect", "read", "write", "pool")
        }
        try:
            return self.inner.handle_request(request)
        except httpx2.TransportError as exc:
            self.failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.failed_url = request.url
            raise

    def close(self) -> None:
        self.inner.close()


def step_lines(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per step: its worst status, the detail that explains it, and the fix for a red one."""
    by_id = {check["id"]: check for check in report["checks"]}
    listed = {check_id for step in STEPS for check_id in step.checks}
    others = tuple(check_id for check_id in by_id if check_id not in listed)
    steps = STEPS + ((Step("Everything else the doctor checks", others, others[0]),) if others else ())
    lines = []
    for step in steps:
        checks = [by_id[check_id] for check_id in step.checks if check_id in by_id]
        worst = max(checks, key=lambda check: SEVERITY[check["status"]], default=None)
        if worst is None or all(check["status"] == SKIP for check in checks):
            lines.append({"title": step.title, "status": SKIP, "detail": "Not checked.", "fix": None})
        elif worst["status"] in (WARN, FAIL):
            lines.append(
                {"title": step.title, "status": worst["status"], "detail": worst["detail"], "fix": worst["fix"]}
            )
        else:
            summary = by_id.get(step.summary, worst)
            lines.append({"title": step.title, "status": PASS, "detail": summary["detail"], "fix": None})
    return lines


def run(mcp_url: str) -> dict[str, Any]:
    """Run the doctor against `mcp_url` within the budget; the result as the page shows it."""
    transport = Budget(RUN_BUDGET)
    try:
        report = diagnose(mcp_url, timeout=REQUEST_TIMEOUT, transport=transport)
    finally:
        transport.close()
    lines = step_lines(report)
    # The very first request (the POST to the MCP URL) got no answer at all.
    unreachable = transport.failed_url == httpx2.URL(mcp_url) and status_of(report, "challenge.status") == FAIL
    if unreachable:
        # Nothing answered at all: every later step would only repeat it.
        lines[0].update(detail=f"No answer from {mcp_url} ({transport.failure}).", fix=unreachable_fix(mcp_url))
        for line in lines[1:]:
            line.update(status=SKIP, detail="Not checked: the MCP URL did not answer.", fix=None)
    return {
        "target": mcp_url,
        "checked_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "ok": all(line["status"] in (PASS, SKIP) for line in lines) and not unreachable,
        "unreachable": unreachable,
        "steps": lines,
    }


def status_of(report: dict[str, Any], check_id: str) -> str | None:
    return next((check["status"] for check in report["checks"] if check["id"] == check_id), None)


def cache_key(mcp_url: str) -> str:
    return "frontpage:self-check:" + hashlib.sha256(mcp_url.encode()).hexdigest()[:16]


def run_and_store(mcp_url: str) -> None:
    key = cache_key(mcp_url)
    try:
        cache.set(key, run(mcp_url), CACHE_SECONDS)
    finally:
        cache.delete(key + ":running")
        connections.close_all()  # this thread's own database connections (the cache's)


def self_check(wait: float | None = None) -> dict[str, Any] | None:
    """The latest self-check of this server (run now if none is a minute old), or None while a
    run has not finished within `wait` seconds (WAIT_SECONDS)."""
    wait = WAIT_SECONDS if wait is None else wait
    mcp_url = settings.MCP_URL
    key = cache_key(mcp_url)
    result = cache.get(key)
    if result is not None:
        return result
    if cache.add(key + ":running", True, timeout=int(RUN_BUDGET + WAIT_SECONDS) + 5):
        worker = threading.Thread(target=run_and_store, args=(mcp_url,), name="self-check", daemon=True)
        worker.start()
        worker.join(wait)
        return cache.get(key)
    deadline = time.monotonic() + wait  # another request's run: wait for its result
    while time.monotonic() < deadline:
        time.sleep(0.2)
        result = cache.get(key)
        if result is not None:
            return result
    return None
