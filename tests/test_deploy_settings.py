"""Deployment plumbing in process: the health endpoints, the settings of each SERVER_ROLE (the
real config/settings.py executed with the environment of each), and the split roles' path filter.
"""

from __future__ import annotations

import runpy

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.test import Client as DjangoClient

from authserver import resources
from config import health, roles
from tests.support.server import ROOT

SETTINGS_FILE = str(ROOT / "config" / "settings.py")
SPLIT_VARIABLES = (
    "SERVER_ROLE",
    "RESOURCE_SERVER_URL",
    "AUTH_SERVER_URL",
    "INTROSPECTION_URL",
    "INTROSPECTION_CLIENT_ID",
    "INTROSPECTION_CLIENT_SECRET",
    "INTROSPECTION_CLIENT_IDS",
    "INTROSPECTION_CACHE_SECONDS",
    "PUBLIC_URL",
)


def settings_with(monkeypatch, **env: str) -> dict:
    """The module globals of config/settings.py, run with this environment."""
    for name in SPLIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(SETTINGS_FILE)


# --- /healthz and /readyz --------------------------------------------------------------------
def test_healthz_needs_nothing_but_the_process(client: DjangoClient) -> None:
    # No `db` fixture: pytest-django would fail this test if the view touched the database.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


def test_readyz_when_the_database_answers(client: DjangoClient, db) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok"}


def test_readyz_when_the_database_does_not(client: DjangoClient, db, monkeypatch) -> None:
    def unreachable():
        raise OperationalError("connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(health.connection, "cursor", unreachable)
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
    assert response["Retry-After"] == "5"


# --- Settings of each role --------------------------------------------------------------------
def test_combined_is_the_default_and_adds_nothing(monkeypatch) -> None:
    loaded = settings_with(monkeypatch, PUBLIC_URL="https://mcp.example.test")
    assert loaded["SERVER_ROLE"] == "combined"
    assert loaded["ISSUER"] == "https://mcp.example.test"
    assert loaded["MCP_URL"] == "https://mcp.example.test/mcp"
    assert loaded["INTROSPECTION_CLIENT_IDS"] == []
    assert "config.roles.RolePathsMiddleware" not in loaded["MIDDLEWARE"]


def test_authorization_role_serves_the_resource_servers_endpoint(monkeypatch) -> None:
    loaded = settings_with(
        monkeypatch,
        SERVER_ROLE="authorization",
        PUBLIC_URL="https://auth.example.test",
        RESOURCE_SERVER_URL="https://Notes.Example.test/",
        INTROSPECTION_CLIENT_ID="rs",
        INTROSPECTION_CLIENT_SECRET="secret",
    )
    assert loaded["ISSUER"] == "https://auth.example.test"
    assert loaded["MCP_URL"] == "https://notes.example.test/mcp"
    assert loaded["OAUTH2_PROVIDER"]["OIDC_ISS_ENDPOINT"] == "https://auth.example.test"
    assert loaded["INTROSPECTION_CLIENT_IDS"] == ["rs"]
    assert loaded["MIDDLEWARE"][1] == "config.roles.RolePathsMiddleware"

    listed = settings_with(
        monkeypatch,
        SERVER_ROLE="authorization",
        RESOURCE_SERVER_URL="https://notes.example.test",
        INTROSPECTION_CLIENT_IDS="rs-1,rs-2",
    )
    assert listed["INTROSPECTION_CLIENT_IDS"] == ["rs-1", "rs-2"]


def test_resource_role_names_the_authorization_server(monkeypatch) -> None:
    loaded = settings_with(
        monkeypatch,
        SERVER_ROLE="resource",
        PUBLIC_URL="https://notes.example.test",
        AUTH_SERVER_URL="https://auth.example.test",
        INTROSPECTION_CLIENT_ID="rs",
        INTROSPECTION_CLIENT_SECRET="secret",
        INTROSPECTION_CACHE_SECONDS="3",
    )
    assert loaded["ISSUER"] == "https://auth.example.test"
    assert loaded["MCP_URL"] == "https://notes.example.test/mcp"
    assert loaded["OAUTH2_PROVIDER"]["OAUTH2_PROTECTED_RESOURCE_IDENTIFIER"] == "https://notes.example.test/mcp"
    assert loaded["OAUTH2_PROVIDER"]["OAUTH2_PROTECTED_RESOURCE_AUTHORIZATION_SERVERS"] == ["https://auth.example.test"]
    assert loaded["INTROSPECTION_URL"] == "https://auth.example.test/introspect"
    assert loaded["INTROSPECTION_CACHE_SECONDS"] == 3
    assert loaded["MCP_PROTECTED_RESOURCE_METADATA_URL"] == (
        "https://notes.example.test/.well-known/oauth-protected-resource/mcp"
    )


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"SERVER_ROLE": "both"}, "SERVER_ROLE must be"),
        ({"SERVER_ROLE": "authorization"}, "needs RESOURCE_SERVER_URL"),
        ({"SERVER_ROLE": "resource", "INTROSPECTION_CLIENT_ID": "rs"}, "needs AUTH_SERVER_URL"),
        (
            {
                "SERVER_ROLE": "resource",
                "AUTH_SERVER_URL": "https://auth.example.test",
                "INTROSPECTION_CLIENT_ID": "rs",
            },
            "needs INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET",
        ),
        (
            {"SERVER_ROLE": "authorization", "RESOURCE_SERVER_URL": "https://notes.example.test/mcp"},
            "bare origin",
        ),
    ],
)
def test_a_split_role_refuses_to_start_half_configured(monkeypatch, env: dict, complaint: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=complaint):
        settings_with(monkeypatch, **env)


def test_the_served_resource_follows_the_one_setting(settings) -> None:
    settings.MCP_URL = "https://notes.example.test/mcp"
    assert resources.served_resources() == ("https://notes.example.test/mcp",)
    assert resources.canonical_resource("https://NOTES.example.test:443/mcp/") == "https://notes.example.test/mcp"
    assert resources.canonical_resource("http://127.0.0.1:8000/mcp") is None


# --- The split roles' path filter ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "path", "served"),
    [
        ("combined", "/authorize", True),
        ("combined", "/.well-known/oauth-protected-resource/mcp", True),
        ("resource", "/.well-known/oauth-protected-resource/mcp", True),
        ("resource", "/.well-known/oauth-protected-resource", True),
        ("resource", "/healthz", True),
        ("resource", "/static/admin/css/base.css", True),
        ("resource", "/.well-known/oauth-authorization-server", False),
        ("resource", "/authorize", False),
        ("resource", "/token", False),
        ("resource", "/register", False),
        ("resource", "/admin/", False),
        ("authorization", "/authorize", True),
        ("authorization", "/introspect", True),
        ("authorization", "/admin/", True),
        ("authorization", "/.well-known/oauth-protected-resource/mcp", False),
        ("authorization", "/mcp", False),
    ],
)
def test_which_paths_each_role_serves(settings, role: str, path: str, served: bool) -> None:
    settings.SERVER_ROLE = role
    assert roles.served_by_role(path) is served


def test_the_path_filter_answers_like_any_unknown_path(settings, db) -> None:
    settings.SERVER_ROLE = "resource"
    settings.MIDDLEWARE = [settings.MIDDLEWARE[0], "config.roles.RolePathsMiddleware", *settings.MIDDLEWARE[1:]]
    client = DjangoClient()
    refused = client.get("/.well-known/oauth-authorization-server")
    assert refused.status_code == 404
    assert refused.json()["error"] == "not_found"
    page = client.get("/accounts/login/", HTTP_ACCEPT="text/html")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    assert client.get("/.well-known/oauth-protected-resource/mcp").status_code == 200
    assert client.get("/healthz").status_code == 200
