"""The OAuth endpoints of the authorization code flow: `/authorize` (the user's browser), `/token`
(code and refresh token for tokens) and `/revoke` (RFC 7009)."""

from __future__ import annotations

from typing import Any

from .inputs import Inputs
from .parts import FORM, JSON, OAUTH_ERROR, REDIRECT_URI, Section, curl, json_body, oauth_error, query


def authorize(inputs: Inputs) -> Section:
    origin, mcp_url = inputs.origin, inputs.mcp_url
    description = (
        "Where the client sends the user's browser. PKCE with S256 is required, `resource` must be "
        f"`{mcp_url}` (or absent: tokens are always bound to it), and the user signs in and consents "
        "on this server's pages. The answer is a redirect to the client's `redirect_uri` with `code`, "
        "`state` and `iss`; errors that cannot safely go back to the client are shown to the user."
    )
    operation = {
        "tags": ["authorize"],
        "summary": "Start an authorization (the user's browser goes here)",
        "operationId": "authorize",
        "parameters": [
            query("response_type", "Always `code`.", True, enum=["code"]),
            query("client_id", "The registered client id, or the https URL of a client metadata document."),
            query("redirect_uri", "One of the client's redirect URIs (any port for a loopback one)."),
            query(
                "scope",
                f"Space-separated scopes, e.g. `{' '.join(inputs.scopes)}`; `offline_access` is accepted and has "
                "no other effect (refresh tokens are always issued).",
                required=False,
            ),
            query("state", "Opaque value returned unchanged; use it against CSRF.", required=False),
            query("code_challenge", "BASE64URL(SHA-256(code_verifier)), 43 characters."),
            query("code_challenge_method", "Must be `S256`.", enum=["S256"]),
            query("resource", f"The MCP endpoint, `{mcp_url}` (RFC 8707).", required=False),
        ],
        "responses": authorize_responses(origin),
        "x-codeSamples": curl(
            f"open '{origin}/authorize?response_type=code&client_id=<client_id>"
            f"&redirect_uri={REDIRECT_URI}&scope={inputs.baseline_scope}&state=<state>"
            f"&code_challenge=<S256 challenge>&code_challenge_method=S256&resource={mcp_url}'"
        ),
    }
    return Section("authorize", "Authorization endpoint", "authorize", description, {"/authorize": {"get": operation}})


def authorize_responses(origin: str) -> dict[str, Any]:
    return {
        "302": {
            "description": "To the login page first if the user is not signed in, then (after consent) "
            "to `redirect_uri` with `code`, `state` and `iss`, or with `error`, `error_description`, "
            "`state` and `iss` (e.g. `access_denied` when the user declines, `invalid_target` for "
            "another `resource`, `invalid_request` without PKCE S256).",
            "headers": {
                "Location": {
                    "schema": {"type": "string"},
                    "example": f"{REDIRECT_URI}?code=Xq2w9Lk0…&state=af0ifjsldkj&iss={origin}",
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
                    "example": {"error": "invalid_request", "error_description": "Mismatching redirect URI."},
                }
            },
        },
    }


def token(inputs: Inputs) -> Section:
    mcp_url = inputs.mcp_url
    description = (
        "Exchanges an authorization code (with the PKCE `code_verifier`) or a refresh token for an "
        f"access token bound to `{mcp_url}`. Refresh tokens rotate on every use; presenting a rotated "
        "one again revokes the whole family. Answers carry `Cache-Control: no-store`. "
        "A `private_key_jwt` client sends `client_assertion_type=urn:ietf:params:oauth:client-assertion-"
        "type:jwt-bearer` and a `client_assertion` it signed (RS256, PS256, ES256 or EdDSA) with "
        "`iss` = `sub` = its client id, `aud` = the issuer (or this token endpoint URL, nothing else), "
        "`exp` at most 5 minutes ahead, a `jti` never used before, and the `kid` of a key in its JWKS; "
        "each failed rule is a 401 `invalid_client` that names it. `offline_access` in `scope` is "
        "accepted and dropped."
    )
    grant = {
        "grant_type": "authorization_code",
        "code": "<code>",
        "redirect_uri": REDIRECT_URI,
        "client_id": "<client_id>",
        "code_verifier": "<code_verifier>",
        "resource": mcp_url,
    }
    grants = {"oneOf": [{"$ref": "#/components/schemas/AuthorizationCodeGrant"},
                        {"$ref": "#/components/schemas/RefreshTokenGrant"}]}  # fmt: skip
    operation = {
        "tags": ["token"],
        "summary": "Exchange a code or a refresh token for tokens",
        "operationId": "token",
        "requestBody": {"required": True, "content": {FORM: {"schema": grants, "example": grant}}},
        "responses": token_responses(inputs),
        "x-codeSamples": curl(
            f"curl -s -X POST {inputs.origin}/token",
            "-d grant_type=authorization_code -d code=<code>",
            f"-d redirect_uri={REDIRECT_URI}",
            "-d client_id=<client_id> -d code_verifier=<code_verifier>",
            f"-d resource={mcp_url}",
        ),
    }
    return Section("token", "Token endpoint", "token", description, {"/token": {"post": operation}})


def token_responses(inputs: Inputs) -> dict[str, Any]:
    tokens = {
        "access_token": "<access token>",
        "expires_in": inputs.access_token_lifetime,
        "token_type": "Bearer",
        "scope": inputs.baseline_scope,
        "refresh_token": "<refresh token>",
    }
    return {
        "200": {
            "description": "The tokens.",
            "headers": {"Cache-Control": {"schema": {"type": "string"}, "example": "no-store"}},
            **json_body({"$ref": "#/components/schemas/TokenResponse"}, tokens),
        },
        "400": oauth_error(
            "The grant is invalid.",
            ("invalid_grant", "Invalid code, verifier, redirect URI, or a used or revoked refresh token"),
            ("invalid_request", "A required parameter is missing"),
            ("invalid_target", f"This server issues tokens only for {inputs.mcp_url}"),
            ("unsupported_grant_type", "Only authorization_code and refresh_token"),
        ),
        "401": oauth_error(
            "The client failed to authenticate; the description names the rule it broke.",
            ("invalid_client", "Client authentication failed"),
            ("invalid_client", "The client_assertion has expired (its exp is in the past)"),
            ("invalid_client", "This client_assertion was used before (its jti is recorded): sign a new one"),
        ),
    }


def revoke(inputs: Inputs) -> Section:
    description = (
        "RFC 7009 token revocation: revoke an access or refresh token when the user signs out. "
        "A client authenticates here as at the token endpoint (a `private_key_jwt` client with a new assertion)."
    )
    request = {"token": "<refresh token>", "token_type_hint": "refresh_token", "client_id": "<client_id>"}
    operation = {
        "tags": ["revoke"],
        "summary": "Revoke a token (RFC 7009)",
        "operationId": "revoke",
        "requestBody": {
            "required": True,
            "content": {FORM: {"schema": {"$ref": "#/components/schemas/RevocationRequest"}, "example": request}},
        },
        "responses": {
            "200": {"description": "Revoked (also for a token that was unknown or already revoked)."},
            "400": oauth_error("The request is malformed.", ("invalid_request", "Missing token parameter.")),
            "401": oauth_error("The client failed to authenticate.", ("invalid_client", "Invalid client")),
        },
        "x-codeSamples": curl(
            f"curl -s -X POST {inputs.origin}/revoke",
            "-d token=<refresh token> -d token_type_hint=refresh_token -d client_id=<client_id>",
        ),
    }
    return Section("revoke", "Revocation endpoint", "revoke", description, {"/revoke": {"post": operation}})
