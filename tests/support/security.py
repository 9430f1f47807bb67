"""Helpers of the security tests: the security server's settings, client addresses of their
own, and the OAuth flow run from one such address.

Every test speaks from an address of its own (`X-Forwarded-For`, which the server trusts from
127.0.0.1 as it would from a proxy), so per-IP limits of one test never count another's
requests. The addresses are documentation ranges (RFC 5737): only a header, never a target.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from pathlib import Path

import httpx2

from democlient import flow
from tests.support.server import DEMO_PASSWORD, DEMO_USERNAME, LiveServer

REDIRECT_URI = "http://127.0.0.1:33418/callback"
DAY = "86400"  # windows of a day: no test straddles a window boundary but at midnight UTC

# Low limits where a test checks them; the rest out of the way. Each test uses its own address.
SECURITY_SERVER_ENV = {
    "REGISTRATION_RATE_LIMIT": "5",
    "REGISTRATION_RATE_WINDOW": DAY,
    "REGISTRATION_GLOBAL_RATE_LIMIT": "100000",
    "TOKEN_RATE_LIMIT": "40",
    "TOKEN_RATE_WINDOW": DAY,
    "TOKEN_GLOBAL_RATE_LIMIT": "100000",
    "LOGIN_RATE_LIMIT": "6",
    "LOGIN_RATE_WINDOW": DAY,
    "LOGIN_GLOBAL_RATE_LIMIT": "100000",
    "LOGIN_FAILURE_LIMIT": "3",
    "LOGIN_LOCKOUT_SECONDS": "600",
    # Only the CIMD throttle test uses URL client ids on this server: 3 per address, 6 in all.
    "CIMD_FETCH_RATE_LIMIT": "3",
    "CIMD_FETCH_GLOBAL_RATE_LIMIT": "6",
    "CIMD_FETCH_RATE_WINDOW": DAY,
    # A replayed refresh token is a benign race for 2 s, then a theft (RFC 9700 §4.14.2).
    "REFRESH_TOKEN_REUSE_LEEWAY": "2",
}

_addresses = itertools.count(1)
_lock = threading.Lock()


def new_ip() -> str:
    """A client address no other test of this run uses."""
    with _lock:
        n = next(_addresses)
    n %= 508  # TEST-NET-2 and TEST-NET-3: 2 × 254 addresses
    return f"198.51.100.{n + 1}" if n < 254 else f"203.0.113.{n - 253}"


def client(ip: str, **kwargs) -> httpx2.Client:
    headers = {"X-Forwarded-For": ip, **kwargs.pop("headers", {})}
    return httpx2.Client(timeout=30, follow_redirects=False, headers=headers, **kwargs)


class Kit:
    """The OAuth flow against `server`, every request from address `ip`."""

    def __init__(self, server: LiveServer, ip: str | None = None) -> None:
        self.server = server
        self.ip = ip or new_ip()
        self.http = client(self.ip)

    def close(self) -> None:
        self.http.close()

    def register(self, **metadata) -> dict:
        body = {
            "client_name": "Security test client",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            **metadata,
        }
        return flow.register(self.http, self.server.url + "/register", body)

    def authorize(
        self, client_id: str, scope: str = "mcp:read", username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD
    ) -> tuple[flow.AuthorizationRequest, flow.Callback]:
        request = flow.AuthorizationRequest(
            client_id=client_id, redirect_uri=REDIRECT_URI, scope=scope, resource=self.server.mcp_url
        )
        browser = flow.Browser(self.server.url, username, password)
        browser.http.headers["X-Forwarded-For"] = self.ip
        try:
            callback = browser.authorize(request.url(self.server.url + "/authorize"))
        finally:
            browser.close()
        assert callback.code, callback.params
        return request, callback

    def exchange(self, request: flow.AuthorizationRequest, code: str) -> httpx2.Response:
        return flow.exchange_code(self.http, self.server.url + "/token", request, code)

    def tokens(self, scope: str = "mcp:read", client_id: str | None = None) -> dict:
        client_id = client_id or self.register()["client_id"]
        request, callback = self.authorize(client_id, scope=scope)
        response = self.exchange(request, callback.code)
        assert response.status_code == 200, response.text
        return {**response.json(), "client_id": client_id}

    def refresh(self, client_id: str, refresh_token: str) -> httpx2.Response:
        return flow.refresh(self.http, self.server.url + "/token", client_id, refresh_token, self.server.mcp_url)


def whoami(http: httpx2.Client, server: LiveServer, access_token: str) -> httpx2.Response:
    """A `tools/call whoami` on /mcp (2025-11-25), the cheapest call that needs a valid token."""
    return http.post(
        server.mcp_url,
        headers={
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "MCP-Protocol-Version": "2025-11-25",
        },
        content=json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
        ),
    )


def audit_events(log_path: Path) -> list[dict]:
    """The audit events in a server's log (JSON lines of the `audit` logger)."""
    events = []
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("logger") == "audit":
            events.append(record)
    return events


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def form_post(http: httpx2.Client, page_url: str, data: dict, html: bool = True) -> httpx2.Response:
    """GET a page with a form (for its CSRF token), then POST `data` to it as a browser would."""
    page = http.get(page_url, headers={"Accept": "text/html"})
    token = CSRF_INPUT.search(page.text)
    assert token, f"no form at {page_url} ({page.status_code})"
    return http.post(
        page_url.split("?")[0],
        data={**data, "csrfmiddlewaretoken": token[1]},
        headers={"Accept": "text/html" if html else "application/json", "Referer": page_url},
    )


def log_in_attempt(http: httpx2.Client, server: LiveServer, username: str, password: str, html: bool = True):
    """One sign-in attempt on the sign-in page."""
    data = {"username": username, "password": password, "next": "/account/apps/"}
    return form_post(http, server.url + "/accounts/login/", data, html=html)


DEBUG_PAGE = re.compile(r"Traceback \(most recent call last\)|Exception Value:|You're seeing this error because")
