"""Limits on what a request may carry, shared by Django's middleware (authserver/security.py) and
the ASGI layer in front of the MCP endpoint (mcpserver/gate.py), so both refuse the same requests."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings


def header_problem(headers: Iterable[tuple[str | bytes, str | bytes]]) -> str | None:
    """Why a request's headers are refused (too many, or too large in total); None if they are not.
    Names and values may be text (Django's META) or bytes (an ASGI scope)."""
    count, size = 0, 0
    for name, value in headers:
        count += 1
        size += len(name) + len(value) + 4
    if count > settings.REQUEST_MAX_HEADER_COUNT:
        return f"The request has more than {settings.REQUEST_MAX_HEADER_COUNT} header fields"
    if size > settings.REQUEST_MAX_HEADER_BYTES:
        return f"The request header fields exceed {settings.REQUEST_MAX_HEADER_BYTES} bytes"
    return None
