"""The ASGI app served at `/mcp`: CORS, then the bearer gate, then the MCP SDK's Streamable HTTP
app (both protocol generations on one URL)."""

from __future__ import annotations

import re

from django.conf import settings
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from .gate import BearerGate, transport_security_settings
from .server import Server, build_server
from .tokens import verify_bearer_token

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


def build_mcp_app() -> tuple[ASGIApp, Server]:
    """A fresh `/mcp` app and its MCP server (the SDK's session manager runs once per app)."""
    server, capabilities = build_server()
    stateless = not settings.MCP_STATEFUL
    sdk_app = server.streamable_http_app(
        streamable_http_path=settings.MCP_PATH,
        stateless_http=stateless,
        json_response=settings.MCP_JSON_RESPONSE,
        transport_security=transport_security_settings(),
        max_request_body_size=settings.MCP_MAX_BODY_BYTES,
    )
    gated = BearerGate(sdk_app, verify_bearer_token, capabilities, stateless=stateless)
    app = CORSMiddleware(
        gated,
        allow_origin_regex=origin_regex(settings.MCP_ALLOWED_ORIGINS),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=86400,
    )
    return app, server
