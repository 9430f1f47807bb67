"""The discovery doctor: point it at any MCP server URL and it walks the discovery chain the way
real MCP clients do, then reports, per check, pass / warn / fail (or skip, when an earlier
failure leaves nothing to check) with the reason and the fix, and a verdict per well-known client.

How it is built:
- `Probe` fetches every URL a client may try (nothing is written to the server: no
  registration, no token) and keeps each answer.
- `CHECKS` is one table: id, title, the function that judges, and the fix. Each function looks at
  the probe and returns a `Finding`.
- `democlient.client_behaviour.CLIENTS` is a second table, in its own module: per client, which
  findings break it or degrade it, why, and the source that says so (shared/research/mcp-spec.md
  §2 and §4, clients.md).
Discovery URLs are built with the official Python SDK's helpers, so the doctor tries what the
SDK tries; documents are also validated with the SDK's own models.

It needs no Django: `manage.py mcp_doctor` is a thin wrapper around `diagnose`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
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
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url
from pydantic import ValidationError

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
SEVERITY = {SKIP: 0, PASS: 0, WARN: 1, FAIL: 2}
BROWSER_ORIGIN = "http://localhost:6274"  # where the MCP Inspector runs in the browser
PROTOCOL_VERSION = "2026-07-28"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
AUTH_PARAM = re.compile(r'([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


# --- What the server answered ---------------------------------------------------------------------
@dataclass
class Answer:
    """One HTTP exchange, reduced to what the checks need."""

    method: str
    url: str
    status: int | None = None  # None: no HTTP answer at all
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    error: str | None = None
    redirected_to: Answer | None = None  # where a 3xx led (followed once, to say what is there)

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
        self.answers: dict[tuple, Answer] = {}

    def close(self) -> None:
        self.http.close()

    def fetch(self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> Answer:
        key = (method, url, tuple(sorted((headers or {}).items())), body)
        if key in self.answers:
            return self.answers[key]
        answer = self._send(method, url, headers or {}, body)
        if answer.kind == "redirect" and answer.headers.get("location"):
            target = httpx2.URL(url).join(answer.headers["location"])
            answer.redirected_to = self._send("GET", str(target), headers or {}, None)
        self.answers[key] = answer
        return answer

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Answer:
        try:
            response = self.http.request(method, url, headers=headers, content=body)
        except httpx2.HTTPError as exc:
            return Answer(method, url, error=f"{type(exc).__name__}: {exc}")
        return Answer(
            method,
            url,
            response.status_code,
            {name.lower(): value for name, value in response.headers.items()},
            response.text[:200_000],
        )

    def metadata(self, url: str) -> Answer:
        """GET a discovery document as the SDK clients do (they send MCP-Protocol-Version)."""
        return self.fetch("GET", url, {"Accept": "application/json", "MCP-Protocol-Version": PROTOCOL_VERSION})

    # --- The chain, step by step (each property fetches on first use) -----------------------
    @cached_property
    def unauthenticated(self) -> Answer:
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
    def bad_token(self) -> Answer:
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
    def prm_answers(self) -> dict[str, Answer]:
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
    def asm_answers(self) -> dict[str, Answer]:
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
    def issuer_root_asm(self) -> Answer | None:
        """The bare-root RFC 8414 URL, which some clients try even for an issuer with a path."""
        if not self.issuer:
            return None
        return self.metadata(origin_of(self.issuer) + "/.well-known/oauth-authorization-server")

    def preflight(self, url: str, method: str, headers: str) -> Answer:
        return self.fetch(
            "OPTIONS",
            url,
            {
                "Origin": BROWSER_ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers,
            },
        )

    def from_browser(self, url: str) -> Answer:
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


# --- Findings and checks ------------------------------------------------------------------------------
@dataclass
class Finding:
    status: str
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


def ok(detail: str, **facts: Any) -> Finding:
    return Finding(PASS, detail, facts)


def warn(detail: str, **facts: Any) -> Finding:
    return Finding(WARN, detail, facts)


def fail(detail: str, **facts: Any) -> Finding:
    return Finding(FAIL, detail, facts)


def skip(detail: str) -> Finding:
    return Finding(SKIP, detail)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    judge: Callable[[Probe], Finding]
    fix: str


def location_finding(answer: Answer, role: str, needed: bool, validate: Callable[[Any], str | None]) -> Finding:
    """How a client fares at one well-known URL. `needed`: no other location serves the document."""
    kind = answer.kind
    if kind == "document":
        problem = validate(answer.json)
        if problem:
            return fail(f"{answer.describe()}, but not valid {role}: {problem}", kind="invalid")
        return ok(f"{answer.describe()}", kind=kind)
    if kind == "html":
        return fail(f"{answer.describe()}: clients expect JSON here and break on an HTML page", kind=kind)
    if kind == "redirect":
        target = answer.redirected_to
        html = target is not None and target.is_html
        return fail(
            f"{answer.describe()}: the SDK clients do not follow redirects for metadata"
            + (", and it leads to an HTML page" if html else ""),
            kind=kind,
        )
    if kind == "server_error":
        return fail(f"{answer.describe()}: a 5xx stops discovery in the Python SDK", kind=kind)
    if kind == "unreachable":
        return fail(answer.describe(), kind=kind)
    if kind == "missing":
        if needed:
            return warn(f"{answer.describe()}", kind=kind)
        return ok(f"{answer.describe()} (clients go on to the next location)", kind=kind)
    return fail(f"{answer.describe()}: neither a JSON document nor a clean 404", kind=kind)


# The 401 challenge --------------------------------------------------------------------------------
def check_https(probe: Probe) -> Finding:
    if probe.url.startswith("https://"):
        return ok(f"{probe.url} uses https")
    if is_loopback(probe.url):
        return ok(f"{probe.url} is plain http on a loopback address (fine for local development)")
    return fail(f"{probe.url} is plain http: OAuth 2.1 requires TLS, and hosted clients refuse it")


def check_challenge_status(probe: Probe) -> Finding:
    answer = probe.unauthenticated
    if answer.status == 401:
        return ok("POST without a token → 401")
    if answer.status is None:
        return fail(answer.describe())
    if answer.status == 200:
        return fail("POST without a token → 200: the server does not require authorization (claude.ai ignores "
                    "a challenge on a 200)")  # fmt: skip
    return fail(f"POST without a token → {answer.status_label}, not 401")


def needs_challenge(judge: Callable[[Probe, str, dict[str, str]], Finding]) -> Callable[[Probe], Finding]:
    """Run a check of the challenge's parameters only when there is a Bearer challenge."""

    def wrapped(probe: Probe) -> Finding:
        if probe.unauthenticated.status != 401:
            return skip("no 401 to inspect")
        if probe.challenge is None or probe.challenge[0].lower() != "bearer":
            return skip("no Bearer challenge to inspect")
        scheme, params = probe.challenge
        return judge(probe, scheme, params)

    wrapped.__name__ = judge.__name__
    return wrapped


def check_challenge_header(probe: Probe) -> Finding:
    if probe.unauthenticated.status != 401:
        return skip("no 401 to inspect")
    value = probe.unauthenticated.headers.get("www-authenticate")
    if not value:
        return fail("the 401 has no WWW-Authenticate header: 2025-06-18 clients find the metadata only through it")
    if probe.challenge is None or probe.challenge[0].lower() != "bearer":
        return fail(f"WWW-Authenticate is {value!r}, not a Bearer challenge")
    return ok(f"WWW-Authenticate: {value}")


@needs_challenge
def check_challenge_resource_metadata(probe: Probe, scheme: str, params: dict[str, str]) -> Finding:
    url = params.get("resource_metadata")
    if not url:
        return warn("no resource_metadata parameter: clients fall back to the well-known URLs (2025-06-18 ones fail)")
    if not url.startswith(("https://", "http://")):
        return fail(f"resource_metadata={url!r} is not an absolute URL")
    return ok(f"resource_metadata={url}")


@needs_challenge
def check_challenge_scope(probe: Probe, scheme: str, params: dict[str, str]) -> Finding:
    if "scope" not in params:
        return warn("no scope parameter: clients then ask for every scope in scopes_supported")
    return ok(f'scope="{params["scope"]}"')


@needs_challenge
def check_challenge_no_error(probe: Probe, scheme: str, params: dict[str, str]) -> Finding:
    if "error" in params:
        return warn(f'error="{params["error"]}" although no token was sent (RFC 6750 §3.1 says no error code)')
    return ok("no error code when no token was sent (RFC 6750 §3.1)")


def check_invalid_token(probe: Probe) -> Finding:
    answer = probe.bad_token
    if answer.status != 401:
        return fail(f"POST with an invalid token → {answer.status_label}, not 401")
    parsed = parse_challenge(answer.headers.get("www-authenticate"))
    if parsed is None:
        return warn("POST with an invalid token → 401 without WWW-Authenticate")
    if parsed[1].get("error") != "invalid_token":
        return warn(f"POST with an invalid token → 401 with error={parsed[1].get('error')!r}, not invalid_token")
    return ok('POST with an invalid token → 401 error="invalid_token"')


# Protected-resource metadata ---------------------------------------------------------------------------
def check_prm_header_url(probe: Probe) -> Finding:
    url = probe.header_prm_url
    if not url:
        return skip("the challenge names no resource_metadata URL")
    others = any(a.kind == "document" and valid_prm(a.json) for u, a in probe.prm_answers.items() if u != url)
    return location_finding(probe.prm_answers[url], "protected-resource metadata", not others, prm_problem)


def check_prm_path_inserted(probe: Probe) -> Finding:
    url = probe.path_prm_url
    if url is None:
        return skip("the MCP URL has no path: the path-inserted location is the root one")
    root = probe.metadata(probe.root_prm_url)
    finding = location_finding(probe.metadata(url), "protected-resource metadata", True, prm_problem)
    if finding.status == WARN and root.kind == "document":
        finding.detail += " (the root location serves the document; Claude and ChatGPT probe this one first)"
    return finding


def check_prm_root(probe: Probe) -> Finding:
    path_answer = probe.metadata(probe.path_prm_url) if probe.path_prm_url else None
    served_elsewhere = path_answer is not None and path_answer.kind == "document" and valid_prm(path_answer.json)
    return location_finding(
        probe.metadata(probe.root_prm_url), "protected-resource metadata", not served_elsewhere, prm_problem
    )


def check_prm_found(probe: Probe) -> Finding:
    if probe.prm is None:
        tried = "; ".join(answer.describe() for answer in probe.prm_answers.values())
        return fail(f"no valid protected-resource metadata at any location clients try: {tried}")
    where = next(u for u, a in probe.prm_answers.items() if a.kind == "document" and valid_prm(a.json))
    return ok(f"found at {where}")


def check_prm_resource(probe: Probe) -> Finding:
    copies = {u: a.json for u, a in probe.prm_answers.items() if a.kind == "document" and valid_prm(a.json)}
    if not copies:
        return skip("no protected-resource metadata")
    wrong = {u: doc.get("resource") for u, doc in copies.items() if doc.get("resource") != probe.url}
    if not wrong:
        return ok(f"resource = {probe.url} (the URL dialled) in every copy")
    resource = next(iter(wrong.values()))
    tolerated = isinstance(resource, str) and check_resource_allowed(resource_url_from_server_url(probe.url), resource)
    detail = "; ".join(f"{u} says resource={r!r}" for u, r in wrong.items())
    return fail(
        f"{detail}, but the URL dialled is {probe.url} (RFC 9728 §3.3 requires them identical)"
        + (" — the SDKs accept this same-origin prefix, claude.ai does not" if tolerated else "")
        + another_name_advice(probe.url, resource),
        same_origin_prefix=tolerated,
    )


def another_name_advice(dialled: str, resource: object) -> str:
    """When the server names the same endpoint under another origin (a loopback alias such as
    localhost for 127.0.0.1, a proxy's internal name), which URL to dial instead, or what to set."""
    if not isinstance(resource, str) or not resource.startswith(("https://", "http://")):
        return ""
    if urlsplit(resource).path != urlsplit(dialled).path or origin_of(resource) == origin_of(dialled):
        return ""
    return (
        f". The server calls itself {origin_of(resource)}: you dialled it under another name. Use {resource} in "
        f"your client; or, if clients really reach it at {origin_of(dialled)}, set the server's public URL to "
        f"that (PUBLIC_URL={origin_of(dialled)} for this project)"
    )


def check_prm_authorization_servers(probe: Probe) -> Finding:
    if probe.prm is None:
        return skip("no protected-resource metadata")
    servers = probe.prm.get("authorization_servers")
    bad = [s for s in servers if urlsplit(s).query or urlsplit(s).fragment or not urlsplit(s).netloc]
    if bad:
        return fail(f"authorization_servers has entries that are not issuer identifiers: {bad}")
    if len(servers) > 1:
        return warn(f"{len(servers)} authorization servers: clients use only the first, {servers[0]}")
    return ok(f"authorization_servers = {servers}")


def check_prm_scopes(probe: Probe) -> Finding:
    if probe.prm is None:
        return skip("no protected-resource metadata")
    scopes = probe.prm.get("scopes_supported")
    if not scopes:
        return warn("no scopes_supported: clients without a scope hint will omit scope")
    if "offline_access" in scopes:
        return warn("scopes_supported lists offline_access, which the MCP spec says it should not")
    return ok(f"scopes_supported = {scopes}")


# Authorization-server metadata --------------------------------------------------------------------------
def asm_location_check(kind: str) -> Callable[[Probe], Finding]:
    def judge(probe: Probe) -> Finding:
        if probe.issuer is None:
            return skip("no issuer to look up (no protected-resource metadata)")
        urls = [url for k, url in probe.asm_locations if k == kind]
        found_url = probe.asm_found[0] if probe.asm_found else None
        findings = []
        for url in urls:
            other = found_url is not None and found_url != url
            finding = location_finding(probe.asm_answers[url], "authorization-server metadata", not other, asm_problem)
            if other and finding.status == FAIL and finding.facts.get("kind") in ("html", "server_error"):
                position = [u for _k, u in probe.asm_locations]
                if position.index(url) > position.index(found_url):
                    # Clients stop at the first document, so they never see this one.
                    finding = warn(
                        f"{probe.asm_answers[url].describe()}: harmless for clients that stop at {found_url} "
                        "first, a trap for any that try OpenID discovery first",
                        **finding.facts,
                    )
            findings.append(finding)
        worst = max(findings, key=lambda f: SEVERITY[f.status])
        return Finding(worst.status, "; ".join(f.detail for f in findings), worst.facts)

    return judge


def check_asm_found(probe: Probe) -> Finding:
    if probe.issuer is None:
        return skip("no issuer to look up (no protected-resource metadata)")
    if probe.asm_found is None:
        tried = "; ".join(answer.describe() for answer in probe.asm_answers.values())
        return fail(f"no authorization-server metadata for {probe.issuer} at any location clients try: {tried}")
    return ok(f"found at {probe.asm_found[0]}")


def check_asm_issuer(probe: Probe) -> Finding:
    if probe.asm is None:
        return skip("no authorization-server metadata")
    issuer = probe.asm.get("issuer")
    if issuer != probe.issuer:
        return fail(
            f"issuer is {issuer!r} but the protected-resource metadata names {probe.issuer!r}: clients compare "
            "them as plain strings (RFC 8414 §3.3) and discard the metadata",
            trailing_slash=isinstance(issuer, str) and issuer.rstrip("/") == (probe.issuer or "").rstrip("/"),
        )
    return ok(f"issuer = {issuer}, identical to the protected-resource metadata's entry")


def check_asm_issuer_path(probe: Probe) -> Finding:
    if probe.issuer is None:
        return skip("no issuer")
    path = urlsplit(probe.issuer).path
    if path in ("", "/"):
        return ok(f"the issuer {probe.issuer} has no path")
    root = probe.issuer_root_asm
    served = root is not None and root.kind == "document"
    return warn(
        f"the issuer {probe.issuer} has a path; the bare-root RFC 8414 URL "
        + ("serves a document too" if served else "does not serve it (Claude Code looks only there)"),
        root_served=served,
    )


def check_asm_fields(probe: Probe) -> Finding:
    if probe.asm is None:
        return skip("no authorization-server metadata")
    missing = [
        key for key in ("issuer", "authorization_endpoint", "token_endpoint") if not isinstance(probe.asm.get(key), str)
    ]
    if missing:
        return fail(f"missing {', '.join(missing)}")
    if "code" not in (probe.asm.get("response_types_supported") or []):
        return fail('response_types_supported must list "code" (the TypeScript SDK rejects the document otherwise)')
    insecure = [
        key
        for key in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint")
        if isinstance(probe.asm.get(key), str)
        and not probe.asm[key].startswith("https://")
        and not is_loopback(probe.asm[key])
    ]
    if insecure:
        return fail(f"plain-http endpoints off loopback: {', '.join(insecure)}")
    return ok("issuer, authorization_endpoint, token_endpoint and response_types_supported (code) are there")


def check_asm_pkce(probe: Probe) -> Finding:
    if probe.asm is None:
        return skip("no authorization-server metadata")
    methods = probe.asm.get("code_challenge_methods_supported")
    if not methods or "S256" not in methods:
        return fail(f"code_challenge_methods_supported = {methods!r}: without S256 MCP clients must refuse to go on")
    if "plain" in methods:
        return warn(f"code_challenge_methods_supported = {methods}: plain is allowed too (RFC 9700 says S256 only)")
    return ok(f"code_challenge_methods_supported = {methods}")


def registration_options(asm: dict[str, Any]) -> list[str]:
    options = []
    if asm.get("client_id_metadata_document_supported") is True:
        options.append("client ID metadata documents (CIMD)")
    if asm.get("registration_endpoint"):
        options.append("dynamic registration (RFC 7591)")
    return options


def check_asm_registration(probe: Probe) -> Finding:
    if probe.asm is None:
        return skip("no authorization-server metadata")
    options = registration_options(probe.asm)
    if not options:
        return warn("pre-registered clients only: every user must enter a client id by hand", options=[])
    return ok("clients can register by " + " and ".join(options), options=options)


def check_asm_cimd(probe: Probe) -> Finding:
    if probe.asm is None:
        return skip("no authorization-server metadata")
    if probe.asm.get("client_id_metadata_document_supported") is not True:
        return warn("client_id_metadata_document_supported is not true (CIMD is the MCP 2026-07-28 SHOULD)")
    if "none" not in (probe.asm.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]):
        return warn('CIMD is advertised but token_endpoint_auth_methods_supported lacks "none" (claude.ai needs both)')
    return ok('client_id_metadata_document_supported = true, with "none" among the token auth methods')


def check_asm_dcr(probe: Probe) -> Finding:
    if probe.asm is None:
        return skip("no authorization-server metadata")
    endpoint = probe.asm.get("registration_endpoint")
    if not endpoint:
        return warn(
            "no registration_endpoint: VS Code and Cursor then need a client id entered by hand",
            cimd=probe.asm.get("client_id_metadata_document_supported") is True,
        )
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        return fail(f"registration_endpoint {endpoint!r} is not an absolute URL")
    if "none" not in (probe.asm.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]):
        return warn('token_endpoint_auth_methods_supported lacks "none": public (native) clients cannot register')
    return ok(f"registration_endpoint = {endpoint}, public clients allowed")


def check_asm_private_key_jwt(probe: Probe) -> Finding:
    """ChatGPT's way in when CIMD is advertised: its URL client id, signed with private_key_jwt."""
    if probe.asm is None:
        return skip("no authorization-server metadata")
    if probe.asm.get("client_id_metadata_document_supported") is not True:
        return skip("CIMD is not advertised, so ChatGPT registers by RFC 7591 instead")
    methods = probe.asm.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "private_key_jwt" not in methods:
        return fail(
            f"CIMD is advertised with token_endpoint_auth_methods_supported = {methods}: ChatGPT then identifies "
            "itself by its URL and authenticates with private_key_jwt, which this server does not list"
        )
    algorithms = probe.asm.get("token_endpoint_auth_signing_alg_values_supported")
    if not algorithms:
        return warn("private_key_jwt is listed without token_endpoint_auth_signing_alg_values_supported")
    if "RS256" not in algorithms:
        return fail(f"token_endpoint_auth_signing_alg_values_supported = {algorithms} lacks RS256, which ChatGPT uses")
    return ok(f"URL client ids may sign with private_key_jwt ({', '.join(algorithms)})")


def check_asm_scopes(probe: Probe) -> Finding:
    """Some clients request the authorization server's scopes_supported, not the resource's."""
    if probe.asm is None:
        return skip("no authorization-server metadata")
    scopes = probe.asm.get("scopes_supported")
    if not isinstance(scopes, list) or not scopes:
        return warn("the authorization-server metadata has no scopes_supported")
    needed = (probe.prm or {}).get("scopes_supported") or []
    missing = [scope for scope in needed if scope not in scopes]
    if missing:
        return fail(f"scopes_supported = {scopes} lacks {missing}, which the protected resource lists")
    return ok(f"scopes_supported = {scopes}, every scope of the protected resource included")


def check_asm_offline_access(probe: Probe) -> Finding:
    if probe.asm is None:
        return skip("no authorization-server metadata")
    scopes = probe.asm.get("scopes_supported")
    if isinstance(scopes, list) and "offline_access" in scopes:
        return ok("offline_access is listed in scopes_supported (SEP-2207): clients that add it are accepted")
    return warn(
        "offline_access is not in the authorization server's scopes_supported: a server that refuses scopes it "
        "does not list answers invalid_scope to the clients that add it anyway"
    )


def check_asm_iss(probe: Probe) -> Finding:
    if probe.asm is None:
        return skip("no authorization-server metadata")
    if probe.asm.get("authorization_response_iss_parameter_supported") is not True:
        return warn("authorization_response_iss_parameter_supported is not true (RFC 9207 `iss`, a 2026-07-28 SHOULD)")
    return ok("authorization_response_iss_parameter_supported = true (clients then require a matching iss)")


def check_asm_grant_types(probe: Probe) -> Finding:
    if probe.asm is None:
        return skip("no authorization-server metadata")
    grants = probe.asm.get("grant_types_supported")
    if grants is None:
        return ok("grant_types_supported absent: authorization_code is the default (RFC 8414 §2)")
    if "authorization_code" not in grants:
        return fail(f"grant_types_supported = {grants}: no authorization_code")
    if "refresh_token" not in grants:
        return warn(f"grant_types_supported = {grants}: no refresh_token, users sign in again when tokens expire")
    return ok(f"grant_types_supported = {grants}")


# CORS ---------------------------------------------------------------------------------------------------------
def cors_allows(answer: Answer) -> bool:
    allowed = answer.headers.get("access-control-allow-origin")
    return allowed in ("*", BROWSER_ORIGIN)


def cors_for(urls: Callable[[Probe], list[str]], method: str, headers: str, what: str) -> Callable[[Probe], Finding]:
    def judge(probe: Probe) -> Finding:
        targets = [u for u in urls(probe) if u]
        if not targets:
            return skip(f"no {what} to check")
        problems, notes = [], []
        for url in targets:
            preflight = probe.preflight(url, method, headers)
            if not cors_allows(preflight) or (preflight.status or 0) >= 400:
                problems.append(f"OPTIONS {url} → {preflight.status_label} without Access-Control-Allow-Origin")
                continue
            allowed_headers = preflight.headers.get("access-control-allow-headers", "").lower()
            wanted = [h for h in headers.split(",") if h and h not in allowed_headers and allowed_headers != "*"]
            if wanted:
                notes.append(f"{url} does not allow the header(s) {', '.join(wanted)}")
            if method == "GET" and not cors_allows(probe.from_browser(url)):
                problems.append(f"GET {url} from {BROWSER_ORIGIN} has no Access-Control-Allow-Origin")
        if problems:
            return fail("; ".join(problems))
        if notes:
            return warn("; ".join(notes) + " (the TypeScript SDK retries without MCP-Protocol-Version)")
        return ok(f"a browser page at {BROWSER_ORIGIN} may read the {what}")

    return judge


def check_cors_mcp(probe: Probe) -> Finding:
    answer = probe.fetch(
        "POST",
        probe.url,
        {"Origin": BROWSER_ORIGIN, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
        b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
    )
    if not cors_allows(answer):
        return warn(
            f"POST {probe.url} from {BROWSER_ORIGIN} → {answer.status_label} without Access-Control-Allow-Origin: "
            "browser clients must go through a proxy (the MCP Inspector's default)"
        )
    exposed = answer.headers.get("access-control-expose-headers", "").lower()
    if answer.status == 401 and "www-authenticate" not in exposed and exposed != "*":
        return warn("the 401 does not expose WWW-Authenticate (Access-Control-Expose-Headers): browsers cannot read it")
    return ok(f"a browser page at {BROWSER_ORIGIN} may call {probe.url} and read its challenge")


# Content types -------------------------------------------------------------------------------------------------
def check_json_answers(probe: Probe) -> Finding:
    """Every well-known answer fetched so far is JSON (or a clean 404), never HTML or a redirect."""
    wellknown = [
        a for a in probe.answers.values() if a.method == "GET" and "/.well-known/" in a.url and a.status is not None
    ]
    if not wellknown:
        return skip("no well-known URL answered")
    bad, loose = [], []
    for answer in {a.url: a for a in wellknown}.values():
        if answer.kind in ("html", "redirect"):
            bad.append(answer.describe())
        elif answer.kind == "document" and answer.content_type != "application/json":
            loose.append(f"{answer.url} is {answer.content_type or 'untyped'}")
    if bad:
        return fail("; ".join(bad))
    if loose:
        return warn("JSON served as " + "; ".join(loose))
    return ok(f"{len(wellknown)} well-known answers, all application/json or a clean 404, no redirects")


CHECKS: tuple[Check, ...] = (
    Check("mcp.https", "The MCP URL uses TLS", check_https, "Serve the MCP endpoint over https (TLS at the proxy)."),
    Check(
        "challenge.status",
        "A request without a token gets 401",
        check_challenge_status,
        "Answer every unauthenticated MCP request with 401 (not 200, 302 or 403).",
    ),
    Check(
        "challenge.header",
        "The 401 carries a Bearer WWW-Authenticate",
        check_challenge_header,
        'Send `WWW-Authenticate: Bearer resource_metadata="<PRM URL>", scope="<scopes>"` with the 401.',
    ),
    Check(
        "challenge.resource_metadata",
        "The challenge points at the protected-resource metadata",
        check_challenge_resource_metadata,
        'Add resource_metadata="https://host/.well-known/oauth-protected-resource/<mcp path>" to the challenge.',
    ),
    Check(
        "challenge.scope",
        "The challenge names the scope to request",
        check_challenge_scope,
        'Add scope="<the scopes a basic session needs>" to the challenge (MCP scope selection, step 1).',
    ),
    Check(
        "challenge.no_error",
        "No error code when no token was sent",
        check_challenge_no_error,
        'Leave error= out when the request had no credentials; use error="invalid_token" for bad ones.',
    ),
    Check(
        "challenge.invalid_token",
        "An invalid token gets 401 invalid_token",
        check_invalid_token,
        'Answer a bad or expired token with 401 and error="invalid_token", so clients refresh or re-authorize.',
    ),
    Check(
        "prm.header_url",
        "The challenge's metadata URL serves the document",
        check_prm_header_url,
        "Serve the protected-resource metadata as JSON at the URL the challenge names.",
    ),
    Check(
        "prm.path_inserted",
        "Protected-resource metadata at the path-inserted well-known URL",
        check_prm_path_inserted,
        "Serve the document at /.well-known/oauth-protected-resource<mcp path> (RFC 9728 §3.1) as JSON; a SPA "
        "fallback must never answer well-known URLs with HTML.",
    ),
    Check(
        "prm.root",
        "Protected-resource metadata at the root well-known URL",
        check_prm_root,
        "Serve the document (or a JSON 404) at /.well-known/oauth-protected-resource; never HTML.",
    ),
    Check(
        "prm.found",
        "Clients find the protected-resource metadata",
        check_prm_found,
        "Publish RFC 9728 metadata: {resource, authorization_servers:[issuer], scopes_supported}.",
    ),
    Check(
        "prm.resource",
        "resource is exactly the URL dialled",
        check_prm_resource,
        "Set resource to the exact MCP URL (scheme, host, port, path; no trailing slash) in every copy; behind a "
        "proxy derive it from the public URL, not the internal one.",
    ),
    Check(
        "prm.authorization_servers",
        "authorization_servers names the issuer",
        check_prm_authorization_servers,
        "List the issuer identifier(s) exactly as the AS metadata's issuer reads; clients use the first.",
    ),
    Check(
        "prm.scopes_supported",
        "scopes_supported is the minimal set",
        check_prm_scopes,
        "List the scopes a client needs (without offline_access) in scopes_supported.",
    ),
    Check(
        "asm.found",
        "Clients find the authorization-server metadata",
        check_asm_found,
        "Publish RFC 8414 metadata at /.well-known/oauth-authorization-server (path-inserted for an issuer with a "
        "path) or OpenID discovery at /.well-known/openid-configuration.",
    ),
    Check(
        "asm.rfc8414",
        "RFC 8414 location answers with JSON",
        asm_location_check("rfc8414"),
        "Serve /.well-known/oauth-authorization-server[/<issuer path>] as JSON, or a JSON 404; never HTML or a 5xx.",
    ),
    Check(
        "asm.oidc",
        "OpenID discovery locations answer cleanly",
        asm_location_check("oidc"),
        "Serve /.well-known/openid-configuration as JSON or a clean 404; never an HTML page or a 5xx.",
    ),
    Check(
        "asm.issuer",
        "issuer equals the authorization_servers entry",
        check_asm_issuer,
        "Make the metadata's issuer byte-for-byte the authorization_servers entry (watch trailing slashes).",
    ),
    Check(
        "asm.issuer_path",
        "The issuer has no path",
        check_asm_issuer_path,
        "Use the bare origin as the issuer, or also serve the metadata at the root RFC 8414 URL.",
    ),
    Check(
        "asm.fields",
        "Required metadata fields",
        check_asm_fields,
        'Include issuer, authorization_endpoint, token_endpoint and response_types_supported ["code"]; https URLs.',
    ),
    Check(
        "asm.pkce",
        "PKCE S256 is advertised",
        check_asm_pkce,
        'Advertise code_challenge_methods_supported: ["S256"] (and require PKCE).',
    ),
    Check(
        "asm.registration",
        "Clients can register themselves",
        check_asm_registration,
        "Offer CIMD (client_id_metadata_document_supported) and/or dynamic registration (registration_endpoint).",
    ),
    Check(
        "asm.cimd",
        "URL client ids (CIMD)",
        check_asm_cimd,
        'Support Client ID Metadata Documents and advertise client_id_metadata_document_supported: true with "none".',
    ),
    Check(
        "asm.dcr",
        "Dynamic client registration (RFC 7591)",
        check_asm_dcr,
        'Offer a registration_endpoint accepting public clients (token_endpoint_auth_method "none").',
    ),
    Check(
        "asm.private_key_jwt",
        "URL client ids may sign (private_key_jwt)",
        check_asm_private_key_jwt,
        "Accept RFC 7523 private_key_jwt for URL client ids whose document declares it (keys from jwks_uri or "
        'jwks), and list it with token_endpoint_auth_signing_alg_values_supported ["RS256", ...]; or stop '
        "advertising client_id_metadata_document_supported.",
    ),
    Check(
        "asm.scopes",
        "The authorization server lists the resource's scopes",
        check_asm_scopes,
        "List every scope of the protected resource in the authorization server's scopes_supported.",
    ),
    Check(
        "asm.offline_access",
        "offline_access is accepted",
        check_asm_offline_access,
        "Accept offline_access in authorization requests (refresh tokens are issued anyway) and list it in the "
        "authorization server's scopes_supported, never in the protected-resource metadata.",
    ),
    Check(
        "asm.iss",
        "RFC 9207 iss in authorization responses",
        check_asm_iss,
        "Send iss on every authorization response and advertise authorization_response_iss_parameter_supported.",
    ),
    Check(
        "asm.grant_types",
        "Authorization code and refresh grants",
        check_asm_grant_types,
        'Advertise grant_types_supported: ["authorization_code", "refresh_token"].',
    ),
    Check(
        "cors.prm",
        "Browsers may read the protected-resource metadata",
        cors_for(lambda p: list(dict.fromkeys(p.prm_urls)), "GET", "mcp-protocol-version", "resource metadata"),
        "Answer the metadata and its preflight with Access-Control-Allow-Origin: * and allow MCP-Protocol-Version.",
    ),
    Check(
        "cors.asm",
        "Browsers may read the authorization-server metadata",
        cors_for(
            lambda p: [p.asm_found[0]] if p.asm_found else [],
            "GET",
            "mcp-protocol-version",
            "authorization-server metadata",
        ),  # fmt: skip
        "Answer the metadata and its preflight with Access-Control-Allow-Origin: * and allow MCP-Protocol-Version.",
    ),
    Check(
        "cors.oauth",
        "Browsers may call the token and registration endpoints",
        cors_for(
            lambda p: [p.asm.get("token_endpoint"), p.asm.get("registration_endpoint")] if p.asm else [],
            "POST",
            "content-type",
            "token and registration endpoints",
        ),
        "Allow cross-origin POSTs (no credentials) to /token and /register: the MCP Inspector calls them from a page.",
    ),
    Check(
        "cors.mcp",
        "Browsers may read the MCP endpoint's challenge",
        check_cors_mcp,
        "Allow the browser clients' origins on the MCP endpoint and expose WWW-Authenticate.",
    ),
    Check(
        "http.json",
        "Discovery answers are JSON, never HTML or redirects",
        check_json_answers,
        "Route every /.well-known/ URL to JSON handlers (a JSON 404 for unknown ones), before any SPA fallback.",
    ),
)


# --- Running it ------------------------------------------------------------
def diagnose(url: str, timeout: float = 10.0, transport: httpx2.BaseTransport | None = None) -> dict[str, Any]:
    """Run every check against `url`; the result is what `--json` prints."""
    probe = Probe(url.strip(), timeout=timeout, transport=transport)
    findings: dict[str, Finding] = {}
    checks = []
    try:
        for check in CHECKS:
            try:
                finding = check.judge(probe)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                # A document shaped so oddly that a judge tripped on it: that is the server's fault.
                finding = fail(f"unexpected answer ({type(exc).__name__}: {exc})")
            findings[check.id] = finding
            checks.append(
                {
                    "id": check.id,
                    "title": check.title,
                    "status": finding.status,
                    "detail": finding.detail,
                    "fix": check.fix if finding.status in (WARN, FAIL) else None,
                }
            )
    finally:
        probe.close()
    counts = {status: sum(1 for c in checks if c["status"] == status) for status in (PASS, WARN, FAIL, SKIP)}
    # Imported here: the table is written in the doctor's terms (its statuses), so it imports this module.
    from .client_behaviour import CLIENTS, verdict

    return {
        "url": url,
        "ok": counts[FAIL] == 0,
        "summary": counts,
        "checks": checks,
        "clients": [verdict(profile, findings) for profile in CLIENTS],
        "exchanges": [f"{answer.method} {answer.describe()}" for answer in probe.answers.values()],
    }
