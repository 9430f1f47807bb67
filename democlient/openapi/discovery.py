"""The two discovery documents: the protected-resource metadata (RFC 9728) of the MCP endpoint,
and the authorization server's metadata (RFC 8414)."""

from __future__ import annotations

from .inputs import Inputs
from .parts import Section, curl, json_body


def protected_resource_metadata(inputs: Inputs) -> Section:
    prm_path = "/.well-known/oauth-protected-resource" + inputs.mcp_path
    tag = {
        "name": "discovery",
        "x-displayName": "Discovery: protected-resource metadata",
        "x-page": "protected-resource-metadata",
        "description": (
            "RFC 9728 metadata of the MCP endpoint: which authorization server issues its tokens and which "
            "scopes exist. Served at the path-inserted location (which the 401 challenge names) and at the "
            "root, which clients try next. Both answer JSON with an `ETag` and "
            "`Cache-Control: public, max-age=300`, and `Access-Control-Allow-Origin: *`."
        ),
    }
    operation = {
        "tags": ["discovery"],
        "summary": "Protected-resource metadata of the MCP endpoint",
        "operationId": "getProtectedResourceMetadata",
        "parameters": [{"$ref": "#/components/parameters/IfNoneMatch"}],
        "responses": {
            "200": {
                "description": "The metadata document.",
                "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                **json_body(
                    {"$ref": "#/components/schemas/ProtectedResourceMetadata"}, inputs.protected_resource_metadata
                ),
            },
            "304": {"description": "Not modified (the `If-None-Match` ETag matches)."},
        },
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
    return Section(tag, paths)


def authorization_server_metadata(inputs: Inputs) -> Section:
    tag = {
        "name": "authorization-server",
        "x-displayName": "Discovery: authorization-server metadata",
        "x-page": "authorization-server-metadata",
        "description": (
            "RFC 8414 metadata of the authorization server. The issuer is the bare origin, identical in "
            "the protected-resource metadata's `authorization_servers`, in this document and in the "
            "`iss` of every authorization response (RFC 9207)."
        ),
    }
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
        "responses": {
            "200": {
                "description": "The metadata document.",
                "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                **json_body(
                    {"$ref": "#/components/schemas/AuthorizationServerMetadata"}, inputs.authorization_server_metadata
                ),
            },
            "304": {"description": "Not modified."},
        },
        "x-codeSamples": curl(f"curl -s {inputs.origin}/.well-known/oauth-authorization-server"),
    }
    return Section(tag, {"/.well-known/oauth-authorization-server": {"get": operation}})
