"""Every check of the doctor, as one table: id, title, the function that judges (in the module of
its part of the chain) and the fix. The order is the order of the report."""

from __future__ import annotations

from .browsers import (
    check_cors_mcp,
    check_json_answers,
    cors_for,
)
from .challenge import (
    check_challenge_header,
    check_challenge_no_error,
    check_challenge_resource_metadata,
    check_challenge_scope,
    check_challenge_status,
    check_https,
    check_invalid_token,
)
from .findings import Check
from .resource_metadata import (
    check_prm_authorization_servers,
    check_prm_found,
    check_prm_header_url,
    check_prm_path_inserted,
    check_prm_resource,
    check_prm_root,
    check_prm_scopes,
)
from .server_metadata import (
    asm_location_check,
    check_asm_cimd,
    check_asm_dcr,
    check_asm_fields,
    check_asm_found,
    check_asm_grant_types,
    check_asm_iss,
    check_asm_issuer,
    check_asm_issuer_path,
    check_asm_offline_access,
    check_asm_pkce,
    check_asm_private_key_jwt,
    check_asm_registration,
    check_asm_scopes,
)

CHECKS: tuple[Check, ...] = (
    Check("mcp.https", "The MCP URL uses TLS", check_https, "Serve the MCP endpoint over https (TLS at the proxy)."),
    Check(
        "challenge.status",
        "A request without a token gets 401",
        check_challenge_status,
        "Answer every unauthenticated MCP request with 401 (not 200, 302 or 403).",
    ),
    Check(
        "challenge.header",
        "The 401 carries a Bearer WWW-Authenticate",
        check_challenge_header,
        'Send `WWW-Authenticate: Bearer resource_metadata="<PRM URL>", scope="<scopes>"` with the 401.',
    ),
    Check(
        "challenge.resource_metadata",
        "The challenge points at the protected-resource metadata",
        check_challenge_resource_metadata,
        'Add resource_metadata="https://host/.well-known/oauth-protected-resource/<mcp path>" to the challenge.',
    ),
    Check(
        "challenge.scope",
        "The challenge names the scope to request",
        check_challenge_scope,
        'Add scope="<the scopes a basic session needs>" to the challenge (MCP scope selection, step 1).',
    ),
    Check(
        "challenge.no_error",
        "No error code when no token was sent",
        check_challenge_no_error,
        'Leave error= out when the request had no credentials; use error="invalid_token" for bad ones.',
    ),
    Check(
        "challenge.invalid_token",
        "An invalid token gets 401 invalid_token",
        check_invalid_token,
        'Answer a bad or expired token with 401 and error="invalid_token", so clients refresh or re-authorize.',
    ),
    Check(
        "prm.header_url",
        "The challenge's metadata URL serves the document",
        check_prm_header_url,
        "Serve the protected-resource metadata as JSON at the URL the challenge names.",
    ),
    Check(
        "prm.path_inserted",
        "Protected-resource metadata at the path-inserted well-known URL",
        check_prm_path_inserted,
        "Serve the document at /.well-known/oauth-protected-resource<mcp path> (RFC 9728 §3.1) as JSON; a SPA "
        "fallback must never answer well-known URLs with HTML.",
    ),
    Check(
        "prm.root",
        "Protected-resource metadata at the root well-known URL",
        check_prm_root,
        "Serve the document (or a JSON 404) at /.well-known/oauth-protected-resource; never HTML.",
    ),
    Check(
        "prm.found",
        "Clients find the protected-resource metadata",
        check_prm_found,
        "Publish RFC 9728 metadata: {resource, authorization_servers:[issuer], scopes_supported}.",
    ),
    Check(
        "prm.resource",
        "resource is exactly the URL dialled",
        check_prm_resource,
        "Set resource to the exact MCP URL (scheme, host, port, path; no trailing slash) in every copy; behind a "
        "proxy derive it from the public URL, not the internal one.",
    ),
    Check(
        "prm.authorization_servers",
        "authorization_servers names the issuer",
        check_prm_authorization_servers,
        "List the issuer identifier(s) exactly as the AS metadata's issuer reads; clients use the first.",
    ),
    Check(
        "prm.scopes_supported",
        "scopes_supported is the minimal set",
        check_prm_scopes,
        "List the scopes a client needs (without offline_access) in scopes_supported.",
    ),
    Check(
        "asm.found",
        "Clients find the authorization-server metadata",
        check_asm_found,
        "Publish RFC 8414 metadata at /.well-known/oauth-authorization-server (path-inserted for an issuer with a "
        "path) or OpenID discovery at /.well-known/openid-configuration.",
    ),
    Check(
        "asm.rfc8414",
        "RFC 8414 location answers with JSON",
        asm_location_check("rfc8414"),
        "Serve /.well-known/oauth-authorization-server[/<issuer path>] as JSON, or a JSON 404; never HTML or a 5xx.",
    ),
    Check(
        "asm.oidc",
        "OpenID discovery locations answer cleanly",
        asm_location_check("oidc"),
        "Serve /.well-known/openid-configuration as JSON or a clean 404; never an HTML page or a 5xx.",
    ),
    Check(
        "asm.issuer",
        "issuer equals the authorization_servers entry",
        check_asm_issuer,
        "Make the metadata's issuer byte-for-byte the authorization_servers entry (watch trailing slashes).",
    ),
    Check(
        "asm.issuer_path",
        "The issuer has no path",
        check_asm_issuer_path,
        "Use the bare origin as the issuer, or also serve the metadata at the root RFC 8414 URL.",
    ),
    Check(
        "asm.fields",
        "Required metadata fields",
        check_asm_fields,
        'Include issuer, authorization_endpoint, token_endpoint and response_types_supported ["code"]; https URLs.',
    ),
    Check(
        "asm.pkce",
        "PKCE S256 is advertised",
        check_asm_pkce,
        'Advertise code_challenge_methods_supported: ["S256"] (and require PKCE).',
    ),
    Check(
        "asm.registration",
        "Clients can register themselves",
        check_asm_registration,
        "Offer CIMD (client_id_metadata_document_supported) and/or dynamic registration (registration_endpoint).",
    ),
    Check(
        "asm.cimd",
        "URL client ids (CIMD)",
        check_asm_cimd,
        'Support Client ID Metadata Documents and advertise client_id_metadata_document_supported: true with "none".',
    ),
    Check(
        "asm.dcr",
        "Dynamic client registration (RFC 7591)",
        check_asm_dcr,
        'Offer a registration_endpoint accepting public clients (token_endpoint_auth_method "none").',
    ),
    Check(
        "asm.private_key_jwt",
        "URL client ids may sign (private_key_jwt)",
        check_asm_private_key_jwt,
        "Accept RFC 7523 private_key_jwt for URL client ids whose document declares it (keys from jwks_uri or "
        'jwks), and list it with token_endpoint_auth_signing_alg_values_supported ["RS256", ...]; or stop '
        "advertising client_id_metadata_document_supported.",
    ),
    Check(
        "asm.scopes",
        "The authorization server lists the resource's scopes",
        check_asm_scopes,
        "List every scope of the protected resource in the authorization server's scopes_supported.",
    ),
    Check(
        "asm.offline_access",
        "offline_access is accepted",
        check_asm_offline_access,
        "Accept offline_access in authorization requests (refresh tokens are issued anyway) and list it in the "
        "authorization server's scopes_supported, never in the protected-resource metadata.",
    ),
    Check(
        "asm.iss",
        "RFC 9207 iss in authorization responses",
        check_asm_iss,
        "Send iss on every authorization response and advertise authorization_response_iss_parameter_supported.",
    ),
    Check(
        "asm.grant_types",
        "Authorization code and refresh grants",
        check_asm_grant_types,
        'Advertise grant_types_supported: ["authorization_code", "refresh_token"].',
    ),
    Check(
        "cors.prm",
        "Browsers may read the protected-resource metadata",
        cors_for(lambda p: list(dict.fromkeys(p.prm_urls)), "GET", "mcp-protocol-version", "resource metadata"),
        "Answer the metadata and its preflight with Access-Control-Allow-Origin: * and allow MCP-Protocol-Version.",
    ),
    Check(
        "cors.asm",
        "Browsers may read the authorization-server metadata",
        cors_for(
            lambda p: [p.asm_found[0]] if p.asm_found else [],
            "GET",
            "mcp-protocol-version",
            "authorization-server metadata",
        ),  # fmt: skip
        "Answer the metadata and its preflight with Access-Control-Allow-Origin: * and allow MCP-Protocol-Version.",
    ),
    Check(
        "cors.oauth",
        "Browsers may call the token and registration endpoints",
        cors_for(
            lambda p: [p.asm.get("token_endpoint"), p.asm.get("registration_endpoint")] if p.asm else [],
            "POST",
            "content-type",
            "token and registration endpoints",
        ),
        "Allow cross-origin POSTs (no credentials) to /token and /register: the MCP Inspector calls them from a page.",
    ),
    Check(
        "cors.mcp",
        "Browsers may read the MCP endpoint's challenge",
        check_cors_mcp,
        "Allow the browser clients' origins on the MCP endpoint and expose WWW-Authenticate.",
    ),
    Check(
        "http.json",
        "Discovery answers are JSON, never HTML or redirects",
        check_json_answers,
        "Route every /.well-known/ URL to JSON handlers (a JSON 404 for unknown ones), before any SPA fallback.",
    ),
)
