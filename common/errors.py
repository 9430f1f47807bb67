"""JSON error answers at the ASGI layer (the MCP endpoint): a client that speaks JSON-RPC must never
receive a plain-text or empty error body."""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.types import Message, Send


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
            error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": text}}
            payload = json.dumps(error).encode()
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
