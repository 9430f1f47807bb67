"""The bearer gate in front of the MCP SDK's app: who may call `/mcp`, and what they must hear
when they may not.

Written as our own small ASGI layer rather than the SDK's `AuthSettings`/`RequireAuthMiddleware`
because MCP clients need what that middleware does not give (it answers 401 `invalid_token` with
no `scope=` even when no token was sent, checks one scope list for the whole endpoint, and refuses
a CORS preflight with a 401):
- a 401 without `error=` when no token was sent, and a `scope="…"` hint on every challenge;
- a per-tool 403 `insufficient_scope` with the exact scope needed, decided *before* the SDK runs,
  since inside the SDK a refusal can only become an in-band JSON-RPC error, never the HTTP 403
  that makes a client step up;
- a 503 (not a 500) while the database is unreachable.
The SDK's own session binding and `get_access_token()` keep working: the gate sets the same
`scope["user"]` and auth context the SDK's middleware would.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from django.conf import settings
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken as SDKAccessToken
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.inbound import NAME_BEARING_METHODS, decode_header_value
from starlette.authentication import AuthCredentials
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common import audit
from common.errors import NO_STORE, jsonrpc_error_bodies, jsonrpc_error_body
from common.limits import header_problem
from common.scopes import registry as declared_scopes

from . import identity
from .db import DatabaseUnavailable
from .identity import CurrentUser
from .registry import ScopeRules
from .verification import Rejection

logger = logging.getLogger("mcpserver")

Verifier = Callable[[str], Awaitable[SDKAccessToken | Rejection]]

MODERN_VERSIONS = ("2026-07-28",)


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenge(error: str | None = None, description: str | None = None, scope: str | None = None) -> str:
    """An RFC 6750 `WWW-Authenticate` value pointing at our RFC 9728 metadata; without `scope`,
    the declared default scopes (what a client needs first)."""
    params = []
    if error:
        params.append(f"error={quoted(error)}")
    if description:
        params.append(f"error_description={quoted(description)}")
    params.append(f"resource_metadata={quoted(settings.MCP_PROTECTED_RESOURCE_METADATA_URL)}")
    params.append(f"scope={quoted(scope or ' '.join(declared_scopes.defaults()))}")
    return "Bearer " + ", ".join(params)


def transport_security_settings() -> TransportSecuritySettings:
    """Host and Origin checks against DNS rebinding, built from PUBLIC_URL (one place). The gate
    applies them; the SDK's transports behind it are told not to check again."""
    hosts = [settings.PUBLIC_HOST, "127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
    if settings.PUBLIC_URL_IS_HTTPS and ":" not in settings.PUBLIC_HOST:
        hosts.append(settings.PUBLIC_HOST + ":443")
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=list(settings.MCP_ALLOWED_ORIGINS),
    )


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer …` header; "" for a malformed one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if kind.lower() == "bearer" else ""
    return None


OWS = b" \t"  # RFC 9110 §5.5: SP and HTAB around a field value are not part of it


def without_ows(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with the optional whitespace around each value removed, which the HTTP server
    (httptools) leaves in, as RFC 9110 §5.5 requires before a value is evaluated (`Mcp-Name:
    whoami ` names the tool `whoami`). The list itself when no value has any: nothing is copied
    on the usual request, and the test is one C-level strip per header (about 0.5 µs in all)."""
    for _name, value in headers:
        if value != value.strip(OWS):
            return [(name, value.strip(OWS)) for name, value in headers]
    return headers


def header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return None


def request_targets(scope: Scope, body: bytes) -> list[tuple[str | None, str | None]] | None:
    """(method, tool-or-prompt name) of each JSON-RPC message in a POST; None if not JSON.

    2026-07-28 requests name both in headers (the SDK rejects a body that disagrees with them),
    so their body need not be parsed here.
    """
    method = header(scope, b"mcp-method")
    if method is not None and header(scope, b"mcp-protocol-version") in MODERN_VERSIONS:
        # Decoded as the SDK decodes it (a value may be Base64-wrapped), so that the name the
        # scope is looked up by is the one the SDK then holds the body to.
        return [(method, decode_header_value(header(scope, b"mcp-name")))]
    message = json.loads(body)  # RecursionError/ValueError handled by the caller
    messages = message if isinstance(message, list) else [message]
    targets = []
    for item in messages:
        if not isinstance(item, dict):
            targets.append((None, None))
            continue
        params, rpc_method = item.get("params"), item.get("method")
        key = NAME_BEARING_METHODS.get(rpc_method) if isinstance(rpc_method, str) else None
        name = params.get(key) if key and isinstance(params, dict) else None
        targets.append((rpc_method, name if isinstance(name, str) else None))
    return targets


# Requests that never produce a notification while they are answered: an event stream would only
# cost time (stateless mode answers them with one JSON body when it can, see `json_app`).
QUIET_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "resources/list",
        "resources/templates/list",
        "prompts/list",
        "completion/complete",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    }
)


class Refused(Exception):
    """A request the gate answers itself; `answer` is the ASGI app that sends the answer."""

    def __init__(self, answer: ASGIApp) -> None:
        super().__init__()
        self.answer = answer


def error_answer(
    status: int,
    error: str,
    description: str,
    www_authenticate: str | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> tuple[Message, Message]:
    """The two ASGI messages of the gate's OAuth error answer (RFC 6750 §3): a JSON body with
    `error` and `error_description`, never stored, with the challenge when there is one."""
    body = json.dumps({"error": error, "error_description": description}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", NO_STORE.encode()),
    ]
    if www_authenticate:
        headers.append((b"www-authenticate", www_authenticate.encode()))
    headers.extend(extra or [])
    start = {"type": "http.response.start", "status": status, "headers": headers}
    return start, {"type": "http.response.body", "body": body}


def refused(start: Message, body: Message) -> Refused:
    """A refusal that sends these two messages."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start)
        await send(body)

    return Refused(answer)


def oauth_refusal(
    status: int,
    error: str,
    description: str,
    www_authenticate: str | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> Refused:
    """An OAuth error answer (`error_answer`) as a refusal."""
    return refused(*error_answer(status, error, description, www_authenticate, extra))


def jsonrpc_refusal(status: int, code: int, message: str) -> Refused:
    """A JSON-RPC error answer (for a request whose body the gate cannot read) as a refusal."""
    body = jsonrpc_error_body(code, message)
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return refused(start, {"type": "http.response.body", "body": body})


class BearerGate:
    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        rules: ScopeRules,
        stateless: bool,
        json_app: ASGIApp | None = None,
    ) -> None:
        """`app` answers with event streams (or as configured); `json_app`, when given, is the
        same MCP server answering with one JSON body, used for requests that cannot stream."""
        self.app = app
        self.json_app = json_app
        self.verifier = verifier
        self.rules = rules
        self.no_token_challenge = challenge(scope=rules.default_scope)
        self.stateless = stateless
        self.transport_security = TransportSecurityMiddleware(transport_security_settings())

    def no_token_answer(self) -> tuple[Message, Message]:
        """The 401 to a request without a token: new messages each time, since a middleware on
        the way out (Starlette's CORS) may add headers to them."""
        return error_answer(401, "invalid_request", "Authorization required", self.no_token_challenge)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The request's steps in order: the header section, the token, the scopes its calls
        need, then the MCP app (the one answering with one JSON body when nothing can stream).
        A step that refuses raises `Refused` with the answer."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = jsonrpc_error_bodies(send)  # errors are JSON, also the SDK's plain-text ones
        try:
            await self.check_headers(scope)
            verified = await self.verify(scope)
            granted = declared_scopes.effective(verified.scopes)
            self.check_scopes(verified, granted, self.rules.baseline, None)
            target_app, receive = await self.route(scope, receive, verified, granted)
        except Refused as refusal:
            return await refusal.answer(scope, receive, send)
        await self.call_as(verified, granted, target_app, scope, receive, send)

    async def check_headers(self, scope: Scope) -> None:
        """Header limits, then the Host and Origin checks against DNS rebinding."""
        # Oversized header sections are refused before anything reads them, as Django's side does.
        # (Byte lengths equal the latin-1 text lengths it counts, so nothing is decoded for it.)
        too_large = header_problem(scope["headers"])
        if too_large:
            raise jsonrpc_refusal(431, -32600, too_large)
        # From here on the gate and the SDK behind it read the same values: the Mcp-Method and
        # Mcp-Name the scope is decided by are the ones the SDK then holds the body to.
        scope["headers"] = without_ows(scope["headers"])
        # DNS rebinding first: a foreign Host or Origin gets 421/403 whatever it carries.
        refusal = await self.transport_security.validate_request(Request(scope), is_post=False)
        if refusal is not None:
            audit.event("mcp_refused", status=refusal.status_code, reason=refusal.body.decode())
            raise Refused(refusal)

    async def verify(self, scope: Scope) -> SDKAccessToken:
        """The request's bearer token, verified: 401 without one or for a bad one, 503 while the
        database cannot say."""
        token = bearer_token(scope)
        if token is None:
            audit.event("mcp_unauthorized", status=401, reason="no token")
            raise refused(*self.no_token_answer())
        try:
            verified = await self.verifier(token) if token else Rejection("The Authorization header is malformed")
        except DatabaseUnavailable:
            logger.warning("database unavailable while verifying a token")
            audit.event("mcp_unavailable", status=503, reason="database unavailable")
            raise oauth_refusal(
                503,
                "temporarily_unavailable",
                "The server cannot verify tokens right now; retry shortly",
                extra=[(b"retry-after", b"5")],
            ) from None
        if isinstance(verified, Rejection):
            audit.event("mcp_unauthorized", status=401, reason=verified.reason)
            raise oauth_refusal(
                401,
                "invalid_token",
                verified.reason,
                www_authenticate=challenge("invalid_token", verified.reason, self.rules.default_scope),
            )
        return verified

    async def route(
        self, scope: Scope, receive: Receive, verified: SDKAccessToken, granted: frozenset[str]
    ) -> tuple[ASGIApp, Receive]:
        """The app that answers and the `receive` it reads from; a POST's body is read here, its
        calls' scopes checked and its tool calls audited."""
        method = scope["method"]
        if method == "GET" and self.stateless:
            # Stateless mode has no server stream to offer; without this the SDK would hold a
            # GET open that can never carry anything.
            raise oauth_refusal(
                405,
                "invalid_request",
                "This server does not offer a GET stream; POST requests",
                extra=[(b"allow", b"POST, OPTIONS")],
            )
        if method != "POST":
            return self.app, receive
        body = await self.read_body(receive)
        if body is None:
            raise jsonrpc_refusal(413, -32600, "The request body is too large")
        try:
            targets = request_targets(scope, body)
        except RecursionError:
            raise jsonrpc_refusal(400, -32700, "Parse error: the JSON is nested too deeply") from None
        except ValueError:
            targets = []  # not JSON: the SDK answers with its own parse error
        for rpc_method, name in targets:
            self.check_scopes(verified, granted, self.rules.needed(rpc_method, name), name)
        for rpc_method, name in targets:
            if rpc_method == "tools/call":
                audit.event("tool_called", user_id=verified.subject, client_id=verified.client_id, tool=name)
        target_app = self.json_app if self.json_app is not None and self.is_quiet(targets) else self.app
        return target_app, replay(body, receive)

    async def call_as(
        self,
        verified: SDKAccessToken,
        granted: frozenset[str],
        target_app: ASGIApp,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """Run `target_app` as the token's user: the same `scope["user"]` and auth context the
        SDK's middleware would set, and our `CurrentUser` for the tools."""
        user = AuthenticatedUser(verified)
        scope["user"] = user
        scope["auth"] = AuthCredentials(verified.scopes)
        caller = CurrentUser(
            int(verified.subject), (verified.claims or {}).get("username", ""), verified.client_id, granted
        )
        context_token = auth_context_var.set(user)
        caller_token = identity.enter(caller)
        try:
            await target_app(scope, receive, send)
        finally:
            identity.leave(caller_token)
            auth_context_var.reset(context_token)

    def is_quiet(self, targets: list[tuple[str | None, str | None]]) -> bool:
        """One request that cannot produce a notification while it is answered."""
        if len(targets) != 1:
            return False
        method, name = targets[0]
        if method in QUIET_METHODS or (method or "").startswith("notifications/"):
            return True
        return method == "tools/call" and name in self.rules.quiet_tools

    def check_scopes(
        self, verified: SDKAccessToken, granted: frozenset[str], needed: frozenset[str], target: str | None
    ) -> None:
        """A 403 `insufficient_scope` unless `granted` covers `needed`."""
        if needed <= granted:
            return
        # Name everything the client will need, so one step-up suffices.
        wanted = " ".join(sorted((set(verified.scopes) & self.rules.declared) | needed))
        missing = " ".join(sorted(needed - granted))
        what = f"{target} requires" if target else "This request requires"
        description = f"{what} the scope {missing}"
        audit.event(
            "mcp_forbidden", user_id=verified.subject, client_id=verified.client_id, tool=target, reason=description
        )
        raise oauth_refusal(
            403,
            "insufficient_scope",
            description,
            www_authenticate=challenge("insufficient_scope", description, wanted),
        )

    @staticmethod
    async def read_body(receive: Receive) -> bytes | None:
        """The whole request body, or None past MCP_MAX_BODY_BYTES."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > settings.MCP_MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already-read body to the SDK, then the client's own events
    (so a disconnect still reaches it)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
