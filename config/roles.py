"""The split deployment's path filter: each role answers only its own paths (settings.SERVER_ROLE).

Installed by config/settings.py only when SERVER_ROLE is not "combined", so the co-located
default pays nothing for it. An authorization server must not serve the MCP endpoint's metadata
(its tokens are for another origin), and a resource server must not look like an authorization
server: a client that found `/authorize` or `/register` there would register with the wrong issuer.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from authserver.errors import not_found

PRM_PREFIX = "/.well-known/oauth-protected-resource"
HEALTH_PATHS = ("/healthz", "/readyz")


def served_by_role(path: str) -> bool:
    """Whether this deployment's role answers `path` (Django paths; `/mcp` is routed in config/asgi.py)."""
    if settings.SERVER_ROLE == "resource":
        return path.startswith((PRM_PREFIX, "/" + settings.STATIC_URL.lstrip("/"))) or path in HEALTH_PATHS
    if settings.SERVER_ROLE == "authorization":
        return not (path.startswith(PRM_PREFIX) or path == settings.MCP_PATH)
    return True


class RolePathsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not served_by_role(request.path):
            return not_found(request)
        return self.get_response(request)
