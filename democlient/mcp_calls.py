"""Plain JSON-RPC calls to an MCP endpoint over HTTP, in either protocol generation, returning
the final JSON-RPC message whether the server answered with JSON or an SSE stream."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import httpx2

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
CLIENT_INFO = {"name": "democlient", "version": "1.0"}
_ids = itertools.count(1)


@dataclass
class Reply:
    status: int
    headers: httpx2.Headers
    message: dict[str, Any] | None  # the JSON-RPC response, if there was one
    notifications: list[dict[str, Any]]
    response: httpx2.Response | None = None  # the raw HTTP answer (request included)

    @property
    def result(self) -> dict[str, Any] | None:
        return (self.message or {}).get("result")

    @property
    def error(self) -> dict[str, Any] | None:
        return (self.message or {}).get("error")


def parse_body(response: httpx2.Response) -> tuple[dict | None, list[dict]]:
    """The JSON-RPC response and the notifications before it."""
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("text/event-stream"):
        messages, data = [], []
        # Events end at a blank line; SSE separates lines by \r\n, \n or \r only (not by the other
        # characters str.splitlines() would split on, which may appear inside the JSON data).
        lines = response.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for line in [*lines, ""]:
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line and data:
                messages.append(json.loads("\n".join(data)))
                data = []
        final = [m for m in messages if "id" in m and ("result" in m or "error" in m)]
        return (final[-1] if final else None), [m for m in messages if "method" in m]
    if content_type.startswith("application/json") and response.content:
        body = response.json()
        return (body if isinstance(body, dict) else None), []
    return None, []


def call(
    http: httpx2.Client,
    url: str,
    token: str | None,
    method: str,
    params: dict[str, Any] | None = None,
    version: str = LEGACY,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One JSON-RPC request. For the modern generation it adds the routing headers and `_meta`."""
    params = dict(params or {})
    sent = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": version,
    }
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if version == MODERN:
        sent["Mcp-Method"] = method
        name = params.get("name") or params.get("uri")
        if name and method in ("tools/call", "prompts/get", "resources/read"):
            sent["Mcp-Name"] = str(name)
        meta = dict(params.get("_meta") or {})
        meta.setdefault("io.modelcontextprotocol/protocolVersion", MODERN)
        meta.setdefault("io.modelcontextprotocol/clientCapabilities", {})
        meta.setdefault("io.modelcontextprotocol/clientInfo", CLIENT_INFO)
        params["_meta"] = meta
    sent.update(headers or {})
    body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}
    response = http.post(url, headers=sent, content=json.dumps(body))
    message, notifications = parse_body(response)
    return Reply(response.status_code, response.headers, message, notifications, response)


def initialize(http: httpx2.Client, url: str, token: str, version: str = LEGACY) -> Reply:
    return call(
        http,
        url,
        token,
        "initialize",
        {"protocolVersion": version, "capabilities": {}, "clientInfo": CLIENT_INFO},
        version=version,
    )
