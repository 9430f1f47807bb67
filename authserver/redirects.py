"""Which redirect URIs a client may register (RFC 8252, OAuth 2.1 §2.3.1, MCP security notes).

- `https` on any host;
- `http` only on a loopback host (`127.0.0.1`, `[::1]`, `localhost`), where the port may vary at
  authorization time (DOT's loopback rule with ALLOW_LOCALHOST_LOOPBACK);
- a private-use scheme only from PRIVATE_REDIRECT_SCHEMES (e.g. `cursor://…`);
- never a fragment, user info, or a wildcard.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` may not be registered, in words for the client developer; None when it may."""
    if not isinstance(uri, str) or not uri.strip():
        return "a redirect URI must be a non-empty string"
    if uri != uri.strip() or any(ch.isspace() for ch in uri):
        return f"redirect URI {uri!r} contains whitespace"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return f"redirect URI {uri!r} is not a valid URI"
    scheme = parts.scheme.lower()
    if not scheme:
        return f"redirect URI {uri!r} must be absolute"
    if parts.fragment or "#" in uri:
        return f"redirect URI {uri!r} must not contain a fragment"
    if parts.username or parts.password:
        return f"redirect URI {uri!r} must not contain user information"
    if "*" in uri:
        return f"redirect URI {uri!r} must not contain a wildcard"
    if scheme == "https":
        return None if parts.hostname else f"redirect URI {uri!r} has no host"
    if scheme == "http":
        if parts.hostname in LOOPBACK_HOSTS:
            return None
        return f"redirect URI {uri!r} uses http on a non-loopback host; use https, or http://127.0.0.1"
    if scheme in {s.lower() for s in settings.PRIVATE_REDIRECT_SCHEMES}:
        return None
    allowed = ", ".join(["https", "http (loopback only)", *settings.PRIVATE_REDIRECT_SCHEMES])
    return f"redirect URI {uri!r} uses the scheme {scheme!r}; allowed: {allowed}"
