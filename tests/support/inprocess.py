"""Helpers for in-process tests of the authorization server (Django test client)."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

from django.test import Client as HttpClient

from authserver.models import Client
from democlient import flow

REDIRECT_URI = "http://127.0.0.1/callback"
MCP_URL = "http://127.0.0.1:8000/mcp"
ISSUER = "http://127.0.0.1:8000"


def make_client(
    name: str = "Test app",
    redirect_uris: str = f"{REDIRECT_URI} https://app.example.com/cb",
    client_type: str = Client.CLIENT_PUBLIC,
    source: str = Client.RegistrationSource.DCR,
    **fields,
) -> Client:
    return Client.objects.create(
        name=name,
        client_type=client_type,
        authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uris,
        registration_source=source,
        **fields,
    )


def request_for(client: Client, scope: str = "mcp:read", redirect_uri: str = REDIRECT_URI, resource=MCP_URL):
    return flow.AuthorizationRequest(client.client_id, redirect_uri, scope, resource)


def query_of(location: str) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def consent(http: HttpClient, url: str, allow: bool = True):
    """GET the consent page of an authorization URL and answer it; returns (page, answer)."""
    page = http.get(url, HTTP_ACCEPT="text/html")
    assert page.status_code == 200, page.content[:500]
    form = {name: html.unescape(value) for name, value in flow.HIDDEN_INPUT.findall(page.content.decode())}
    if allow:
        form["allow"] = "on"
    return page, http.post("/authorize", data=form)


def authorize_code(http: HttpClient, client: Client, scope: str = "mcp:read", resource=MCP_URL, **extra):
    """Run the authorization request as the logged-in user and return (request, code)."""
    request = request_for(client, scope=scope, resource=resource)
    _page, answer = consent(http, request.url("/authorize", **extra))
    assert answer.status_code == 302, answer.content[:500]
    params = query_of(answer["Location"])
    assert "code" in params, params
    return request, params["code"]


def token_request(http: HttpClient, request: flow.AuthorizationRequest, code: str, **overrides):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "client_id": request.client_id,
        "code_verifier": request.pkce.verifier,
    }
    if request.resource:
        data["resource"] = request.resource
    data.update(overrides)
    return http.post("/token", data={k: v for k, v in data.items() if v is not None})


def make_user(username: str = "alice", password: str = "alice-password-123"):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username, password=password)


def _request_with(app: Client, pkce: flow.Pkce) -> flow.AuthorizationRequest:
    return flow.AuthorizationRequest(app.client_id, REDIRECT_URI, "mcp:read", MCP_URL, pkce=pkce, state="fixed-state")


def consent_page(http: HttpClient, app: Client, pkce: flow.Pkce):
    """The consent page of an authorization request with `pkce` (user already logged in)."""
    return http.get(_request_with(app, pkce).url("/authorize"), HTTP_ACCEPT="text/html")


def authorization_code(http: HttpClient, app: Client, pkce: flow.Pkce) -> str:
    """Allow the request on its consent page and return the code."""
    _page, answer = consent(http, _request_with(app, pkce).url("/authorize"))
    assert answer.status_code == 302, answer.content[:500]
    return query_of(answer["Location"])["code"]


def exchange(http: HttpClient, app: Client, pkce: flow.Pkce, code: str):
    return token_request(http, _request_with(app, pkce), code)


def close_database_threads() -> None:
    """Close the connections of the MCP side's database threads, so the test database can be dropped."""
    from mcpserver.db import close_thread_connections

    close_thread_connections()
