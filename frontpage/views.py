"""`/`: the issuer URL. A browser gets the front page (what this server is, the MCP URL to paste,
how each well-known client connects, and a live self-check of the discovery chain); a program
that fetches the issuer identifier itself gets the RFC 8414 document, exactly as at
`/.well-known/oauth-authorization-server` (config/asgi.py answers it from stored bytes after the
first time, as it does there)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_safe

from authserver.views import AuthorizationServerMetadataView

from . import guides, selfcheck
from .negotiation import prefers_page

issuer_metadata = AuthorizationServerMetadataView.as_view()
DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_origin(url: str) -> str:
    """scheme://host[:port] in lower case, without the scheme's default port."""
    parts = urlsplit(url.lower())
    port = parts.port if parts.port not in (None, DEFAULT_PORTS.get(parts.scheme)) else None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def reached_under_another_name(request: HttpRequest) -> str | None:
    """The origin this page was requested at, when it is not PUBLIC_URL (a loopback alias, a
    proxy's internal name): clients dialling it would be refused, since the metadata names
    PUBLIC_URL. None when it is PUBLIC_URL."""
    reached = canonical_origin(f"{request.scheme}://{request.get_host()}")
    return None if reached == canonical_origin(settings.PUBLIC_URL) else reached


def hosted_clients_cannot_reach() -> bool:
    """Hosted clients (Claude, ChatGPT) connect from their vendors' clouds, over https only."""
    parts = urlsplit(settings.MCP_URL)
    return parts.scheme != "https" or (parts.hostname or "") in settings.LOOPBACK_HOSTNAMES


@require_safe
def front_page(request: HttpRequest) -> HttpResponse:
    if not prefers_page(request.headers.get("Accept")):
        response = issuer_metadata(request)
    else:
        response = render(
            request,
            "frontpage/index.html",
            {
                "mcp_url": settings.MCP_URL,
                "reached_at": reached_under_another_name(request),
                "guides": guides.guides(),
                "hosted_unreachable": hosted_clients_cannot_reach(),
                "check": selfcheck.self_check() if settings.FRONT_PAGE_SELF_CHECK else None,
                "check_enabled": settings.FRONT_PAGE_SELF_CHECK,
                "check_seconds": selfcheck.CACHE_SECONDS,
            },
        )
        add_never_cache_headers(response)  # the self-check and the signed-in links are of this moment
    # One URL, two answers: caches must keep them apart.
    patch_vary_headers(response, ("Accept",))
    return response
