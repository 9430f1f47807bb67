"""Client registration (RFC 7591) and the management of a registered client (RFC 7592)."""

from __future__ import annotations

from typing import Any

from .inputs import Inputs
from .parts import JSON, OAUTH_ERROR, REDIRECT_URI, Section, curl, json_body, oauth_error

EXAMPLE_CLIENT_ID = "hQ3kq1v3ZJ8m0f2c7yEw1p4bY9xLrT5sNa6uVd0g"
CLIENT_METADATA = {"$ref": "#/components/schemas/ClientMetadata"}
CLIENT_INFORMATION = {"$ref": "#/components/schemas/ClientInformation"}


def registration(inputs: Inputs) -> Section:
    description = (
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
    )
    operation = {
        "tags": ["registration"],
        "summary": "Register a client (RFC 7591)",
        "operationId": "registerClient",
        "requestBody": {
            "required": True,
            **json_body(
                CLIENT_METADATA,
                {
                    "client_name": "My MCP client",
                    "redirect_uris": [REDIRECT_URI],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "response_types": ["code"],
                    "token_endpoint_auth_method": "none",
                    "application_type": "native",
                },
            ),
        },
        "responses": registration_responses(inputs),
        "x-codeSamples": curl(
            f"curl -s -X POST {inputs.origin}/register",
            "-H 'Content-Type: application/json'",
            '-d \'{"client_name":"My MCP client","redirect_uris":["' + REDIRECT_URI + '"],'
            '"token_endpoint_auth_method":"none"}\'',
        ),
    }
    return Section("registration", "Client registration", "register", description, {"/register": {"post": operation}})


def registration_responses(inputs: Inputs) -> dict[str, Any]:
    return {
        "201": json_body(
            CLIENT_INFORMATION,
            {
                "client_id": EXAMPLE_CLIENT_ID,
                "client_id_issued_at": 1767225600,
                "client_name": "My MCP client",
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
                "registration_access_token": "(secret: keep it to manage the client)",
                "registration_client_uri": f"{inputs.origin}/register/{EXAMPLE_CLIENT_ID}",
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
    }


def registration_management(inputs: Inputs) -> Section:
    description = (
        "Read, update or delete a self-registered client with the `registration_access_token` the "
        "registration response returned."
    )
    path = {
        "parameters": [
            {"name": "client_id", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        **{
            method: management_operation(inputs.origin, method, summary, operation_id, status)
            for method, summary, operation_id, status in (
                ("get", "Read the client's registration", "readClient", "200"),
                ("put", "Replace the client's metadata", "updateClient", "200"),
                ("delete", "Delete the client", "deleteClient", "204"),
            )
        },
    }
    return Section(
        "registration-management",
        "Client configuration (RFC 7592)",
        "register-management",
        description,
        {"/register/{client_id}": path},
    )


def management_operation(origin: str, method: str, summary: str, operation_id: str, status: str) -> dict[str, Any]:
    """GET, PUT or DELETE of `/register/{client_id}`, with the registration access token."""
    replacement = {
        "client_name": "My MCP client (renamed)",
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
    }
    return {
        "tags": ["registration-management"],
        "summary": summary,
        "operationId": operation_id,
        "security": [{"registrationAccessToken": []}],
        **({"requestBody": {"required": True, **json_body(CLIENT_METADATA, replacement)}} if method == "put" else {}),
        "responses": {
            status: (
                {"description": "Deleted."} if status == "204" else json_body(CLIENT_INFORMATION, None, "The client.")
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
