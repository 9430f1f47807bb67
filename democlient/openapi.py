"""The OpenAPI 3.1 description of every HTTP endpoint a client developer calls, built from the
code and settings so that it cannot drift: the metadata examples are the documents the live
views serve, the challenges are what the bearer gate sends, the scopes and tools come from the
MCP server's own registry.

Why not drf-spectacular: it describes Django REST framework views by introspecting their
serializers, but these endpoints are django-oauth-toolkit's plain Django views (whose request and
response formats are fixed by the RFCs, not by serializers) and an ASGI app outside Django's URL
map (`/mcp`). It would need a hand-written extension for every one of them, so one pure function
that writes the document directly is shorter and says exactly what the server does.

`build_openapi` is pure (inputs in, dict out); `live_inputs` collects its inputs from this
process's views and settings; `docs_pages` turns the document into the Markdown pages of `docs/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

EXAMPLE_ORIGIN = "http://127.0.0.1:8000"  # what `make run` serves; the committed docs use it
OAUTH_ERROR = {"$ref": "#/components/schemas/OAuthError"}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Inputs:
    """Everything the document depends on."""

    origin: str
    mcp_path: str
    protected_resource_metadata: dict[str, Any]
    authorization_server_metadata: dict[str, Any]
    scopes: dict[str, str]  # name → what the consent page says
    baseline_scope: str
    tools: list[dict[str, Any]]  # name, description, scope, read_only
    resources: list[dict[str, Any]]  # uri, name, description, scope, mime_type
    prompts: list[dict[str, Any]]  # name, description, scope
    challenge_401: str
    challenge_invalid: str
    challenge_403: str
    write_tool: str
    access_token_lifetime: int
    server_version: str


def rebase(value: Any, origin: str, example_origin: str) -> Any:
    """`value` with every occurrence of this deployment's origin replaced by another."""
    return json.loads(json.dumps(value).replace(origin, example_origin))


# --- Small builders ------------------------------------------------------------------------------
def json_body(schema: dict, example: Any, description: str = "") -> dict:
    body = {"content": {JSON: {"schema": schema, "example": example}}}
    if description:
        body["description"] = description
    return body


def oauth_error(description: str, *examples: tuple[str, str]) -> dict:
    """A response carrying an RFC 6749 §5.2 error object; one example per (error, description)."""
    content: dict[str, Any] = {"schema": OAUTH_ERROR}
    if len(examples) == 1:
        content["example"] = {"error": examples[0][0], "error_description": examples[0][1]}
    else:
        content["examples"] = {
            error: {"value": {"error": error, "error_description": text}} for error, text in examples
        }
    return {"description": description, "content": {JSON: content}}


def curl(*lines: str) -> list[dict[str, str]]:
    return [{"lang": "curl", "label": "curl", "source": " \\\n     ".join(lines)}]


# --- The document --------------------------------------------------------------------------------
def build_openapi(inputs: Inputs) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the deployment described by `inputs`."""
    origin = inputs.origin
    prm = inputs.protected_resource_metadata
    asm = inputs.authorization_server_metadata
    mcp_url = origin + inputs.mcp_path
    prm_path = "/.well-known/oauth-protected-resource" + inputs.mcp_path
    scope_list = " ".join(inputs.scopes)
    write_scope = next((tool["scope"] for tool in inputs.tools if tool["name"] == inputs.write_tool), "")
    redirect_uri = "http://127.0.0.1:33418/callback"

    tags = [
        {
            "name": "discovery",
            "x-displayName": "Discovery: protected-resource metadata",
            "x-page": "protected-resource-metadata",
            "description": (
                "RFC 9728 metadata of the MCP endpoint: which authorization server issues its tokens and which "
                "scopes exist. Served at the path-inserted location (which the 401 challenge names) and at the "
                "root, which clients try next. Both answer JSON with an `ETag` and "
                "`Cache-Control: public, max-age=300`, and `Access-Control-Allow-Origin: *`."
            ),
        },
        {
            "name": "authorization-server",
            "x-displayName": "Discovery: authorization-server metadata",
            "x-page": "authorization-server-metadata",
            "description": (
                "RFC 8414 metadata of the authorization server. The issuer is the bare origin, identical in "
                "the protected-resource metadata's `authorization_servers`, in this document and in the "
                "`iss` of every authorization response (RFC 9207)."
            ),
        },
        {
            "name": "registration",
            "x-displayName": "Client registration",
            "x-page": "register",
            "description": (
                "Clients register in the order MCP prefers: pre-registered by an administrator (`/admin/`), "
                "a URL client id (Client ID Metadata Document: use the https URL of your client's metadata "
                "document as `client_id`, no registration call), or self-registration (RFC 7591) here. "
                "Self-registration is open, throttled per IP, and accepts `http` redirect URIs only on "
                "loopback addresses; any loopback port matches a registered loopback URI (RFC 8252 §7.3). "
                "A client that cannot keep a secret is public (`token_endpoint_auth_method: none`); one that "
                "holds a private key may authenticate with `private_key_jwt` (RFC 7523), in a URL client's "
                "metadata document as in a registration, giving its public keys as `jwks_uri` (https, fetched "
                "and cached for its max-age, refetched once for an unknown `kid`) or inline `jwks`: it then gets "
                "no secret and must sign an assertion at the token and revocation endpoints. A URL client may not "
                "use a shared secret. `application_type` (`native`, `web`) is stored and checked: `web` allows only "
                "https redirect URIs, `native` needs a loopback or private-use scheme one. `offline_access` is "
                "accepted in `scope` (refresh tokens are issued anyway)."
            ),
        },
        {
            "name": "registration-management",
            "x-displayName": "Client configuration (RFC 7592)",
            "x-page": "register-management",
            "description": (
                "Read, update or delete a self-registered client with the `registration_access_token` the "
                "registration response returned."
            ),
        },
        {
            "name": "authorize",
            "x-displayName": "Authorization endpoint",
            "x-page": "authorize",
            "description": (
                "Where the client sends the user's browser. PKCE with S256 is required, `resource` must be "
                f"`{mcp_url}` (or absent: tokens are always bound to it), and the user signs in and consents "
                "on this server's pages. The answer is a redirect to the client's `redirect_uri` with `code`, "
                "`state` and `iss`; errors that cannot safely go back to the client are shown to the user."
            ),
        },
        {
            "name": "token",
            "x-displayName": "Token endpoint",
            "x-page": "token",
            "description": (
                "Exchanges an authorization code (with the PKCE `code_verifier`) or a refresh token for an "
                f"access token bound to `{mcp_url}`. Refresh tokens rotate on every use; presenting a rotated "
                "one again revokes the whole family. Answers carry `Cache-Control: no-store`. "
                "A `private_key_jwt` client sends `client_assertion_type=urn:ietf:params:oauth:client-assertion-"
                "type:jwt-bearer` and a `client_assertion` it signed (RS256, PS256, ES256 or EdDSA) with "
                "`iss` = `sub` = its client id, `aud` = the issuer (or this token endpoint URL, nothing else), "
                "`exp` at most 5 minutes ahead, a `jti` never used before, and the `kid` of a key in its JWKS; "
                "each failed rule is a 401 `invalid_client` that names it. `offline_access` in `scope` is "
                "accepted and dropped."
            ),
        },
        {
            "name": "revoke",
            "x-displayName": "Revocation endpoint",
            "x-page": "revoke",
            "description": "RFC 7009 token revocation: revoke an access or refresh token when the user signs out. "
            "A client authenticates here as at the token endpoint (a `private_key_jwt` client with a new assertion).",
        },
        {
            "name": "mcp",
            "x-displayName": "MCP endpoint",
            "x-page": "mcp",
            "description": (
                "The Model Context Protocol endpoint (Streamable HTTP): one JSON-RPC request per POST, with "
                "`Authorization: Bearer <access token>` on every request. It speaks the stateless 2026-07-28 "
                "revision (`server/discover`, `Mcp-Method` and `Mcp-Name` headers, `_meta` on each request) "
                "and the 2025-xx revisions (`initialize`). Every request needs the scope "
                f"`{inputs.baseline_scope}`; some tools, resources and prompts need more, and calling them "
                "without it gets a 403 that names the scope to ask for (step-up)."
            ),
        },
    ]

    prm_operation = {
        "tags": ["discovery"],
        "summary": "Protected-resource metadata of the MCP endpoint",
        "operationId": "getProtectedResourceMetadata",
        "parameters": [{"$ref": "#/components/parameters/IfNoneMatch"}],
        "responses": {
            "200": {
                "description": "The metadata document.",
                "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                **json_body({"$ref": "#/components/schemas/ProtectedResourceMetadata"}, prm),
            },
            "304": {"description": "Not modified (the `If-None-Match` ETag matches)."},
        },
        "x-codeSamples": curl(f"curl -s {origin}{prm_path}"),
    }
    paths: dict[str, Any] = {
        prm_path: {"get": prm_operation},
        "/.well-known/oauth-protected-resource": {
            "get": {
                **prm_operation,
                "summary": "Protected-resource metadata (root location)",
                "description": "The same document at the root location, for clients that try it after the "
                "path-inserted one. Any other path under it is a JSON 404.",
                "operationId": "getProtectedResourceMetadataRoot",
                "x-codeSamples": curl(f"curl -s {origin}/.well-known/oauth-protected-resource"),
            }
        },
        "/.well-known/oauth-authorization-server": {
            "get": {
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
                        **json_body({"$ref": "#/components/schemas/AuthorizationServerMetadata"}, asm),
                    },
                    "304": {"description": "Not modified."},
                },
                "x-codeSamples": curl(f"curl -s {origin}/.well-known/oauth-authorization-server"),
            }
        },
        "/register": {
            "post": {
                "tags": ["registration"],
                "summary": "Register a client (RFC 7591)",
                "operationId": "registerClient",
                "requestBody": {
                    "required": True,
                    **json_body(
                        {"$ref": "#/components/schemas/ClientMetadata"},
                        {
                            "client_name": "My MCP client",
                            "redirect_uris": [redirect_uri],
                            "grant_types": ["authorization_code", "refresh_token"],
                            "response_types": ["code"],
                            "token_endpoint_auth_method": "none",
                            "application_type": "native",
                        },
                    ),
                },
                "responses": {
                    "201": json_body(
                        {"$ref": "#/components/schemas/ClientInformation"},
                        {
                            "client_id": "hQ3kq1v3ZJ8m0f2c7yEw1p4bY9xLrT5sNa6uVd0g",
                            "client_id_issued_at": 1767225600,
                            "client_name": "My MCP client",
                            "redirect_uris": [redirect_uri],
                            "grant_types": ["authorization_code", "refresh_token"],
                            "response_types": ["code"],
                            "token_endpoint_auth_method": "none",
                            "registration_access_token": "(secret: keep it to manage the client)",
                            "registration_client_uri": f"{origin}/register/hQ3kq1v3ZJ8m0f2c7yEw1p4bY9xLrT5sNa6uVd0g",
                        },
                        "Registered. A confidential client (`client_secret_basic` or `client_secret_post`) also "
                        "gets `client_secret` and `client_secret_expires_at`.",
                    ),
                    "400": oauth_error(
                        "The metadata is not acceptable.",
                        ("invalid_redirect_uri", "redirect_uris must be a non-empty array of URIs"),
                        ("invalid_client_metadata", "The request body must be a JSON object"),
                    ),
                    "429": {
                        "description": "Too many registrations from this address (REGISTRATION_RATE_LIMIT per "
                        "REGISTRATION_RATE_WINDOW seconds); retry after `Retry-After` seconds.",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                        "content": {JSON: {"schema": OAUTH_ERROR}},
                    },
                },
                "x-codeSamples": curl(
                    f"curl -s -X POST {origin}/register",
                    "-H 'Content-Type: application/json'",
                    '-d \'{"client_name":"My MCP client","redirect_uris":["' + redirect_uri + '"],'
                    '"token_endpoint_auth_method":"none"}\'',
                ),
            }
        },
        "/register/{client_id}": {
            "parameters": [
                {"name": "client_id", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            **{
                method: {
                    "tags": ["registration-management"],
                    "summary": summary,
                    "operationId": operation_id,
                    "security": [{"registrationAccessToken": []}],
                    **(
                        {
                            "requestBody": {
                                "required": True,
                                **json_body(
                                    {"$ref": "#/components/schemas/ClientMetadata"},
                                    {
                                        "client_name": "My MCP client (renamed)",
                                        "redirect_uris": [redirect_uri],
                                        "token_endpoint_auth_method": "none",
                                    },
                                ),  # fmt: skip
                            }
                        }
                        if method == "put"
                        else {}
                    ),
                    "responses": {
                        status: (
                            {"description": "Deleted."}
                            if status == "204"
                            else json_body({"$ref": "#/components/schemas/ClientInformation"}, None, "The client.")
                        ),
                        "401": oauth_error(
                            "Missing or wrong registration access token.",
                            ("invalid_token", "The registration access token is invalid"),
                        ),
                    },
                    "x-codeSamples": curl(
                        f"curl -s -X {method.upper()} {origin}/register/<client_id>",
                        "-H 'Authorization: Bearer <registration_access_token>'",
                        *(["-H 'Content-Type: application/json' -d @client.json"] if method == "put" else []),
                    ),
                }
                for method, summary, operation_id, status in (
                    ("get", "Read the client's registration", "readClient", "200"),
                    ("put", "Replace the client's metadata", "updateClient", "200"),
                    ("delete", "Delete the client", "deleteClient", "204"),
                )
            },
        },
        "/authorize": {
            "get": {
                "tags": ["authorize"],
                "summary": "Start an authorization (the user's browser goes here)",
                "operationId": "authorize",
                "parameters": [
                    query("response_type", "Always `code`.", True, enum=["code"]),
                    query("client_id", "The registered client id, or the https URL of a client metadata document."),
                    query("redirect_uri", "One of the client's redirect URIs (any port for a loopback one)."),
                    query(
                        "scope",
                        f"Space-separated scopes, e.g. `{scope_list}`; `offline_access` is accepted and has no "
                        "other effect (refresh tokens are always issued).",
                        required=False,
                    ),
                    query("state", "Opaque value returned unchanged; use it against CSRF.", required=False),
                    query("code_challenge", "BASE64URL(SHA-256(code_verifier)), 43 characters."),
                    query("code_challenge_method", "Must be `S256`.", enum=["S256"]),
                    query("resource", f"The MCP endpoint, `{mcp_url}` (RFC 8707).", required=False),
                ],
                "responses": {
                    "302": {
                        "description": "To the login page first if the user is not signed in, then (after consent) "
                        "to `redirect_uri` with `code`, `state` and `iss`, or with `error`, `error_description`, "
                        "`state` and `iss` (e.g. `access_denied` when the user declines, `invalid_target` for "
                        "another `resource`, `invalid_request` without PKCE S256).",
                        "headers": {
                            "Location": {
                                "schema": {"type": "string"},
                                "example": f"{redirect_uri}?code=Xq2w9Lk0…&state=af0ifjsldkj&iss={origin}",
                            }
                        },
                    },
                    "200": {"description": "The login or consent page (HTML)."},
                    "400": {
                        "description": "An error page for the user, not a redirect, when the client or the "
                        "redirect URI cannot be trusted (unknown `client_id`, unregistered `redirect_uri`). A "
                        "request without `Accept: text/html` gets the same error as JSON.",
                        "content": {
                            JSON: {
                                "schema": OAUTH_ERROR,
                                "example": {
                                    "error": "invalid_request",
                                    "error_description": "Mismatching redirect URI.",
                                },
                            }
                        },  # fmt: skip
                    },
                },
                "x-codeSamples": curl(
                    f"open '{origin}/authorize?response_type=code&client_id=<client_id>"
                    f"&redirect_uri={redirect_uri}&scope={inputs.baseline_scope}&state=<state>"
                    f"&code_challenge=<S256 challenge>&code_challenge_method=S256&resource={mcp_url}'"
                ),
            }
        },
        "/token": {
            "post": {
                "tags": ["token"],
                "summary": "Exchange a code or a refresh token for tokens",
                "operationId": "token",
                "requestBody": {
                    "required": True,
                    "content": {
                        FORM: {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/AuthorizationCodeGrant"},
                                    {"$ref": "#/components/schemas/RefreshTokenGrant"},
                                ]
                            },
                            "example": {
                                "grant_type": "authorization_code",
                                "code": "<code>",
                                "redirect_uri": redirect_uri,
                                "client_id": "<client_id>",
                                "code_verifier": "<code_verifier>",
                                "resource": mcp_url,
                            },
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The tokens.",
                        "headers": {"Cache-Control": {"schema": {"type": "string"}, "example": "no-store"}},
                        **json_body(
                            {"$ref": "#/components/schemas/TokenResponse"},
                            {
                                "access_token": "<access token>",
                                "expires_in": inputs.access_token_lifetime,
                                "token_type": "Bearer",
                                "scope": inputs.baseline_scope,
                                "refresh_token": "<refresh token>",
                            },
                        ),
                    },
                    "400": oauth_error(
                        "The grant is invalid.",
                        ("invalid_grant", "Invalid code, verifier, redirect URI, or a used or revoked refresh token"),
                        ("invalid_request", "A required parameter is missing"),
                        ("invalid_target", f"This server issues tokens only for {mcp_url}"),
                        ("unsupported_grant_type", "Only authorization_code and refresh_token"),
                    ),
                    "401": oauth_error(
                        "The client failed to authenticate; the description names the rule it broke.",
                        ("invalid_client", "Client authentication failed"),
                        ("invalid_client", "The client_assertion has expired (its exp is in the past)"),
                        (
                            "invalid_client",
                            "This client_assertion was used before (its jti is recorded): sign a new one",
                        ),
                    ),
                },
                "x-codeSamples": curl(
                    f"curl -s -X POST {origin}/token",
                    "-d grant_type=authorization_code -d code=<code>",
                    f"-d redirect_uri={redirect_uri}",
                    "-d client_id=<client_id> -d code_verifier=<code_verifier>",
                    f"-d resource={mcp_url}",
                ),
            }
        },
        "/revoke": {
            "post": {
                "tags": ["revoke"],
                "summary": "Revoke a token (RFC 7009)",
                "operationId": "revoke",
                "requestBody": {
                    "required": True,
                    "content": {
                        FORM: {
                            "schema": {"$ref": "#/components/schemas/RevocationRequest"},
                            "example": {
                                "token": "<refresh token>",
                                "token_type_hint": "refresh_token",
                                "client_id": "<client_id>",
                            },
                        }
                    },
                },  # fmt: skip
                "responses": {
                    "200": {"description": "Revoked (also for a token that was unknown or already revoked)."},
                    "400": oauth_error("The request is malformed.", ("invalid_request", "Missing token parameter.")),
                    "401": oauth_error("The client failed to authenticate.", ("invalid_client", "Invalid client")),
                },
                "x-codeSamples": curl(
                    f"curl -s -X POST {origin}/revoke",
                    "-d token=<refresh token> -d token_type_hint=refresh_token -d client_id=<client_id>",
                ),
            }
        },
        inputs.mcp_path: {
            "post": {
                "tags": ["mcp"],
                "summary": "One MCP JSON-RPC request",
                "operationId": "mcp",
                "security": [{"oauth2": [inputs.baseline_scope]}],
                "parameters": [
                    header("MCP-Protocol-Version", "e.g. `2026-07-28`, `2025-11-25`, `2025-06-18`."),
                    header("Mcp-Method", "2026-07-28: the JSON-RPC method, e.g. `tools/call`.", required=False),
                    header("Mcp-Name", "2026-07-28: the tool, prompt or resource named in `params`.", required=False),
                ],
                "requestBody": {
                    "required": True,
                    **json_body(
                        {"$ref": "#/components/schemas/JsonRpcRequest"},
                        {
                            "jsonrpc": "2.0",
                            "id": 1,
                            "method": "tools/call",
                            "params": {
                                "name": "whoami",
                                "arguments": {},
                                "_meta": {
                                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                    "io.modelcontextprotocol/clientCapabilities": {},
                                },
                            },
                        },
                    ),
                },
                "responses": {
                    "200": {
                        "description": "The JSON-RPC response: one JSON body for requests that cannot produce "
                        "notifications (the list methods, `initialize`, `ping`, tools that never report progress or "
                        "log), otherwise a short `text/event-stream` (the tool's progress and log notifications, "
                        "then the response). Tool failures are results with `isError: true`. A tool that asks "
                        "the person (a note's deletion asks to confirm), the client's model or its roots answers a "
                        '2026-07-28 call with `resultType: "input_required"`, its `inputRequests` and a sealed '
                        "`requestState`: call again with `inputResponses` and that `requestState` (any server of "
                        "the deployment takes it, once, within ten minutes). In a 2025-xx session the question "
                        "comes as a request in the middle of the call instead.",
                        "content": {
                            JSON: {"schema": {"$ref": "#/components/schemas/JsonRpcResponse"}},
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    "202": {"description": "A notification was accepted (no body)."},
                    "400": {
                        "description": "A JSON-RPC error: parse error, bad `_meta`, headers that disagree with the "
                        "body (-32020), a tool that needs a client capability the request did not declare (-32021, "
                        "`data.requiredCapabilities`), an unsupported protocol version (-32022), or a "
                        "`requestState` that was changed, has expired or was already answered (-32602).",
                        "content": {JSON: {"schema": {"$ref": "#/components/schemas/JsonRpcResponse"}}},
                    },
                    "401": {
                        "description": "No token, or a token that is invalid, expired, revoked or for another "
                        "resource. Discovery starts here: the challenge names the metadata and the scope.",
                        "headers": {
                            "WWW-Authenticate": {
                                "schema": {"type": "string"},
                                "examples": {
                                    "no token": {"value": inputs.challenge_401},
                                    "invalid token": {"value": inputs.challenge_invalid},
                                },
                            }
                        },
                        "content": {JSON: {"schema": OAUTH_ERROR}},
                    },
                    "403": {
                        "description": "The token lacks a scope this request needs (step-up: authorize again with "
                        "the scopes of the challenge), or the `Origin`/`Host` is not allowed (DNS rebinding).",
                        "headers": {
                            "WWW-Authenticate": {"schema": {"type": "string"}, "example": inputs.challenge_403}
                        },
                        "content": {JSON: {"schema": OAUTH_ERROR}},
                    },
                    "405": {"description": "GET (no server stream in the stateless mode) or another method."},
                    "413": {"description": "The body is larger than MCP_MAX_BODY_BYTES."},
                    "503": {
                        "description": "The database is unreachable; retry after `Retry-After` seconds.",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    },
                },
                "x-codeSamples": curl(
                    f"curl -s -X POST {mcp_url}",
                    "-H 'Authorization: Bearer <access token>'",
                    "-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'",
                    "-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: whoami'",
                    '-d \'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami",'
                    '"arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
                    '"io.modelcontextprotocol/clientCapabilities":{}}}}\'',
                ),
                "x-mcp-tools": inputs.tools,
                "x-mcp-resources": inputs.resources,
                "x-mcp-prompts": inputs.prompts,
                "x-step-up-example": {"tool": inputs.write_tool, "scope": write_scope},
            }
        },
    }

    return {
        "openapi": "3.1.0",
        "info": {
            "title": prm.get("resource_name") or "MCP server",
            "version": inputs.server_version,
            "summary": "An OAuth 2.1 authorization server and an MCP resource server in one deployment.",
            "description": (
                "Everything an MCP client needs is discoverable from one URL, the MCP endpoint "
                f"`{mcp_url}`: a request without a token gets a 401 whose `WWW-Authenticate` names the "
                "protected-resource metadata, which names the authorization server, whose metadata lists "
                "the endpoints below."
            ),
        },
        "servers": [{"url": origin}],
        "tags": tags,
        "paths": paths,
        "components": components(inputs, asm),
    }


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


def query(name: str, description: str, required: bool = True, enum: list[str] | None = None) -> dict:
    schema: dict[str, Any] = {"type": "string"}
    if enum:
        schema["enum"] = enum
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def header(name: str, description: str, required: bool = True) -> dict:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": {"type": "string"}}  # fmt: skip


def string_array() -> dict:
    return {"type": "array", "items": {"type": "string"}}


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


# --- Inputs from this process ------------------------------------------------------------------------
def documented(app_label: str | None) -> bool:
    """Whether an app's tools belong in the docs (the conformance fixtures are a test switch)."""
    from django.apps import apps

    return app_label is None or getattr(apps.get_app_config(app_label), "mcp_in_docs", True)


def declared_capabilities() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The tools, resources and prompts the apps declare (mcpserver's registry), as documented."""
    from mcpserver.registry import registry

    shown = [d for d in registry.declarations if documented(d.app_label)]
    tools = [
        {"name": d.name, "description": d.description, "scope": d.scope, "read_only": d.read_only}
        for d in shown
        if d.kind == "tool"
    ]
    resources = [
        {
            "uri": d.uri,
            "name": d.name,
            "description": d.description,
            "scope": d.scope,
            "mime_type": d.options.get("mime_type", "text/plain"),
        }
        for d in shown
        if d.kind == "resource"
    ]
    prompts = [{"name": d.name, "description": d.description, "scope": d.scope} for d in shown if d.kind == "prompt"]
    return tools, resources, prompts


def live_inputs() -> Inputs:
    """The inputs as this deployment has them: metadata from the live views, challenges from the
    bearer gate, scopes and tools from the registry the apps declare them in."""
    from django.conf import settings
    from django.test import RequestFactory
    from django.urls import resolve

    from common.scopes import BASELINE
    from common.scopes import registry as declared_scopes
    from mcpserver import gate

    factory = RequestFactory()
    secure = settings.PUBLIC_URL_IS_HTTPS

    def fetch(path: str) -> dict[str, Any]:
        request = factory.get(path, HTTP_HOST=settings.PUBLIC_HOST, secure=secure)
        return json.loads(resolve(path).func(request).content)

    tools, resources, prompts = declared_capabilities()
    default_scope = " ".join(declared_scopes.defaults())
    write_tool = next((tool for tool in tools if tool["scope"] not in declared_scopes.defaults()), None)
    write_name = write_tool["name"] if write_tool else ""
    needed = " ".join(sorted({BASELINE, write_tool["scope"]})) if write_tool else BASELINE
    return Inputs(
        origin=settings.PUBLIC_URL,
        mcp_path=settings.MCP_PATH,
        protected_resource_metadata=fetch("/.well-known/oauth-protected-resource"),
        authorization_server_metadata=fetch("/.well-known/oauth-authorization-server"),
        scopes=declared_scopes.descriptions(),
        baseline_scope=BASELINE,
        tools=tools,
        resources=resources,
        prompts=prompts,
        challenge_401=gate.challenge(scope=default_scope),
        challenge_invalid=gate.challenge("invalid_token", "The access token is unknown or revoked", default_scope),
        challenge_403=gate.challenge(
            "insufficient_scope", f"{write_name} requires the scope {write_tool['scope'] if write_tool else ''}", needed
        ),
        write_tool=write_name,
        access_token_lifetime=settings.ACCESS_TOKEN_LIFETIME,
        server_version=settings.MCP_SERVER_VERSION,
    )


def for_origin(inputs: Inputs, origin: str) -> Inputs:
    """The same inputs, as a deployment at another origin would have them."""
    fields = {name: getattr(inputs, name) for name in Inputs.__dataclass_fields__}
    return Inputs(**rebase(fields, inputs.origin, origin))


@lru_cache(maxsize=1)
def live_openapi() -> dict[str, Any]:
    return build_openapi(live_inputs())


def example_openapi() -> dict[str, Any]:
    """The document of a deployment at EXAMPLE_ORIGIN: what the committed docs are made from."""
    return build_openapi(for_origin(live_inputs(), EXAMPLE_ORIGIN))
