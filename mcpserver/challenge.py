"""The 401 of a request to `/mcp` that carries no token, answered from bytes built once.

Every new MCP connection starts with this request, and its answer depends on nothing but the
settings (the challenge names the protected-resource metadata and the default scopes), so it is
built once from what the gate answers (`BearerGate.respond`, `no_token_challenge`) and sent as
it is, with the gate's audit line. Only the plainest case takes this way: no Authorization or
Origin header, the Host exactly PUBLIC_URL's, the header section within the limits; anything else
(another Host the gate must check against DNS rebinding, a browser's Origin, a token) goes to the
gate. tests/test_performance_paths.py checks that both answer the same.
"""

from __future__ import annotations

import json

from django.conf import settings
from starlette.types import ASGIApp, Receive, Scope, Send

from common import audit

from .gate import BearerGate

NO_TOKEN = {"error": "invalid_request", "error_description": "Authorization required"}


class FixedChallenge:
    def __init__(self, gate: BearerGate, app: ASGIApp | None = None) -> None:
        self.app = app or gate
        self.host = settings.PUBLIC_HOST.encode("latin-1")
        self.max_count = settings.REQUEST_MAX_HEADER_COUNT
        self.max_bytes = settings.REQUEST_MAX_HEADER_BYTES
        body = json.dumps(NO_TOKEN).encode()
        self.start = {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"www-authenticate", gate.no_token_challenge.encode()),
            ],
        }
        self.body = {"type": "http.response.body", "body": body}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.plain(scope["headers"]):
            return await self.app(scope, receive, send)
        audit.event("mcp_unauthorized", status=401, reason="no token")
        await send(self.start)
        await send(self.body)

    def plain(self, headers) -> bool:
        """No token, no Origin, our own Host, and headers within the limits."""
        host = None
        count = size = 0
        for name, value in headers:
            if name == b"authorization" or name == b"origin":
                return False
            if name == b"host":
                host = value
            count += 1
            size += len(name) + len(value) + 4  # as common.limits.header_problem counts
        return host == self.host and count <= self.max_count and size <= self.max_bytes
