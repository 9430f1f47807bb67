"""The ASGI app served at `/mcp`: CORS, then the bearer gate, then the MCP SDK's Streamable HTTP
app (both protocol generations on one URL)."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from django.conf import settings
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from .challenge import FixedChallenge
from .checks import raise_if_misdeclared
from .gate import BearerGate
from .registry import scope_rules
from .server import Server, build_server
from .verification import verifier

EXPOSED_HEADERS = ["WWW-Authenticate", "Mcp-Session-Id", "Mcp-Protocol-Version", "Retry-After"]


def origin_regex(patterns: list[str]) -> str:
    """One regex for allowed origins, where `scheme://host:*` admits any port."""
    parts = []
    for pattern in patterns:
        if pattern.endswith(":*"):
            parts.append(re.escape(pattern[:-2]) + r"(:\d+)?")
        else:
            parts.append(re.escape(pattern))
    return "^(" + "|".join(parts) + ")$"


def also_running(app: ASGIApp, context: Callable[[], AbstractAsyncContextManager]) -> ASGIApp:
    """`app`, with `context` entered for as long as the ASGI lifespan lasts."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        async with context():
            await app(scope, receive, send)

    return wrapped


def build_mcp_app() -> tuple[ASGIApp, Server]:
    """A fresh `/mcp` app and its MCP server (the SDK's session manager runs once per app)."""
    raise_if_misdeclared()
    server = build_server()
    stateless = not settings.MCP_STATEFUL
    # The gate checks Host and Origin (against DNS rebinding) before anything else; the SDK's
    # transports behind it would only check them again.
    checked_by_gate = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    sdk_app = server.streamable_http_app(
        streamable_http_path=settings.MCP_PATH,
        stateless_http=stateless,
        json_response=settings.MCP_JSON_RESPONSE,
        transport_security=checked_by_gate,
        max_request_body_size=settings.MCP_MAX_BODY_BYTES,
    )
    json_app = None
    if stateless and not settings.MCP_JSON_RESPONSE:
        # A second transport of the same MCP server answers with one JSON body: the gate sends it
        # the requests that cannot stream a notification (lists, quiet tools), for which an event
        # stream costs about as much again as the answer itself (docs/performance.md).
        json_manager = StreamableHTTPSessionManager(
            app=server._lowlevel_server,  # MCPServer exposes no other handle on its server
            json_response=True,
            stateless=True,
            security_settings=checked_by_gate,
            max_request_body_size=settings.MCP_MAX_BODY_BYTES,
        )
        json_app = StreamableHTTPASGIApp(json_manager)
        sdk_app = also_running(sdk_app, json_manager.run)
    # The one lifespan of the MCP side: the SDK's session managers, and what token verification
    # needs while serving (the revocation listener and the lookup connection, or an HTTP client).
    tokens = verifier()
    sdk_app = also_running(sdk_app, tokens.running)
    gated = BearerGate(sdk_app, tokens.verify, scope_rules(), stateless=stateless, json_app=json_app)
    cors = CORSMiddleware(
        gated,
        allow_origin_regex=origin_regex(settings.MCP_ALLOWED_ORIGINS),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=86400,
    )
    # CORS only for browsers' requests (with an Origin): Starlette's middleware wraps every
    # answer's `send`, which cost MCP clients that are not browsers a few percent of a
    # `tools/call`; a plain request without a token gets the gate's 401 from stored bytes.
    return FixedChallenge(gated, cors), server
