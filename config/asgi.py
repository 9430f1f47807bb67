"""The deployment's ASGI application: `/mcp` goes to the MCP app, everything else to Django.

Django is served through a2wsgi rather than Django's own ASGI handler: its sync views ran about 4×
slower through the ASGI handler (measured: 460 requests/s for the AS metadata against 1730
through a2wsgi), which also leaked database connections with persistent connections (a
new thread per request: 105 open SQLite descriptors after 3 s of load, against 3). The ASGI
lifespan goes to the MCP app, whose lifespan runs the SDK's session manager and what token
verification needs (mcpserver/app.py).

The discovery documents, which every client fetches and which depend on settings alone, are
answered by the router itself from the bytes Django produced for the same request the first
time (`StoredDocuments`): through Django they cost about ten times as much per request
(docs/performance.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.signals import setting_changed  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

from frontpage.negotiation import prefers_page  # noqa: E402

# A response kept by StoredDocuments: (status, headers, body).
StoredResponse = tuple[int, list[tuple[bytes, bytes]], bytes]


class StoredDocuments:
    """GET and HEAD of the discovery documents, answered from stored bytes.

    Django's views (common/documents.py) already build each document once per process and
    add the ETag, Cache-Control and CORS headers; what costs is the trip through Django's
    middleware for every request. So the first request of each kind goes to Django as usual,
    and if Django answered 200 (or 304) with an ETag and no cookie, the answer is kept, exactly
    as Django sent it, and replayed to later requests of the same kind. A kind is everything
    Django's answer can depend on here: method, path, scheme (HSTS), the Host header (a host
    Django refuses gets its 400 every time, never stored), whether an Origin header came (CORS),
    and whether If-None-Match names the stored ETag (304). Anything unusual (a query string, a
    body, header sections past the request limits, any other status) simply goes to Django.

    The issuer URL `/` is one of them for requests that do not prefer HTML (frontpage/views.py):
    it answers the authorization-server metadata, with `Vary: Accept`. Browsers' requests for the
    front page are never handled here.
    """

    MAX_KINDS = 64  # the few real hosts × schemes × methods; past this, Django answers

    def __init__(self, django_app: ASGIApp) -> None:
        self.django_app = django_app
        self.paths = frozenset(
            {
                "/.well-known/oauth-authorization-server",
                "/.well-known/oauth-protected-resource",
                "/.well-known/oauth-protected-resource" + settings.MCP_PATH,
            }
        )
        self.max_header_count = settings.REQUEST_MAX_HEADER_COUNT
        self.max_header_bytes = settings.REQUEST_MAX_HEADER_BYTES
        self.responses: dict[tuple, StoredResponse] = {}
        self.etags: dict[tuple, bytes] = {}
        setting_changed.connect(self.forget)

    def forget(self, **kwargs) -> None:
        self.responses.clear()
        self.etags.clear()

    def handles(self, scope: Scope) -> bool:
        if scope["method"] not in ("GET", "HEAD") or scope["query_string"]:
            return False
        if scope["path"] == "/":
            accept = [value.decode("latin-1") for name, value in scope["headers"] if name == b"accept"]
            return not prefers_page(", ".join(accept) if accept else None)
        return scope["path"] in self.paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = origin = if_none_match = None
        count = size = 0
        has_body = False
        for name, value in scope["headers"]:
            count += 1
            size += len(name) + len(value) + 4  # as common.limits.header_problem counts
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
                has_body = True
        if count > self.max_header_count or size > self.max_header_bytes or has_body:
            # Its 431, or its body limits (413): the same answer whether or not a document is stored.
            return await self.django_app(scope, receive, send)
        kind = (scope["method"], scope["path"], scope.get("scheme", "http"), host, origin is not None)
        etag = self.etags.get(kind)
        if if_none_match is not None and etag is not None and etag in if_none_match:
            kind += (True,)
        stored = self.responses.get(kind)
        if stored is None:
            return await self.capture(kind, origin, scope, receive, send)
        status, headers, body = stored
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def capture(self, kind: tuple, origin: bytes | None, scope: Scope, receive: Receive, send: Send) -> None:
        """Let Django answer, and keep the answer if it is a stored document's."""
        start: Message | None = None
        body = bytearray()

        async def recording_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        await self.django_app(scope, receive, recording_send)
        if start is None or start["status"] not in (200, 304) or len(self.responses) >= self.MAX_KINDS:
            return
        headers = [(bytes(name), bytes(value)) for name, value in start.get("headers", [])]
        names = {name.lower() for name, _value in headers}
        etag = next((value for name, value in headers if name.lower() == b"etag"), None)
        if etag is None or b"set-cookie" in names or (origin and any(origin in value for _n, value in headers)):
            return  # not one of the stored documents, or an answer made for this one client
        base = kind[:5]
        if base in self.etags and self.etags[base] != etag:
            return
        self.etags[base] = etag
        if start["status"] == 304:
            kind = base + (True,)
        self.responses[kind] = (start["status"], headers, bytes(body))


def build_application() -> ASGIApp:
    """A fresh application (tests build one each; the SDK's session manager runs only once)."""
    django_app = WSGIMiddleware(get_wsgi_application(), workers=settings.DJANGO_THREADS)

    from mcpserver.app import build_mcp_app

    mcp_app, _server = build_mcp_app()
    # A split authorization server (SERVER_ROLE=authorization) has no MCP endpoint of its own.
    mcp_path = settings.MCP_PATH if settings.SERVER_ROLE != "authorization" else None
    documents = StoredDocuments(django_app)
    from authserver.lean_refresh import LeanRefresh, enabled

    # The refresh grant's ordinary rotation, without Django (PostgreSQL); the rest goes to Django.
    lean_refresh = LeanRefresh(django_app) if enabled() else None

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["path"] == mcp_path:
                return await mcp_app(scope, receive, send)
            if documents.handles(scope):
                return await documents(scope, receive, send)
            if lean_refresh is not None and lean_refresh.handles(scope):
                return await lean_refresh(scope, receive, send)
            return await django_app(scope, receive, send)
        if scope["type"] == "lifespan":
            return await mcp_app(scope, receive, closing(send) if lean_refresh is not None else send)
        # No websockets here.
        await send({"type": "websocket.close", "code": 1000})

    def closing(send: Send) -> Send:
        async def send_after_closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await lean_refresh.close()
            await send(message)

        return send_after_closing

    return application


application = build_application()
