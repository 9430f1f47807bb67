"""The `components` of the OpenAPI document: the security schemes, the shared parameter and
header, and the JSON Schemas of every body."""

from __future__ import annotations

from typing import Any

from .inputs import Inputs
from .parts import string_array

ASSERTION_FIELDS = {
    "client_assertion_type": {
        "const": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "description": "For a private_key_jwt client (RFC 7523 §2.2).",
    },
    "client_assertion": {
        "type": "string",
        "description": "A JWT the client signed: iss = sub = client_id, aud = the issuer, exp, a new jti, a kid.",
    },
}


def components(inputs: Inputs, asm: dict[str, Any]) -> dict[str, Any]:
    url = {"type": "string", "format": "uri"}
    return {
        "securitySchemes": {
            "oauth2": {
                "type": "oauth2",
                "description": "Authorization code with PKCE (S256); tokens are bound to the MCP endpoint.",
                "flows": {
                    "authorizationCode": {
                        "authorizationUrl": asm.get("authorization_endpoint", inputs.origin + "/authorize"),
                        "tokenUrl": asm.get("token_endpoint", inputs.origin + "/token"),
                        "refreshUrl": asm.get("token_endpoint", inputs.origin + "/token"),
                        "scopes": dict(inputs.scopes),
                    }
                },
            },
            "registrationAccessToken": {"type": "http", "scheme": "bearer"},
        },
        "parameters": {
            "IfNoneMatch": {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "The ETag of a copy you have; the answer is then 304.",
                "schema": {"type": "string"},
            }
        },
        "headers": {"ETag": {"schema": {"type": "string"}, "description": "Changes when the document changes."}},
        "schemas": {
            "OAuthError": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
            },
            "ProtectedResourceMetadata": {
                "type": "object",
                "description": "RFC 9728 §2.",
                "required": ["resource", "authorization_servers"],
                "properties": {
                    "resource": {**url, "description": "The MCP endpoint; the audience of its tokens."},
                    "authorization_servers": {**string_array(), "description": "Issuer identifiers."},
                    "scopes_supported": string_array(),
                    "bearer_methods_supported": string_array(),
                    "resource_name": {"type": "string"},
                    "resource_documentation": url,
                },
            },
            "AuthorizationServerMetadata": {
                "type": "object",
                "description": "RFC 8414 §2.",
                "required": ["issuer", "authorization_endpoint", "token_endpoint", "response_types_supported"],
                "properties": {
                    key: (
                        string_array()
                        if isinstance(value, list)
                        else {"type": "boolean"}
                        if isinstance(value, bool)
                        else url
                    )
                    for key, value in asm.items()
                },  # fmt: skip
            },
            "ClientMetadata": {
                "type": "object",
                "description": "RFC 7591 §2.",
                "required": ["redirect_uris"],
                "properties": {
                    "client_name": {"type": "string"},
                    "redirect_uris": {**string_array(), "minItems": 1},
                    "grant_types": string_array(),
                    "response_types": string_array(),
                    "token_endpoint_auth_method": {
                        "type": "string",
                        "enum": asm.get("token_endpoint_auth_methods_supported") or ["none"],
                        "default": "client_secret_basic",
                    },
                    "token_endpoint_auth_signing_alg": {
                        "type": "string",
                        "enum": asm.get("token_endpoint_auth_signing_alg_values_supported") or ["RS256"],
                        "description": "private_key_jwt: the one algorithm its assertions use.",
                    },
                    "jwks_uri": {**url, "description": "private_key_jwt: where its public keys are (https)."},
                    "jwks": {"type": "object", "description": "private_key_jwt: its public keys, instead of jwks_uri."},
                    "application_type": {
                        "type": "string",
                        "enum": ["native", "web"],
                        "description": "web: https redirect URIs only; native: a loopback or app-scheme one too.",
                    },
                    "scope": {"type": "string"},
                    "client_uri": url,
                    "logo_uri": url,
                },
            },
            "ClientInformation": {
                "type": "object",
                "description": "RFC 7591 §3.2.1: the metadata as registered, plus the credentials.",
                "required": ["client_id"],
                "properties": {
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"},
                    "client_id_issued_at": {"type": "integer"},
                    "client_secret_expires_at": {"type": "integer"},
                    "registration_access_token": {"type": "string"},
                    "registration_client_uri": url,
                    "client_name": {"type": "string"},
                    "redirect_uris": string_array(),
                    "grant_types": string_array(),
                    "response_types": string_array(),
                    "token_endpoint_auth_method": {"type": "string"},
                    "token_endpoint_auth_signing_alg": {"type": "string"},
                    "jwks_uri": url,
                    "jwks": {"type": "object"},
                    "application_type": {"type": "string"},
                    "scope": {"type": "string"},
                },
            },
            "AuthorizationCodeGrant": {
                "type": "object",
                "required": ["grant_type", "code", "redirect_uri", "client_id", "code_verifier"],
                "properties": {
                    "grant_type": {"const": "authorization_code"},
                    "code": {"type": "string"},
                    "redirect_uri": {"type": "string"},
                    "client_id": {"type": "string"},
                    "code_verifier": {"type": "string", "minLength": 43, "maxLength": 128},
                    "resource": {"type": "string", "const": inputs.origin + inputs.mcp_path},
                    **ASSERTION_FIELDS,
                },
            },
            "RefreshTokenGrant": {
                "type": "object",
                "required": ["grant_type", "refresh_token", "client_id"],
                "properties": {
                    "grant_type": {"const": "refresh_token"},
                    "refresh_token": {"type": "string"},
                    "client_id": {"type": "string"},
                    "scope": {"type": "string", "description": "At most the scopes originally granted."},
                    "resource": {"type": "string", "const": inputs.origin + inputs.mcp_path},
                    **ASSERTION_FIELDS,
                },
            },
            "TokenResponse": {
                "type": "object",
                "required": ["access_token", "token_type", "expires_in", "scope"],
                "properties": {
                    "access_token": {"type": "string"},
                    "token_type": {"const": "Bearer"},
                    "expires_in": {"type": "integer", "maximum": inputs.access_token_lifetime},
                    "scope": {"type": "string"},
                    "refresh_token": {"type": "string"},
                },
            },
            "RevocationRequest": {
                "type": "object",
                "required": ["token"],
                "properties": {
                    "token": {"type": "string"},
                    "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
                    "client_id": {"type": "string"},
                    **ASSERTION_FIELDS,
                },
            },
            "JsonRpcRequest": {
                "type": "object",
                "required": ["jsonrpc", "method"],
                "properties": {
                    "jsonrpc": {"const": "2.0"},
                    "id": {"type": ["integer", "string"], "description": "Absent for a notification."},
                    "method": {"type": "string", "description": "e.g. `tools/call`, `resources/read`."},
                    "params": {
                        "type": "object",
                        "description": "2026-07-28: with `_meta` (protocol version, client capabilities).",
                    },
                },
            },
            "JsonRpcResponse": {
                "type": "object",
                "required": ["jsonrpc"],
                "properties": {
                    "jsonrpc": {"const": "2.0"},
                    "id": {"type": ["integer", "string", "null"], "description": "The request's id."},
                    "result": {"type": "object", "description": "On success."},
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
                    },
                },
            },
        },
    }
