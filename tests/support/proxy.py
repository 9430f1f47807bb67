"""A stand-in for the TLS-terminating reverse proxy in front of the web service, as an httpx2
transport: the client dials the public origin (e.g. https://mcp.example.test), and each request
goes over plain HTTP to one of the backends (round robin, so consecutive requests alternate),
with what a proxy adds: the public Host, X-Forwarded-Proto and X-Forwarded-For.

Share one instance between clients (the test's own and democlient's Browser) and every request of
a flow alternates between the backends; `hits` records where each went.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import httpx2


@dataclass(frozen=True)
class Hit:
    backend: str
    method: str
    path: str
    status: int


class ProxyTransport(httpx2.BaseTransport):
    def __init__(self, backends: list[str], client_ip: str = "198.51.100.7") -> None:
        self.backends = [httpx2.URL(backend) for backend in backends]
        self.client_ip = client_ip
        self._turns = itertools.cycle(range(len(self.backends)))
        self._inner = httpx2.HTTPTransport()
        self.hits: list[Hit] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        backend = self.backends[next(self._turns)]
        headers = httpx2.Headers(request.headers)  # keeps Host: the public host, as sent
        headers["X-Forwarded-Proto"] = request.url.scheme
        headers["X-Forwarded-For"] = request.headers.get("X-Forwarded-For", self.client_ip)
        forwarded = httpx2.Request(
            request.method,
            request.url.copy_with(scheme=backend.scheme, host=backend.host, port=backend.port),
            headers=headers,
            content=request.read(),
            extensions=request.extensions,
        )
        response = self._inner.handle_request(forwarded)
        self.hits.append(Hit(str(backend), request.method, request.url.path, response.status_code))
        return response

    def close(self) -> None:
        """Clients close their transport when they close; this one outlives them (see shutdown)."""

    def shutdown(self) -> None:
        self._inner.close()


class PinnedTransport(httpx2.BaseTransport):
    """Dials the public https origin at a fixed local address (no DNS), keeping the public name
    for the Host header, SNI and certificate verification: a client in front of a real TLS proxy."""

    def __init__(self, address: tuple[str, int], verify) -> None:
        self.host, self.port = address
        self._inner = httpx2.HTTPTransport(verify=verify)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        pinned = httpx2.Request(
            request.method,
            request.url.copy_with(host=self.host, port=self.port),
            headers=request.headers,
            content=request.read(),
            extensions={**request.extensions, "sni_hostname": request.url.host},
        )
        return self._inner.handle_request(pinned)

    def close(self) -> None:
        """Shared by several clients: see shutdown."""

    def shutdown(self) -> None:
        self._inner.close()
