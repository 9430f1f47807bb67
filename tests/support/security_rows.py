"""Rows and flows for the in-process security tests (Django test client, and the ASGI app under
Starlette's TestClient): a user, a self-registered public client, live tokens, and a complete
authorization code flow through the real views."""

from __future__ import annotations

import html
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client as DjangoClient
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from authserver.models import Client
from democlient.flow import HIDDEN_INPUT, Pkce

REDIRECT_URI = "http://127.0.0.1:33418/callback"
PASSWORD = "in-process-password-for-tests"


def make_user(username: str = "alice"):
    return get_user_model().objects.create_user(username, password=PASSWORD)


def make_client(name: str = "In-process client", **fields) -> Client:
    values = {
        "name": name,
        "client_type": Client.CLIENT_PUBLIC,
        "authorization_grant_type": Client.GRANT_AUTHORIZATION_CODE,
        "redirect_uris": REDIRECT_URI,
        "client_secret": "",
        "registration_source": Client.RegistrationSource.DCR,
        **fields,
    }
    return Client.objects.create(**values)


def make_token(user, client: Client, scope: str = "mcp:read mcp:write", resource: list[str] | None = None) -> str:
    """A live access token (with a refresh token) bound to the MCP endpoint; returns its value."""
    raw = secrets.token_urlsafe(30)
    access = get_access_token_model().objects.create(
        user=user,
        application=client,
        token=raw,
        expires=timezone.now() + timedelta(hours=1),
        scope=scope,
        resource=[settings.MCP_URL] if resource is None else resource,
    )
    get_refresh_token_model().objects.create(
        user=user, application=client, token=secrets.token_urlsafe(30), access_token=access
    )
    return raw


def authorization_params(client: Client, pkce: Pkce, scope: str = "mcp:read", state: str = "st") -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": state,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        "resource": settings.MCP_URL,
    }


def consent_page(browser: DjangoClient, client: Client, pkce: Pkce, scope: str = "mcp:read"):
    """GET /authorize as a signed-in user: the consent page."""
    return browser.get("/authorize?" + urlencode(authorization_params(client, pkce, scope)), HTTP_ACCEPT="text/html")


def authorization_code(browser: DjangoClient, client: Client, pkce: Pkce, scope: str = "mcp:read") -> str:
    """Consent as the signed-in user of `browser`; the code the client receives."""
    page = consent_page(browser, client, pkce, scope)
    assert page.status_code == 200, page.content[:300]
    form = {name: html.unescape(value) for name, value in HIDDEN_INPUT.findall(page.content.decode())}
    form["allow"] = "on"
    answer = browser.post("/authorize", form)
    assert answer.status_code == 302, answer.content[:300]
    return parse_qs(urlsplit(answer["Location"]).query)["code"][0]


def exchange(browser: DjangoClient, client: Client, pkce: Pkce, code: str):
    return browser.post(
        "/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": client.client_id,
            "code_verifier": pkce.verifier,
            "resource": settings.MCP_URL,
        },
    )
