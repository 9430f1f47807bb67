"""The discovery documents, field by field: RFC 8414 authorization-server metadata and RFC 9728
protected-resource metadata, with their CORS, caching and JSON-only behaviour."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

ORIGIN = "http://127.0.0.1:8000"  # PUBLIC_URL's default in the test environment
AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"]
SIGNING_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


@pytest.fixture(autouse=True)
def default_origin() -> None:
    assert settings.PUBLIC_URL == ORIGIN, "run the suite without PUBLIC_URL set"


def test_authorization_server_metadata_field_by_field(client: Client) -> None:
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "issuer": ORIGIN,
        "authorization_endpoint": f"{ORIGIN}/authorize",
        "token_endpoint": f"{ORIGIN}/token",
        "revocation_endpoint": f"{ORIGIN}/revoke",
        "registration_endpoint": f"{ORIGIN}/register",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        # offline_access: the authorization server's own scope (SEP-2207), never the resource's.
        "scopes_supported": ["mcp:read", "mcp:write", "offline_access"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
        "client_id_metadata_document_supported": True,
        "authorization_response_iss_parameter_supported": True,
    }


@pytest.mark.parametrize("path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"])
def test_protected_resource_metadata_field_by_field(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "resource": f"{ORIGIN}/mcp",
        "authorization_servers": [ORIGIN],
        "scopes_supported": ["mcp:read", "mcp:write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Notes MCP server",
        "resource_documentation": f"{ORIGIN}/docs/",
    }


def test_prm_scopes_come_from_the_declared_scopes() -> None:
    from mcpserver.registry import scope_rules

    rules = scope_rules()
    assert rules.named[("tools/call", "create_note")] == {"mcp:read", "mcp:write"}
    assert rules.named[("tools/call", "delete_note")] == {"mcp:read", "mcp:write"}
    assert rules.declared == {"mcp:read", "mcp:write"}


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
        "/",  # the issuer URL answers its metadata to programs (frontpage/views.py)
    ],
)
def test_discovery_documents_are_cacheable_and_open_to_browsers(client: Client, path: str) -> None:
    first = client.get(path, HTTP_ORIGIN="https://inspector.example")
    assert first["Access-Control-Allow-Origin"] == "*"
    assert first["Cache-Control"] == "public, max-age=300"
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34

    again = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again["ETag"] == etag
    assert again.content == b""

    preflight = client.options(
        path,
        HTTP_ORIGIN="https://inspector.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="mcp-protocol-version",
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "mcp-protocol-version" in preflight["Access-Control-Allow-Headers"]


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-authorization-server/",
        "/.well-known/oauth-authorization-server/mcp",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-protected-resource/other",
        "/.well-known/nothing-here",
    ],
)
def test_unknown_well_known_urls_answer_json_404_never_html(client: Client, path: str) -> None:
    response = client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response.json() == {"error": "not_found", "error_description": f"There is nothing at {path}"}


def test_wrong_method_on_metadata_is_a_json_405(client: Client) -> None:
    response = client.post("/.well-known/oauth-authorization-server", data="{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid_request"
    assert "GET" in response["Allow"]


def test_cors_is_limited_to_discovery_and_oauth_endpoints(client: Client) -> None:
    preflight = {
        "HTTP_ORIGIN": "https://app.example",
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST",
    }
    for path in ("/token", "/register", "/revoke"):
        assert client.options(path, **preflight)["Access-Control-Allow-Origin"] == "*", path
    for path in ("/authorize", "/accounts/login/", "/admin/"):
        assert "Access-Control-Allow-Origin" not in client.options(path, **preflight), path
