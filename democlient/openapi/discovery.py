"""The two discovery documents: the protected-resource metadata (RFC 9728) of the MCP endpoint,
and the authorization server's metadata (RFC 8414)."""

from __future__ import annotations

from typing import Any

from .inputs import Inputs
from .parts import Section, curl, json_body


def document_responses(schema: str, document: dict[str, Any], not_modified: str) -> dict[str, Any]:
    """A discovery document's answers: the document with its ETag, or 304 for the copy a client has."""
    return {
        "200": {
            "description": "The metadata document.",
            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
            **json_body({"$ref": f"#/components/schemas/{schema}"}, document),
        },
        "304": {"description": not_modified},
    }


def protected_resource_metadata(inputs: Inputs) -> Section:
    prm_path = "/.well-known/oauth-protected-resource" + inputs.mcp_path
    description = (
        "RFC 9728 metadata of the MCP endpoint: which authorization server issues its tokens and which "
        "scopes exist. Served at the path-inserted location (which the 401 challenge names) and at the "
        "root, which clients try next. Both answer JSON with an `ETag` and "
        "`Cache-Control: public, max-age=300`, and `Access-Control-Allow-Origin: *`."
    )
    operation = {
        "tags": ["discovery"],
        "summary": "Protected-resource metadata of the MCP endpoint",
        "operationId": "getProtectedResourceMetadata",
        "parameters": [{"$ref": "#/components/parameters/IfNoneMatch"}],
        "responses": document_responses(
            "ProtectedResourceMetadata",
            inputs.protected_resource_metadata,
            "Not modified (the `If-None-Match` ETag matches).",
        ),
        "x-codeSamples": curl(f"curl -s {inputs.origin}{prm_path}"),
    }
    paths = {
        prm_path: {"get": operation},
        "/.well-known/oauth-protected-resource": {
            "get": {
                **operation,
                "summary": "Protected-resource metadata (root location)",
                "description": "The same document at the root location, for clients that try it after the "
                "path-inserted one. Any other path under it is a JSON 404.",
                "operationId": "getProtectedResourceMetadataRoot",
                "x-codeSamples": curl(f"curl -s {inputs.origin}/.well-known/oauth-protected-resource"),
            }
        },
    }
    return Section(
        "discovery", "Discovery: protected-resource metadata", "protected-resource-metadata", description, paths
    )


def authorization_server_metadata(inputs: Inputs) -> Section:
    description = (
        "RFC 8414 metadata of the authorization server. The issuer is the bare origin, identical in "
        "the protected-resource metadata's `authorization_servers`, in this document and in the "
        "`iss` of every authorization response (RFC 9207)."
    )
    operation = {
        "tags": ["authorization-server"],
        "summary": "Authorization-server metadata",
        "description": "The issuer has no path, so this is both the RFC 8414 path-inserted and the root "
        "location. There is no OpenID discovery document (`/.well-known/openid-configuration` is a JSON "
        "404): clients try RFC 8414 first. The issuer URL itself (`GET /`) answers this same document, "
        "with the same headers plus `Vary: Accept`, to any request that does not prefer HTML (`fetch()` "
        "and curl send `*/*`); browsers get the server's front page there.",
        "operationId": "getAuthorizationServerMetadata",
        "parameters": [{"$ref": "#/components/parameters/IfNoneMatch"}],
        "responses": document_responses(
            "AuthorizationServerMetadata", inputs.authorization_server_metadata, "Not modified."
        ),
        "x-codeSamples": curl(f"curl -s {inputs.origin}/.well-known/oauth-authorization-server"),
    }
    return Section(
        "authorization-server",
        "Discovery: authorization-server metadata",
        "authorization-server-metadata",
        description,
        {"/.well-known/oauth-authorization-server": {"get": operation}},
    )
