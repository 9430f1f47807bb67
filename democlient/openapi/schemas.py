"""The `components` of the OpenAPI document: the security schemes, the shared parameter and
header, and the JSON Schemas of every body.

The schemas of the OAuth documents (the two metadata documents, client metadata, client
information, the token response) are the MCP SDK's own pydantic models' (`mcp.shared.auth`), as
this server uses them (`sdk_schema`); the rest (form bodies, JSON-RPC) have no SDK model that
matches what this server accepts, and are written here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcp.shared.auth import (
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from pydantic import BaseModel

from .inputs import Inputs

URL = {"type": "string", "format": "uri"}
# The client metadata a registration stores and its answer repeats (RFC 7591 §2, §3.2.1).
REGISTERED_METADATA = (
    "client_name",
    "redirect_uris",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "token_endpoint_auth_signing_alg",
    "jwks_uri",
    "jwks",
    "application_type",
    "scope",
)
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


def components(inputs: Inputs) -> dict[str, Any]:
    return {
        "securitySchemes": security_schemes(inputs),
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
            **metadata_schemas(inputs),
            **client_schemas(inputs),
            **token_schemas(inputs),
            **json_rpc_schemas(),
        },
    }


def security_schemes(inputs: Inputs) -> dict[str, Any]:
    asm = inputs.authorization_server_metadata
    return {
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
    }


def sdk_schema(
    model: type[BaseModel],
    description: str,
    fields: Iterable[str],
    required: list[str] | None = None,
    changes: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON Schema of one of the SDK's models, as this server uses the document: only `fields`
    (in that order; one the model lacks is described by `changes` alone), each as the server sends
    it, and `changes` (this server's descriptions and narrower values) over it. `required` is the
    model's unless given."""
    generated = model.model_json_schema()
    changes = changes or {}
    properties = {name: {**as_sent(generated["properties"].get(name, {})), **changes.get(name, {})} for name in fields}
    if required is None:
        required = [name for name in generated.get("required", []) if name in properties]
    return {"type": "object", "description": description, "required": required, "properties": properties}


def as_sent(generated: dict[str, Any]) -> dict[str, Any]:
    """A property of a generated schema as this server sends it: an absent member is left out, never
    null, so `X | None` reads as X; no title, and no default (the SDK's defaults are its clients'
    choices, not this server's)."""
    schema = {key: value for key, value in generated.items() if key not in ("title", "default", "anyOf")}
    alternatives = [option for option in generated.get("anyOf", []) if option != {"type": "null"}]
    if len(alternatives) == 1:
        return {**alternatives[0], **schema}
    if alternatives:
        schema["anyOf"] = alternatives
    return schema


def value_schema(value: Any) -> dict[str, Any]:
    """The schema of a metadata member the SDK's model does not know, from its value."""
    if isinstance(value, list):
        return {"type": "array", "items": {"type": "string"}}
    return {"type": "boolean"} if isinstance(value, bool) else URL


def metadata_schemas(inputs: Inputs) -> dict[str, Any]:
    """The two discovery documents, with the members this server's copies have."""
    asm = inputs.authorization_server_metadata
    return {
        "ProtectedResourceMetadata": sdk_schema(
            ProtectedResourceMetadata,
            "RFC 9728 §2.",
            inputs.protected_resource_metadata,
            changes={
                "resource": {"description": "The MCP endpoint; the audience of its tokens."},
                "authorization_servers": {"description": "Issuer identifiers."},
            },
        ),
        "AuthorizationServerMetadata": sdk_schema(
            OAuthMetadata,
            "RFC 8414 §2.",
            asm,
            # RFC 8414 §2 requires response_types_supported too (the SDK's model defaults it).
            required=["issuer", "authorization_endpoint", "token_endpoint", "response_types_supported"],
            changes={key: value_schema(value) for key, value in asm.items() if key not in OAuthMetadata.model_fields},
        ),
    }


def client_schemas(inputs: Inputs) -> dict[str, Any]:
    """What a client registers (RFC 7591 §2) and what it gets back (§3.2.1, RFC 7592 §3)."""
    asm = inputs.authorization_server_metadata
    signing_alg = {
        "type": "string",
        "enum": asm.get("token_endpoint_auth_signing_alg_values_supported") or ["RS256"],
        "description": "private_key_jwt: the one algorithm its assertions use.",
    }
    return {
        "ClientMetadata": sdk_schema(
            OAuthClientMetadata,
            "RFC 7591 §2.",
            (*REGISTERED_METADATA, "client_uri", "logo_uri"),
            changes={
                "grant_types": {"items": {"type": "string"}},  # others are tolerated (and dropped)
                "token_endpoint_auth_method": {
                    "enum": asm.get("token_endpoint_auth_methods_supported") or ["none"],
                    "default": "client_secret_basic",
                },
                "token_endpoint_auth_signing_alg": signing_alg,
                "jwks_uri": {"description": "private_key_jwt: where its public keys are (https)."},
                "jwks": {"type": "object", "description": "private_key_jwt: its public keys, instead of jwks_uri."},
                "application_type": {
                    "description": "web: https redirect URIs only; native: a loopback or app-scheme one too."
                },
            },
        ),
        "ClientInformation": sdk_schema(
            OAuthClientInformationFull,
            "RFC 7591 §3.2.1: the metadata as registered, plus the credentials.",
            (
                "client_id",
                "client_secret",
                "client_id_issued_at",
                "client_secret_expires_at",
                "registration_access_token",
                "registration_client_uri",
                *REGISTERED_METADATA,
            ),
            changes={
                "registration_access_token": {"type": "string"},
                "registration_client_uri": URL,
                "token_endpoint_auth_signing_alg": {"type": "string"},
                "jwks": {"type": "object"},
            },
        ),
    }


def token_schemas(inputs: Inputs) -> dict[str, Any]:
    """The token endpoint's two grants (form bodies), its answer, and the revocation request."""
    return {
        "AuthorizationCodeGrant": {
            "type": "object",
            "required": ["grant_type", "code", "redirect_uri", "client_id", "code_verifier"],
            "properties": {
                "grant_type": {"const": "authorization_code"},
                "code": {"type": "string"},
                "redirect_uri": {"type": "string"},
                "client_id": {"type": "string"},
                "code_verifier": {"type": "string", "minLength": 43, "maxLength": 128},
                "resource": {"type": "string", "const": inputs.mcp_url},
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
                "resource": {"type": "string", "const": inputs.mcp_url},
                **ASSERTION_FIELDS,
            },
        },
        "TokenResponse": sdk_schema(
            OAuthToken,
            "RFC 6749 §5.1.",
            OAuthToken.model_fields,
            # This server always says how long the token lives and what it may do.
            required=["access_token", "token_type", "expires_in", "scope"],
            changes={"expires_in": {"maximum": inputs.access_token_lifetime}},
        ),
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
    }


def json_rpc_schemas() -> dict[str, Any]:
    return {
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
    }
