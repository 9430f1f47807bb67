"""The OpenAPI 3.1 description of every HTTP endpoint a client developer calls, built from the
code and settings so that it cannot drift: the metadata examples are the documents the live
views serve, the challenges are what the bearer gate sends, the scopes and tools come from the
MCP server's own registry.

Why not drf-spectacular: it describes Django REST framework views by introspecting their
serializers, but these endpoints are django-oauth-toolkit's plain Django views (whose request and
response formats are fixed by the RFCs, not by serializers) and an ASGI app outside Django's URL
map (`/mcp`). It would need a hand-written extension for every one of them, so pure functions
that write the document directly are shorter and say exactly what the server does.

`build_openapi` is pure (inputs in, dict out): one builder per tag (`SECTIONS`, each in the
module of its endpoints) and the components (`schemas`). `live_inputs` collects its inputs from
this process's views and settings; `democlient.docpages` turns the document into the Markdown
pages of `docs/`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .authorization import authorize, revoke, token
from .discovery import authorization_server_metadata, protected_resource_metadata
from .inputs import Inputs, for_origin, live_inputs, rebase
from .mcp_endpoint import mcp_endpoint
from .parts import Section
from .registration import registration, registration_management
from .schemas import components

EXAMPLE_ORIGIN = "http://127.0.0.1:8000"  # what `make run` serves; the committed docs use it

# One builder per tag, in the order of the document (and of the docs' pages).
SECTIONS: tuple[Callable[[Inputs], Section], ...] = (
    protected_resource_metadata,
    authorization_server_metadata,
    registration,
    registration_management,
    authorize,
    token,
    revoke,
    mcp_endpoint,
)

__all__ = ["EXAMPLE_ORIGIN", "Inputs", "build_openapi", "example_openapi", "live_inputs", "live_openapi", "rebase"]


def build_openapi(inputs: Inputs) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the deployment described by `inputs`."""
    sections = [build(inputs) for build in SECTIONS]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": inputs.protected_resource_metadata.get("resource_name") or "MCP server",
            "version": inputs.server_version,
            "summary": "An OAuth 2.1 authorization server and an MCP resource server in one deployment.",
            "description": (
                "Everything an MCP client needs is discoverable from one URL, the MCP endpoint "
                f"`{inputs.mcp_url}`: a request without a token gets a 401 whose `WWW-Authenticate` names the "
                "protected-resource metadata, which names the authorization server, whose metadata lists "
                "the endpoints below."
            ),
        },
        "servers": [{"url": inputs.origin}],
        "tags": [section.tag for section in sections],
        "paths": {path: item for section in sections for path, item in section.paths.items()},
        "components": components(inputs),
    }


@lru_cache(maxsize=1)
def live_openapi() -> dict[str, Any]:
    return build_openapi(live_inputs())


def example_openapi() -> dict[str, Any]:
    """The document of a deployment at EXAMPLE_ORIGIN: what the committed docs are made from."""
    return build_openapi(for_origin(live_inputs(), EXAMPLE_ORIGIN))
