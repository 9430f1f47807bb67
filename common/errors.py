"""Error answers, in the terms both roles share.

- `OAuthError` and `ErrorPage`: the two kinds of error an HTTP endpoint of the authorization
  server answers (an OAuth error object for a program, the styled error page for a person);
  `authserver/errors.py` is the one place that turns either into its response.
- `jsonrpc_error_bodies`: at the ASGI layer (the MCP endpoint), a client that speaks JSON-RPC
  must never receive a plain-text or empty error body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.types import Message, Send

# --- OAuth errors and error pages ----------------------------------------------------------------

# The Cache-Control of every answer that carries credentials, codes or a refusal of the moment
# (RFC 6749 §5.1 asks it of token responses): on Django's side set by
# authserver.security.SecurityHeadersMiddleware alone; the ASGI paths that answer without Django
# (the lean refresh path, the MCP gate's challenges) send the same value.
NO_STORE = "no-store"

# The OAuth `error` code of an answer that has none of its own, by HTTP status.
ERROR_CODES = {
    400: "invalid_request",
    401: "invalid_client",
    403: "access_denied",
    404: "not_found",
    405: "invalid_request",
    413: "invalid_request",
    415: "invalid_request",
    429: "too_many_requests",
    503: "temporarily_unavailable",
}


def error_code(status: int) -> str:
    return ERROR_CODES.get(status, "server_error" if status >= 500 else "invalid_request")


class ErrorPage(Exception):
    """An error a person sees: the styled error page (authserver/error.html) with this status,
    its template context (`error`, `title`, `description`, `hint`, `oauth`) and any headers."""

    def __init__(self, status: int, context: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(context.get("description", ""))
        self.status = status
        self.context = dict(context)
        self.headers = dict(headers or {})


class OAuthError(Exception):
    """An OAuth error answer: `{"error", "error_description"}` (plus any `fields`) as JSON with
    this status and any headers (WWW-Authenticate, Retry-After, Allow). With a `page`, a
    person's browser gets that page instead (authserver.errors.wants_page decides)."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        *,
        headers: Mapping[str, str] | None = None,
        fields: Mapping[str, Any] | None = None,
        page: ErrorPage | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})
        self.fields = dict(fields or {})
        self.page = page

    @classmethod
    def for_status(cls, status: int, description: str, **kwargs: Any) -> OAuthError:
        """The error whose code is the usual one for `status` (ERROR_CODES)."""
        return cls(error_code(status), description, status, **kwargs)

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description, **self.fields}


# --- JSON-RPC error bodies at the ASGI layer -----------------------------------------------------


def jsonrpc_error_bodies(send: Send) -> Send:
    """Wrap an ASGI `send` so that an error answer without a JSON body gets a JSON-RPC error
    body (same status and headers). The MCP SDK refuses some requests with plain text ("Invalid
    Content-Type header") or an empty body (406, 405), which an MCP client cannot parse."""
    held: list[Message] = []
    body = bytearray()

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            # (Headers looked at only for errors: this wraps every answer of /mcp.)
            content_type = dict(message.get("headers", [])).get(b"content-type", b"")
            if not content_type.startswith((b"application/json", b"text/event-stream")):
                held.append(message)
                return
        elif message["type"] == "http.response.body" and held:
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            start = held.pop()
            text = body.decode("utf-8", "replace").strip() or _reason(start["status"])
            payload = jsonrpc_error_body(-32600, text)
            headers = [(k, v) for k, v in start.get("headers", []) if k not in (b"content-type", b"content-length")]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        await send(message)

    return wrapped


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Request refused"


def jsonrpc_error_body(code: int, message: str) -> bytes:
    """The body of a JSON-RPC error answer that belongs to no request the server could read (so
    `id` is null, JSON-RPC 2.0 §5): every such body of the MCP endpoint is built here."""
    return json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}).encode()
