"""The demo: an MCP client that walks the whole discovery and authorization chain against a
server and narrates every exchange, from the first 401 to a tool call, the 403 step-up and the
re-authorization with the wider scope.

It speaks plain HTTP (httpx2, `democlient.flow`, `democlient.mcp_calls`) rather than the SDK's client
on purpose: the point is to show each request and answer on the wire (status codes, the
`WWW-Authenticate` challenges), which the SDK's client handles out of sight. Discovery URLs are
built with the SDK's own helpers, so the demo tries exactly what the official Python client tries.

Nothing here needs Django: `manage.py mcp_demo` is a thin wrapper around `Demo`.
"""

from __future__ import annotations

import html
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    extract_field_from_www_auth,
    union_scopes,
)

from . import flow, mcp_calls
from .narrate import Narrator, mask, mask_text, redact

HEADLESS_REDIRECT_URI = "http://127.0.0.1/callback"  # never listened on: the headless browser stops there
CLIENT_NAME = "MCP demo client"
WRITE_TOOL = "create_note"
READ_TOOL = "whoami"
RESOURCE_URI = "notes://index"
SHOWN_HEADERS = ("www-authenticate", "content-type", "location", "cache-control", "etag")

# The steps in the order they run (ids are what `--json` consumers and the tests key on).
STEPS = (
    ("mcp-unauthenticated", "MCP request without a token"),
    ("protected-resource-metadata", "Protected-resource metadata (RFC 9728)"),
    ("authorization-server-metadata", "Authorization-server metadata (RFC 8414)"),
    ("registration", "Client registration"),
    ("authorization", "Authorization request with PKCE"),
    ("token", "Token request"),
    ("mcp-discover", "MCP session: server/discover"),
    ("tools-list", "MCP: tools/list"),
    ("tool-call", f"MCP: tools/call {READ_TOOL}"),
    ("resource-read", f"MCP: resources/read {RESOURCE_URI}"),
    ("step-up-refused", f"MCP: tools/call {WRITE_TOOL} with a read-only token"),
    ("reauthorization", "Re-authorization with the wider scope"),
    ("token-wider", "Token request for the wider scope"),
    ("tool-call-write", f"MCP: tools/call {WRITE_TOOL} again"),
    ("revoke", "Revocation of the demo's tokens (RFC 7009)"),
)
TITLES = dict(STEPS)

CLIENT_TO_SERVER = "Client → Server"
SERVER_TO_CLIENT = "Server → Client"


class DemoFailure(Exception):
    """The server did not answer as the protocol says; the demo stops at this step."""

    def __init__(self, message: str, response: httpx2.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


def mcp_url_from(url: str) -> str:
    """The MCP endpoint for a URL given as an origin (`http://host:8000`) or the endpoint itself."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    path = parts.path if parts.path not in ("", "/") else "/mcp"
    return f"{parts.scheme}://{parts.netloc}{path}"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def request_summary(request: httpx2.Request) -> dict[str, Any]:
    headers = {
        name: mask_text(value)
        for name, value in request.headers.items()
        if name.lower() in ("authorization", "content-type", "mcp-protocol-version", "mcp-method", "mcp-name")
    }
    summary: dict[str, Any] = {"method": request.method, "url": mask_text(str(request.url)), "headers": headers}
    body = request.content
    if body:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            summary["body"] = redact(httpx2.Response(200, content=body).json())
        elif content_type.startswith("application/x-www-form-urlencoded"):
            form = {key: values[-1] for key, values in parse_qs(body.decode()).items()}
            summary["body"] = redact(form)
    return summary


def response_summary(response: httpx2.Response, body: Any = None) -> dict[str, Any]:
    headers = {name: mask_text(response.headers[name]) for name in SHOWN_HEADERS if name in response.headers}
    summary: dict[str, Any] = {"status": response.status_code, "headers": headers}
    if body is None and response.headers.get("content-type", "").startswith("application/json") and response.content:
        try:
            body = response.json()
        except ValueError:
            body = None
    if body is not None:
        summary["body"] = redact(body)
    return summary


def status_line(response: httpx2.Response) -> str:
    return f"{response.status_code} {response.reason_phrase}".strip()


class LoopbackReceiver:
    """The redirect URI of browser mode: a one-page HTTP server on 127.0.0.1 (RFC 8252 §7.3)
    that catches the authorization response from the user's browser."""

    def __init__(self) -> None:
        self.callbacks: list[flow.Callback] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                if urlsplit(self.path).path != "/callback":
                    self.send_error(404)
                    return
                callback = flow.callback_from(f"http://127.0.0.1{self.path}")
                page = (
                    "<!doctype html><meta charset=utf-8><title>MCP demo</title>"
                    "<p>The demo client got the answer"
                    f" ({html.escape('code' if callback.code else callback.error or 'nothing')})."
                    " You can close this window.</p>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                with receiver.arrived:
                    receiver.callbacks.append(callback)
                    receiver.arrived.notify_all()

            def log_message(self, *args) -> None:  # keep the narration clean
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def wait(self, state: str, timeout: float) -> flow.Callback:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for callback in self.callbacks:
                    if callback.params.get("state") == state:
                        return callback
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DemoFailure(f"no answer reached {self.redirect_uri} within {timeout:.0f} s")
                self.arrived.wait(remaining)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Grant:
    """What one authorization produced (kept in memory only, never printed whole)."""

    scope: str
    access_token: str
    refresh_token: str | None
    granted_scope: str


@dataclass
class Demo:
    url: str
    username: str | None = None  # None: browser mode
    password: str | None = None
    client_id_url: str | None = None  # a URL client id (CIMD) instead of self-registration
    narrator: Narrator = field(default_factory=lambda: Narrator(quiet=True))
    timeout: float = 30.0
    callback_timeout: float = 300.0
    open_browser: Callable[[str], Any] = webbrowser.open
    protocol: str = mcp_calls.MODERN

    def __post_init__(self) -> None:
        self.mcp_url = mcp_url_from(self.url)
        self.origin = origin_of(self.mcp_url)
        self.steps: list[dict[str, Any]] = []
        self.http = httpx2.Client(timeout=self.timeout, follow_redirects=False)
        self.receiver: LoopbackReceiver | None = None
        self.challenge_scope: str | None = None
        self.prm: dict[str, Any] = {}
        self.asm: dict[str, Any] = {}
        self.issuer = ""
        self.client_id = ""
        self.redirect_uri = HEADLESS_REDIRECT_URI
        self.grants: list[Grant] = []

    @property
    def headless(self) -> bool:
        return self.username is not None

    # --- Running and recording --------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run every step; the result is what `--json` prints."""
        self.narrator.total = len(STEPS)
        self.narrator.heading(f"MCP demo client → {self.mcp_url}")
        self.narrator.note(
            ("headless: login and consent as " + repr(self.username)) if self.headless else "browser mode"
        )
        error = None
        current = STEPS[0][0]
        try:
            if not self.headless:
                self.receiver = LoopbackReceiver()
                self.redirect_uri = self.receiver.redirect_uri
            for step_id, _title in STEPS:
                current = step_id
                getattr(self, "step_" + step_id.replace("-", "_"))()
        except (DemoFailure, flow.FlowError, httpx2.HTTPError, ValueError) as exc:
            error = {"step": current, "message": mask_text(str(exc))}
            response = getattr(exc, "response", None)
            self.record(
                current,
                "failed",
                response=response_summary(response) if isinstance(response, httpx2.Response) else None,
                exchanges=[(SERVER_TO_CLIENT, str(exc), "red")],
            )
        finally:
            self.http.close()
            if self.receiver is not None:
                self.receiver.close()
        ok = error is None
        if ok:
            self.narrator.write()
            self.narrator.heading("The whole chain worked: discovery, registration, PKCE, token, MCP, step-up.")
        return {
            "url": self.mcp_url,
            "mode": "headless" if self.headless else "browser",
            "registration": "client-id-metadata-document" if self.client_id_url else "dynamic",
            "protocol": self.protocol,
            "ok": ok,
            "error": error,
            "steps": self.steps,
        }

    def record(
        self,
        step_id: str,
        outcome: str,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        facts: dict[str, Any] | None = None,
        exchanges: list[tuple[str, str, str]] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        step = {
            "n": len(self.steps) + 1,
            "id": step_id,
            "title": TITLES[step_id],
            "outcome": outcome,
            "request": request,
            "response": response,
            "facts": redact(facts or {}),
        }
        self.steps.append(step)
        self.narrator.step(TITLES[step_id], outcome, exchanges or [], notes or [])

    # --- Discovery ----------------------------------------------------------------------------
    def step_mcp_unauthenticated(self) -> None:
        _reply, response = self.call(None, "server/discover", {})
        challenge = response.headers.get("www-authenticate")
        if response.status_code != 401 or not challenge:
            raise DemoFailure(
                f"expected 401 with WWW-Authenticate, got {response.status_code} "
                f"{'with' if challenge else 'without'} a challenge",
                response,
            )
        metadata_url = extract_field_from_www_auth(response, "resource_metadata")
        self.challenge_scope = extract_field_from_www_auth(response, "scope")
        self.prm_url = (
            metadata_url or self.origin + "/.well-known/oauth-protected-resource" + urlsplit(self.mcp_url).path
        )
        self.record(
            "mcp-unauthenticated",
            "expected",
            request_summary(response.request),
            response_summary(response),
            {"resource_metadata": metadata_url, "scope": self.challenge_scope},
            [
                (CLIENT_TO_SERVER, f"POST {self.mcp_url}  (no Authorization header)", "cyan"),
                (SERVER_TO_CLIENT, f"{status_line(response)}  WWW-Authenticate: {challenge}", "magenta"),
            ],
            ["The challenge says where the protected-resource metadata is, and which scope to ask for."],
        )

    def step_protected_resource_metadata(self) -> None:
        response = self.http.get(self.prm_url, headers={"Accept": "application/json"})
        self.prm = self.json_object(response, "protected-resource metadata")
        servers = self.prm.get("authorization_servers") or []
        if self.prm.get("resource") != self.mcp_url:
            raise DemoFailure(f"resource is {self.prm.get('resource')!r}, not the URL dialled ({self.mcp_url})")
        if not servers:
            raise DemoFailure("the metadata names no authorization server", response)
        self.issuer = servers[0]
        self.record(
            "protected-resource-metadata",
            "ok",
            request_summary(response.request),
            response_summary(response),
            {"resource": self.prm["resource"], "authorization_servers": servers},
            [
                (CLIENT_TO_SERVER, f"GET {self.prm_url}", "cyan"),
                (
                    SERVER_TO_CLIENT,
                    f"{status_line(response)}  resource={self.prm['resource']}, "
                    f"authorization_servers={servers}, scopes_supported={self.prm.get('scopes_supported')}",
                    "magenta",
                ),
            ],
            ["resource equals the URL dialled; the first authorization server is the issuer to use."],
        )

    def step_authorization_server_metadata(self) -> None:
        tried = []
        for url in build_oauth_authorization_server_metadata_discovery_urls(self.issuer, self.mcp_url):
            response = self.http.get(url, headers={"Accept": "application/json"})
            tried.append(f"{url} → {response.status_code}")
            if response.status_code == 200:
                break
            if response.status_code >= 500:
                raise DemoFailure(f"{url} answered {response.status_code}", response)
        else:
            raise DemoFailure("no authorization-server metadata at " + ", ".join(tried))
        self.asm = self.json_object(response, "authorization-server metadata")
        if self.asm.get("issuer") != self.issuer:
            raise DemoFailure(f"issuer is {self.asm.get('issuer')!r}, not {self.issuer!r} (RFC 8414 §3.3)", response)
        if "S256" not in (self.asm.get("code_challenge_methods_supported") or []):
            raise DemoFailure("the server does not advertise PKCE S256: a client must not go on", response)
        facts = {
            key: self.asm.get(key)
            for key in (
                "issuer",
                "authorization_endpoint",
                "token_endpoint",
                "registration_endpoint",
                "code_challenge_methods_supported",
                "client_id_metadata_document_supported",
                "authorization_response_iss_parameter_supported",
            )
        }
        self.record(
            "authorization-server-metadata",
            "ok",
            request_summary(response.request),
            response_summary(response),
            facts,
            [
                (CLIENT_TO_SERVER, f"GET {response.request.url}", "cyan"),
                (
                    SERVER_TO_CLIENT,
                    f"{status_line(response)}  issuer={self.asm['issuer']}, PKCE "
                    f"{self.asm.get('code_challenge_methods_supported')}, registration_endpoint="
                    f"{self.asm.get('registration_endpoint')}, CIMD="
                    f"{self.asm.get('client_id_metadata_document_supported')}",
                    "magenta",
                ),
            ],
            ["issuer is byte-for-byte the one the protected-resource metadata named."],
        )

    def step_registration(self) -> None:
        if self.client_id_url:
            if self.asm.get("client_id_metadata_document_supported") is not True:
                raise DemoFailure("the server does not advertise client_id_metadata_document_supported")
            self.client_id = self.client_id_url
            self.record(
                "registration",
                "ok",
                None,
                None,
                {"method": "client-id-metadata-document", "client_id": self.client_id},
                [(CLIENT_TO_SERVER, f"(no request) client_id = {self.client_id}", "cyan")],
                [
                    "A URL client id (CIMD): the server fetches the client's metadata document from this URL",
                    f"when it sees it; the document must list the redirect URI {self.redirect_uri}.",
                ],
            )
            return
        endpoint = self.asm.get("registration_endpoint")
        if not endpoint:
            raise DemoFailure("the server offers no registration_endpoint; use --client-id-url (CIMD)")
        metadata = {
            "client_name": CLIENT_NAME,
            "redirect_uris": [self.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        }
        response = self.http.post(endpoint, json=metadata)
        if response.status_code != 201:
            raise DemoFailure(f"registration refused: {response.status_code} {response.text[:200]}", response)
        registered = self.json_object(response, "registration response", status=201)
        self.client_id = registered["client_id"]
        self.record(
            "registration",
            "ok",
            request_summary(response.request),
            response_summary(response),
            {"method": "dynamic", "client_id": self.client_id},
            [
                (
                    CLIENT_TO_SERVER,
                    f"POST {endpoint}  redirect_uris={metadata['redirect_uris']}, public client",
                    "cyan",
                ),
                (SERVER_TO_CLIENT, f"{status_line(response)}  client_id={self.client_id}", "magenta"),
            ],
            ["Self-registration (RFC 7591): a public client (no secret), PKCE protects its code."],
        )

    # --- Authorization ------------------------------------------------------------------------
    def authorize(self, step_id: str, scope: str) -> None:
        """Authorization request (PKCE S256, resource) through login and consent to the code."""
        request = flow.AuthorizationRequest(
            client_id=self.client_id, redirect_uri=self.redirect_uri, scope=scope, resource=self.mcp_url
        )
        authorize_url = request.url(self.asm["authorization_endpoint"])
        pages: list[str] = []
        if self.headless:
            browser = flow.Browser(self.origin, self.username or "", self.password or "", timeout=self.timeout)
            try:
                callback = browser.authorize(authorize_url)
            finally:
                browser.close()
            pages = [what for what, _url in browser.pages]
            via = (
                "Browser ⇄ Server",
                " → ".join(["GET /authorize", *pages, "allow"]) + f"  (signed in as {self.username})",
                "blue",
            )
        else:
            assert self.receiver is not None
            prompt = "Opening your browser to sign in and allow access. If it does not open, visit:"
            if self.narrator.quiet:  # --json: stdout is for the JSON alone
                print(prompt, authorize_url, sep="\n", file=sys.stderr)
            self.narrator.note(prompt)
            self.narrator.write("        " + authorize_url)
            self.open_browser(authorize_url)
            callback = self.receiver.wait(request.state, self.callback_timeout)
            via = ("Browser ⇄ Server", "you sign in and allow access in your browser", "blue")
        if callback.error or not callback.code:
            raise DemoFailure(f"authorization refused: {callback.params}")
        if callback.params.get("state") != request.state:
            raise DemoFailure("the state in the answer is not the one sent")
        iss = callback.params.get("iss")
        if self.asm.get("authorization_response_iss_parameter_supported") and iss != self.issuer:
            raise DemoFailure(f"iss {iss!r} is not the issuer {self.issuer!r} (RFC 9207)")
        self.pending = (request, callback.code)
        self.record(
            step_id,
            "ok",
            {
                "method": "GET",
                "url": self.asm["authorization_endpoint"],
                "params": {
                    "response_type": "code",
                    "client_id": self.client_id,
                    "redirect_uri": self.redirect_uri,
                    "scope": scope,
                    "resource": self.mcp_url,
                    "code_challenge": request.pkce.challenge,
                    "code_challenge_method": "S256",
                    "state": mask(request.state),
                },
            },
            {
                "status": 302,
                "location": self.redirect_uri,
                "params": {"code": mask(callback.code), "state": mask(callback.params.get("state")), "iss": iss},
            },
            {"scope": scope, "pages": pages, "code_verifier": "(hidden)", "iss": iss},
            [
                (
                    "Client → Browser",
                    f"GET {self.asm['authorization_endpoint']}?scope={scope}&resource={self.mcp_url}"
                    f"&code_challenge={request.pkce.challenge[:10]}…&code_challenge_method=S256",
                    "cyan",
                ),
                via,
                (
                    SERVER_TO_CLIENT,
                    f"302 Location: {self.redirect_uri}?code={mask(callback.code)}&state=…&iss={iss}",
                    "magenta",
                ),
            ],
            ["PKCE: the code_verifier stays with the client (never shown); only its S256 challenge was sent."],
        )

    def exchange(self, step_id: str) -> None:
        """Trade the pending code (and the PKCE verifier) for tokens bound to the MCP resource."""
        request, code = self.pending
        response = flow.exchange_code(self.http, self.asm["token_endpoint"], request, code)
        token = self.json_object(response, "token response")
        if not token.get("access_token"):
            raise DemoFailure("the token response has no access_token", response)
        self.grants.append(
            Grant(request.scope, token["access_token"], token.get("refresh_token"), token.get("scope", ""))
        )
        self.record(
            step_id,
            "ok",
            request_summary(response.request),
            response_summary(response),
            {
                "token_type": token.get("token_type"),
                "expires_in": token.get("expires_in"),
                "scope": token.get("scope"),
                "access_token": token.get("access_token"),
                "refresh_token": token.get("refresh_token"),
            },
            [
                (
                    CLIENT_TO_SERVER,
                    f"POST {self.asm['token_endpoint']}  grant_type=authorization_code, code, "
                    f"code_verifier (hidden), resource={self.mcp_url}",
                    "cyan",
                ),
                (
                    SERVER_TO_CLIENT,
                    f"{status_line(response)}  access_token={mask(token['access_token'])}, "
                    f"token_type={token.get('token_type')}, expires_in={token.get('expires_in')}, "
                    f"scope={token.get('scope')}, refresh_token={mask(token.get('refresh_token'))}",
                    "magenta",
                ),
            ],
            [f"Cache-Control: {response.headers.get('cache-control')}; tokens are shown masked."],
        )

    def step_authorization(self) -> None:
        # The scope the challenge named (MCP's first choice), else all the resource supports.
        self.authorize("authorization", self.challenge_scope or " ".join(self.prm.get("scopes_supported") or []))

    def step_token(self) -> None:
        self.exchange("token")

    # --- The MCP session ----------------------------------------------------------------------
    def call(self, token: str | None, method: str, params: dict[str, Any]) -> tuple[mcp_calls.Reply, httpx2.Response]:
        reply = mcp_calls.call(self.http, self.mcp_url, token, method, params, version=self.protocol)
        assert reply.response is not None
        return reply, reply.response

    def mcp_step(
        self, step_id: str, method: str, params: dict[str, Any], describe: Callable[[dict], str], note: str
    ) -> dict[str, Any]:
        token = self.grants[-1].access_token
        reply, raw = self.call(token, method, params)
        if reply.status != 200 or reply.result is None:
            raise DemoFailure(f"{method} failed: {reply.status} {reply.error or reply.message}", raw)
        result = reply.result
        if result.get("isError"):
            raise DemoFailure(f"{method} returned a tool error: {result.get('content')}", raw)
        self.record(
            step_id,
            "ok",
            request_summary(raw.request),
            response_summary(raw, body=reply.message),
            {"summary": describe(result)},
            [
                (CLIENT_TO_SERVER, f"POST {self.mcp_url}  {method}  Authorization: Bearer {mask(token)}", "cyan"),
                (SERVER_TO_CLIENT, f"{status_line(raw)}  {describe(result)}", "magenta"),
            ],
            [note] if note else [],
        )
        return result

    def step_mcp_discover(self) -> None:
        if self.protocol == mcp_calls.MODERN:
            method, params = "server/discover", {}
        else:
            method = "initialize"
            params = {"protocolVersion": self.protocol, "capabilities": {}, "clientInfo": mcp_calls.CLIENT_INFO}

        def describe(result: dict) -> str:
            info = result.get("serverInfo") or (result.get("_meta") or {}).get("io.modelcontextprotocol/serverInfo")
            versions = result.get("supportedVersions") or [result.get("protocolVersion")]
            return f"server={(info or {}).get('name')} {(info or {}).get('version')}, versions={versions}"

        self.mcp_step(
            "mcp-discover", method, params, describe, f"Protocol {self.protocol}; the access token goes on every call."
        )

    def step_tools_list(self) -> None:
        self.mcp_step(
            "tools-list",
            "tools/list",
            {},
            lambda result: "tools: " + ", ".join(tool["name"] for tool in result.get("tools", [])),
            "",
        )

    def step_tool_call(self) -> None:
        self.mcp_step(
            "tool-call",
            "tools/call",
            {"name": READ_TOOL, "arguments": {}},
            lambda result: f"structuredContent={result.get('structuredContent')}",
            "A read tool works with the read-only token.",
        )

    def step_resource_read(self) -> None:
        def describe(result: dict) -> str:
            contents = result.get("contents") or [{}]
            text = (contents[0].get("text") or "").splitlines()
            return f"{contents[0].get('mimeType')}: {text[0] if text else ''!r} ({len(text)} lines)"

        self.mcp_step("resource-read", "resources/read", {"uri": RESOURCE_URI}, describe, "")

    def write_call(self) -> dict[str, Any]:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return {"name": WRITE_TOOL, "arguments": {"title": f"Demo note {stamp}", "body": "Written by mcp_demo."}}

    def step_step_up_refused(self) -> None:
        reply, raw = self.call(self.grants[-1].access_token, "tools/call", self.write_call())
        challenge = raw.headers.get("www-authenticate", "")
        if reply.status != 403 or 'error="insufficient_scope"' not in challenge:
            raise DemoFailure(f"expected 403 insufficient_scope, got {reply.status} {challenge or reply.message}", raw)
        self.step_up_scope = extract_field_from_www_auth(raw, "scope") or ""
        self.record(
            "step-up-refused",
            "expected",
            request_summary(raw.request),
            response_summary(raw),
            {"scope": self.step_up_scope, "error": "insufficient_scope"},
            [
                (
                    CLIENT_TO_SERVER,
                    f"POST {self.mcp_url}  tools/call {WRITE_TOOL}  (token scope {self.grants[-1].granted_scope})",
                    "cyan",
                ),
                (SERVER_TO_CLIENT, f"{status_line(raw)}  WWW-Authenticate: {challenge}", "magenta"),
            ],
            ["The challenge names every scope needed: the client asks the user again for exactly these."],
        )

    def step_reauthorization(self) -> None:
        scope = union_scopes(self.grants[-1].scope, self.step_up_scope) or self.step_up_scope
        self.authorize("reauthorization", scope)

    def step_token_wider(self) -> None:
        self.exchange("token-wider")

    def step_tool_call_write(self) -> None:
        self.mcp_step(
            "tool-call-write",
            "tools/call",
            self.write_call(),
            lambda result: "created note {id}: {title!r}".format(**(result.get("structuredContent") or {})),
            "The write tool works with the wider token.",
        )

    def step_revoke(self) -> None:
        endpoint = self.asm.get("revocation_endpoint")
        if not endpoint:
            self.record(
                "revoke", "ok", None, None, {"revoked": 0}, [], ["The server advertises no revocation_endpoint."]
            )
            return
        statuses = []
        for grant in self.grants:
            token, hint = (
                (grant.refresh_token, "refresh_token") if grant.refresh_token else (grant.access_token, "access_token")
            )
            response = self.http.post(
                endpoint, data={"token": token, "token_type_hint": hint, "client_id": self.client_id}
            )
            if response.status_code != 200:
                raise DemoFailure(f"revocation refused: {response.status_code} {response.text[:200]}", response)
            statuses.append(response.status_code)
        self.record(
            "revoke",
            "ok",
            request_summary(response.request),
            response_summary(response),
            {"revoked": len(statuses)},
            [
                (CLIENT_TO_SERVER, f"POST {endpoint}  token=…, token_type_hint  (× {len(statuses)})", "cyan"),
                (SERVER_TO_CLIENT, " ".join(str(status) for status in statuses) + "  (tokens revoked)", "magenta"),
            ],
            ["The demo leaves no live token behind."],
        )

    # --- Helpers ----------------------------------------------------------------------------
    def json_object(self, response: httpx2.Response, what: str, status: int = 200) -> dict[str, Any]:
        if response.status_code != status:
            raise DemoFailure(f"{what}: {response.status_code} from {response.request.url}", response)
        if not response.headers.get("content-type", "").startswith("application/json"):
            raise DemoFailure(
                f"{what}: {response.headers.get('content-type')!r} from {response.request.url}, not JSON", response
            )
        body = response.json()
        if not isinstance(body, dict):
            raise DemoFailure(f"{what}: not a JSON object", response)
        return body
