"""A tiny stand-in MCP server (Starlette on uvicorn, in a thread, on a free loopback port) whose
discovery is correct by default and broken on request, for testing the discovery doctor against
servers other than ours.

Faults (each one a real-world mistake, with a public report of it):
- issuer_trailing_slash: the AS metadata's issuer is the origin plus "/" (python-sdk#1919).
- resource_mismatch: the PRM `resource` is the origin, not the MCP URL dialled (python-sdk#1400).
- html_wellknown: a single-page-app fallback answers unknown paths (the path-inserted PRM
  included) with an HTML page; the PRM lives only at the root (TREK#959).
- no_cors: no CORS headers anywhere (modelcontextprotocol/inspector#752).
- no_s256: the AS metadata does not advertise PKCE S256.
- no_www_authenticate: the 401 has no WWW-Authenticate header.
- cimd_none_only: URL client ids (CIMD) advertised with only "none" as a token endpoint auth
  method, as django-oauth-toolkit 3.4 ships it: ChatGPT's signed URL client id has no way in.
- no_offline_access: the AS lists its scopes without offline_access (and refuses it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.support.server import free_port

FAULTS = (
    "issuer_trailing_slash",
    "resource_mismatch",
    "html_wellknown",
    "no_cors",
    "no_s256",
    "no_www_authenticate",
    "cimd_none_only",
    "no_offline_access",
)
SPA_PAGE = "<!doctype html><html><head><title>App</title></head><body><div id=root></div></body></html>"


def build_app(origin: str, faults: frozenset[str]) -> Starlette:
    mcp_url = origin + "/mcp"
    prm_path = "/.well-known/oauth-protected-resource"
    prm_url = origin + prm_path + ("" if "html_wellknown" in faults else "/mcp")

    def prm() -> dict:
        return {
            "resource": origin if "resource_mismatch" in faults else mcp_url,
            "authorization_servers": [origin],
            "scopes_supported": ["notes:read", "notes:write"],
            "bearer_methods_supported": ["header"],
        }

    def asm() -> dict:
        document = {
            "issuer": origin + "/" if "issuer_trailing_slash" in faults else origin,
            "authorization_endpoint": origin + "/authorize",
            "token_endpoint": origin + "/token",
            "registration_endpoint": origin + "/register",
            "revocation_endpoint": origin + "/revoke",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "code_challenge_methods_supported": ["S256"],
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
            "scopes_supported": ["notes:read", "notes:write", "offline_access"],
        }
        if "no_s256" in faults:
            del document["code_challenge_methods_supported"]
        if "cimd_none_only" in faults:
            document["token_endpoint_auth_methods_supported"] = ["none"]
            del document["token_endpoint_auth_signing_alg_values_supported"]
        if "no_offline_access" in faults:
            document["scopes_supported"] = ["notes:read", "notes:write"]
        return document

    async def mcp(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        if authorization:
            challenge = f'Bearer error="invalid_token", resource_metadata="{prm_url}", scope="notes:read"'
        else:
            challenge = f'Bearer resource_metadata="{prm_url}", scope="notes:read"'
        headers = {} if "no_www_authenticate" in faults else {"WWW-Authenticate": challenge}
        return JSONResponse({"error": "unauthorized"}, status_code=401, headers=headers)

    async def protected_resource(request: Request) -> Response:
        return JSONResponse(prm())

    async def authorization_server(request: Request) -> Response:
        return JSONResponse(asm())

    async def oauth_endpoint(request: Request) -> Response:
        return JSONResponse({"error": "invalid_request"}, status_code=400)

    async def fallback(request: Request) -> Response:
        if "html_wellknown" in faults:
            return HTMLResponse(SPA_PAGE)  # the SPA answers everything it does not know
        return JSONResponse({"error": "not_found"}, status_code=404)

    routes = [
        Route("/mcp", mcp, methods=["POST", "GET"]),
        Route(prm_path, protected_resource),
        Route("/.well-known/oauth-authorization-server", authorization_server),
        Route("/token", oauth_endpoint, methods=["POST"]),
        Route("/register", oauth_endpoint, methods=["POST"]),
        Route("/{path:path}", fallback),
    ]
    if "html_wellknown" not in faults:
        routes.insert(1, Route(prm_path + "/mcp", protected_resource))
    middleware = []
    if "no_cors" not in faults:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type", "mcp-protocol-version"],
                expose_headers=["WWW-Authenticate"],
            )
        )
    return Starlette(routes=routes, middleware=middleware)


@contextmanager
def fake_mcp_server(*faults: str) -> Iterator[str]:
    """Serve a fake MCP server with these faults; yields its MCP URL."""
    unknown = set(faults) - set(FAULTS)
    assert not unknown, f"unknown faults {unknown}"
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        build_app(origin, frozenset(faults)), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake MCP server did not start")
        time.sleep(0.02)
    try:
        yield origin + "/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
