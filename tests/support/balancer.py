"""A small round-robin load balancer for end-to-end tests: a real HTTP server on a free loopback
port that hands each request to the next backend in turn, as a load balancer without sticky
sessions does, and streams the answer back. The backends are told the balancer's URL as their
PUBLIC_URL, so everything a client sees (metadata, the token's resource) names the balancer.

`hits` records where each request went, with its MCP method (the Mcp-Method header, or the
JSON-RPC body's), so a test can show that one call's rounds were answered by different replicas.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass

import httpx2
import uvicorn

from tests.support.server import free_port

# Hop-by-hop fields (RFC 9110 §7.6.1) are the connection's, not the message's.
HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade", b"proxy-connection"}


@dataclass(frozen=True)
class Hit:
    backend: str
    method: str
    path: str
    mcp_method: str | None
    status: int


class RoundRobinBalancer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.backends: list[str] = []
        self.hits: list[Hit] = []
        self._turns: itertools.cycle | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def mcp_url(self) -> str:
        return self.url + "/mcp"

    def start(self, backends: list[str]) -> RoundRobinBalancer:
        self.backends = list(backends)
        self._turns = itertools.cycle(self.backends)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            interface="asgi3",
            lifespan="off",
            proxy_headers=False,
            log_level="warning",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="balancer", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the balancer did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)

    def mcp_calls(self, method: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.mcp_method == method]

    async def app(self, scope, receive, send) -> None:
        assert scope["type"] == "http"
        backend = next(self._turns)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(name, value) for name, value in scope["headers"] if name not in HOP_BY_HOP]
        target = backend + scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        async with (
            httpx2.AsyncClient(timeout=60) as client,
            client.stream(scope["method"], target, headers=headers, content=body) as answer,
        ):
            self.hits.append(Hit(backend, scope["method"], scope["path"], mcp_method(scope, body), answer.status_code))
            sent_headers = [(n, v) for n, v in answer.headers.raw if n.lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": answer.status_code, "headers": sent_headers})
            async for chunk in answer.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def __enter__(self) -> RoundRobinBalancer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def mcp_method(scope, body: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == b"mcp-method":
            return value.decode("latin-1").strip()
    try:
        message = json.loads(body)
    except ValueError:
        return None
    return message.get("method") if isinstance(message, dict) else None
