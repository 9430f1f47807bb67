"""The 401 of a request to `/mcp` that carries no token, answered from bytes built once.

Every new MCP connection starts with this request, and its answer depends on nothing but the
settings (the challenge names the protected-resource metadata and the default scopes), so it is
built once by the gate (`BearerGate.no_token_answer`) and sent as
it is, with the gate's audit line. Only the plainest case takes this way: no Authorization or
Origin header, the Host exactly PUBLIC_URL's, the header section within the limits; anything else
(another Host the gate must check against DNS rebinding, a browser's Origin, a token) goes to the
gate. tests/test_performance_paths.py checks that both answer the same.
"""

from __future__ import annotations

from django.conf import settings
from starlette.types import ASGIApp, Receive, Scope, Send

from common import audit

from .gate import BearerGate


class FixedChallenge:
    """In front of the gate: browsers' requests (with an Origin) go to `cors` (Starlette's CORS
    middleware around the gate), a plain request without a token gets the stored 401, the rest
    goes to the gate directly; one pass over the headers decides."""

    def __init__(self, gate: BearerGate, cors: ASGIApp) -> None:
        self.gate = gate
        self.cors = cors
        self.host = settings.PUBLIC_HOST.encode("latin-1")
        self.max_count = settings.REQUEST_MAX_HEADER_COUNT
        self.max_bytes = settings.REQUEST_MAX_HEADER_BYTES
        self.start, self.body = gate.no_token_answer()  # sent only where no middleware adds to it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.gate(scope, receive, send)
        host = None
        count = size = 0
        token = False
        for name, value in scope["headers"]:
            if name == b"origin":
                return await self.cors(scope, receive, send)
            if name == b"authorization":
                token = True
            elif name == b"host":
                host = value
            count += 1
            size += len(name) + len(value) + 4  # as common.limits.header_problem counts
        if token or host != self.host or count > self.max_count or size > self.max_bytes:
            return await self.gate(scope, receive, send)
        audit.event("mcp_unauthorized", status=401, reason="no token")
        await send(self.start)
        await send(self.body)
