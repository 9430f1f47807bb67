"""RFC 8707 resource indicators: which resources this authorization server issues tokens for."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}


def served_resources() -> tuple[str, ...]:
    """The resource identifiers tokens may be bound to; for now only the MCP endpoint."""
    return (settings.MCP_URL,)


def canonical_resource(value: str) -> str | None:
    """The served resource `value` names, or None when this server does not serve it.

    Scheme and host compare case-insensitively, a default port may be spelled out, and one
    trailing slash is tolerated (some clients send `…/mcp/`); the canonical spelling is what
    gets stored on grants and tokens.
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname or parts.fragment:
        return None
    if parts.username or parts.password:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path[:-1] if parts.path.endswith("/") else parts.path
    candidate = urlunsplit((scheme, netloc, path, parts.query, ""))
    return candidate if candidate in served_resources() else None


def bind_resources(requested: list[str] | None) -> list[str] | None:
    """The canonical resources a grant or token is bound to, or None if any is not served.

    A request without `resource` (2025-03-26 clients) is bound to the MCP endpoint, so that no
    token is ever issued unbound.
    """
    if not requested:
        return [settings.MCP_URL]
    bound: list[str] = []
    for value in requested:
        canonical = canonical_resource(value)
        if canonical is None:
            return None
        if canonical not in bound:
            bound.append(canonical)
    return bound
