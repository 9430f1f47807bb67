"""The deployment's ASGI application: `/mcp` goes to the MCP app, everything else to Django.

Django is served through a2wsgi rather than Django's own ASGI handler: its sync views ran about
4× slower through the ASGI handler, which also leaked database connections with persistent
connections (research/prototype.md). The ASGI lifespan goes to the MCP app, whose Starlette
lifespan runs the SDK's session manager.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402


def build_application() -> ASGIApp:
    """A fresh application (tests build one each; the SDK's session manager runs only once)."""
    django_app = WSGIMiddleware(get_wsgi_application(), workers=int(os.environ.get("DJANGO_THREADS", "8")))

    from mcpserver.app import build_mcp_app

    mcp_app, _server = build_mcp_app()
    mcp_path = settings.MCP_PATH

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await mcp_app(scope, receive, send)
        if scope["type"] == "http" and scope["path"] == mcp_path:
            return await mcp_app(scope, receive, send)
        if scope["type"] == "http":
            return await django_app(scope, receive, send)
        # No websockets here.
        await send({"type": "websocket.close", "code": 1000})

    return application


application = build_application()
