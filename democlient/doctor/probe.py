"""What the doctor asks the server, and what it answered: `Probe` fetches every URL a client may
try, once each, and keeps each answer as an `Exchange`. Nothing is written to the server (no
registration, no token).

Discovery URLs are built with the official Python SDK's helpers, so the doctor tries what the
SDK tries; documents are also validated with the SDK's own models.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import httpx2
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    build_protected_resource_metadata_discovery_urls,
)
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from pydantic import ValidationError

BROWSER_ORIGIN = "http://localhost:6274"  # where the MCP Inspector runs in the browser
PROTOCOL_VERSION = "2026-07-28"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
AUTH_PARAM = re.compile(r'([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


# --- What the server answered ---------------------------------------------------------------------
@dataclass
class Exchange:
    """One HTTP exchange, reduced to what the checks need."""

    method: str
    url: str
    status: int | None = None  # None: no HTTP answer at all
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    error: str | None = None
    redirected_to: Exchange | None = None  # where a 3xx led (followed once, to say what is there)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @cached_property
    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def is_html(self) -> bool:
        return self.content_type in ("text/html", "application/xhtml+xml") or self.text.lstrip()[:15].lower() in (
            "<!doctype html>",
            "<html>",
        )

    @property
    def kind(self) -> str:
        """document (200 JSON object), missing (4xx, not HTML), html, redirect, server_error,
        unreachable, or other."""
        if self.status is None:
            return "unreachable"
        if 300 <= self.status < 400:
            return "redirect"
        if self.status >= 500:
            return "server_error"
        if self.is_html:
            return "html"
        if self.status == 200 and isinstance(self.json, dict):
            return "document"
        if 400 <= self.status < 500:
            return "missing"
        return "other"

    def describe(self) -> str:
        """`url → status what`, the way a person would label the answer (the transcript, the details)."""
        if self.status is None:
            return f"{self.url}: no answer ({self.error})"
        kind = self.kind
        if kind == "document":
            what = "a JSON document"
        elif kind == "html":
            what = "an HTML page"
        elif kind == "redirect":
            target = self.redirected_to
            what = f"a redirect to {self.headers.get('location', '?')}" + (
                f" ({target.describe_short()})" if target else ""
            )
        elif kind in ("missing", "server_error"):
            what = status_phrase(self.status) + self.error_code()
        else:
            what = self.content_type or "no content type"
        return f"{self.url} → {self.status} {what}".rstrip()

    @property
    def status_label(self) -> str:
        """`401 Unauthorized`, or `no answer (…)` when nothing answered."""
        if self.status is None:
            return f"no answer ({self.error})"
        return f"{self.status} {status_phrase(self.status)}"

    def error_code(self) -> str:
        """The OAuth-style `error` of a JSON error body, if there is one."""
        error = self.json.get("error") if isinstance(self.json, dict) else None
        return f' (error "{error}")' if isinstance(error, str) else ""

    def describe_short(self) -> str:
        return f"{self.status} {'HTML' if self.is_html else self.content_type}"


def status_phrase(status: int) -> str:
    """The standard reason phrase of a status code (401 → "Unauthorized"); any 4xx is not a "not found"."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "client error" if status < 500 else "server error"


def parse_challenge(value: str | None) -> tuple[str, dict[str, str]] | None:
    """The scheme and auth-params of a WWW-Authenticate value (RFC 9110 §11.6.1), first challenge."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    params = {}
    for match in AUTH_PARAM.finditer(rest):
        name, quoted, token = match.groups()
        params.setdefault(name.lower(), re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else token)
    return scheme, params


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK


class Probe:
    """Fetches what a client would fetch, once per URL, and remembers every answer."""

    def __init__(self, url: str, timeout: float = 10.0, transport: httpx2.BaseTransport | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.http = httpx2.Client(timeout=timeout, follow_redirects=False, transport=transport)
        self.answers: dict[tuple, Exchange] = {}

    def close(self) -> None:
        self.http.close()

    def fetch(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> Exchange:
        key = (method, url, tuple(sorted((headers or {}).items())), body)
        if key in self.answers:
            return self.answers[key]
        answer = self._send(method, url, headers or {}, body)
        if answer.kind == "redirect" and answer.headers.get("location"):
            target = httpx2.URL(url).join(answer.headers["location"])
            answer.redirected_to = self._send("GET", str(target), headers or {}, None)
        self.answers[key] = answer
        return answer

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Exchange:
        try:
            response = self.http.request(method, url, headers=headers, content=body)
        except httpx2.HTTPError as exc:
            return Exchange(method, url, error=f"{type(exc).__name__}: {exc}")
        return Exchange(
            method,
            url,
            response.status_code,
            {name.lower(): value for name, value in response.headers.items()},
            response.text[:200_000],
        )

    def metadata(self, url: str) -> Exchange:
        """GET a discovery document as the SDK clients do (they send MCP-Protocol-Version)."""
        return self.fetch("GET", url, {"Accept": "application/json", "MCP-Protocol-Version": PROTOCOL_VERSION})

    # --- The chain, step by step (each property fetches on first use) -----------------------
    @cached_property
    def unauthenticated(self) -> Exchange:
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "mcp-doctor", "version": "1"}
        }}  # fmt: skip
        return self.fetch(
            "POST",
            self.url,
            {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
            json.dumps(body).encode(),
        )

    @cached_property
    def bad_token(self) -> Exchange:
        return self.fetch(
            "POST",
            self.url,
            {
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                "Authorization": "Bearer mcp-doctor-not-a-real-token",
            },
            b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
        )

    @cached_property
    def challenge(self) -> tuple[str, dict[str, str]] | None:
        if self.unauthenticated.status not in (401, 403):
            return None
        return parse_challenge(self.unauthenticated.headers.get("www-authenticate"))

    @property
    def header_prm_url(self) -> str | None:
        if self.challenge and self.challenge[0].lower() == "bearer":
            return self.challenge[1].get("resource_metadata")
        return None

    @cached_property
    def mcp_path(self) -> str:
        return urlsplit(self.url).path

    @cached_property
    def path_prm_url(self) -> str | None:
        if self.mcp_path in ("", "/"):
            return None
        return origin_of(self.url) + "/.well-known/oauth-protected-resource" + self.mcp_path  # as the SDK builds it

    @cached_property
    def root_prm_url(self) -> str:
        return origin_of(self.url) + "/.well-known/oauth-protected-resource"

    @cached_property
    def prm_urls(self) -> list[str]:
        """The order clients try (SEP-985), built by the SDK's own helper."""
        return build_protected_resource_metadata_discovery_urls(self.header_prm_url, self.url)

    @cached_property
    def prm_answers(self) -> dict[str, Exchange]:
        return {url: self.metadata(url) for url in dict.fromkeys(self.prm_urls)}

    @cached_property
    def prm(self) -> dict[str, Any] | None:
        """The first protected-resource metadata a client would accept, in the clients' order."""
        for answer in self.prm_answers.values():
            if answer.kind == "document" and valid_prm(answer.json):
                return answer.json
        return None

    @cached_property
    def issuer(self) -> str | None:
        servers = (self.prm or {}).get("authorization_servers")
        if isinstance(servers, list) and servers and isinstance(servers[0], str):
            return servers[0]
        return None

    @cached_property
    def asm_locations(self) -> list[tuple[str, str]]:
        """(kind, URL) of every AS metadata location a client may try, in the SDK's order."""
        urls = build_oauth_authorization_server_metadata_discovery_urls(self.issuer, self.url)
        return [("oidc" if "openid-configuration" in url else "rfc8414", url) for url in urls]

    @cached_property
    def asm_answers(self) -> dict[str, Exchange]:
        return {url: self.metadata(url) for _kind, url in self.asm_locations}

    @cached_property
    def asm_found(self) -> tuple[str, dict[str, Any]] | None:
        """The first AS metadata document, and where, in the order clients try."""
        for _kind, url in self.asm_locations:
            answer = self.asm_answers[url]
            if answer.kind == "document":
                return url, answer.json
        return None

    @property
    def asm(self) -> dict[str, Any] | None:
        return self.asm_found[1] if self.asm_found else None

    @cached_property
    def issuer_root_asm(self) -> Exchange | None:
        """The bare-root RFC 8414 URL, which some clients try even for an issuer with a path."""
        if not self.issuer:
            return None
        return self.metadata(origin_of(self.issuer) + "/.well-known/oauth-authorization-server")

    def preflight(self, url: str, method: str, headers: str) -> Exchange:
        return self.fetch(
            "OPTIONS",
            url,
            {
                "Origin": BROWSER_ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers,
            },
        )

    def from_browser(self, url: str) -> Exchange:
        return self.fetch("GET", url, {"Origin": BROWSER_ORIGIN, "Accept": "application/json"})


def model_problem(model: type, document: Any) -> str | None:
    """Why the official Python SDK's model rejects a metadata document (None if it accepts it)."""
    try:
        model.model_validate(document)
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
    return None


def prm_problem(document: Any) -> str | None:
    return model_problem(ProtectedResourceMetadata, document)


def asm_problem(document: Any) -> str | None:
    return model_problem(OAuthMetadata, document)


def valid_prm(document: Any) -> bool:
    return prm_problem(document) is None
