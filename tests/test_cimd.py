"""URL client ids (Client ID Metadata Documents): the whole authorization with a client the server
has never seen, the document rules, and the SSRF guard of the fetcher the server really uses.

The remote web server hosting a document is the one thing outside the machine, so it is replaced
through django-oauth-toolkit's own extension point (CIMD_METADATA_FETCHER)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as HttpClient
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher
from oauth2_provider.models import AccessToken

from authserver.models import Client
from democlient.flow import AuthorizationRequest
from tests.support.inprocess import MCP_URL, REDIRECT_URI, consent, query_of, token_request

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stub_fetcher")]

CLIENT_URL = "https://app.example.net/oauth/client.json"


def document(**overrides) -> dict:
    doc = {
        "client_id": CLIENT_URL,
        "client_name": "Example app by URL",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    doc.update(overrides)
    return doc


@pytest.fixture
def signed_in(client: HttpClient) -> HttpClient:
    client.force_login(get_user_model().objects.create_user("alice", password="alice-password-123"))
    return client


def test_unknown_url_client_id_is_fetched_registered_and_authorized(signed_in: HttpClient, stub_fetcher) -> None:
    stub_fetcher.documents[CLIENT_URL] = document()
    request = AuthorizationRequest(CLIENT_URL, REDIRECT_URI, "mcp:read", MCP_URL)
    page, answer = consent(signed_in, request.url("/authorize"))
    text = page.content.decode()
    assert "Example app by URL" in text
    assert "Unverified" in text
    assert CLIENT_URL in text
    assert answer.status_code == 302
    code = query_of(answer["Location"])["code"]

    response = token_request(signed_in, request, code)
    assert response.status_code == 200
    client = Client.objects.get(client_id=CLIENT_URL)
    assert client.registration_source == Client.RegistrationSource.CIMD
    assert client.client_type == Client.CLIENT_PUBLIC
    token = AccessToken.objects.get(application=client)
    assert token.resource == [MCP_URL]
    assert stub_fetcher.fetched[0] == CLIENT_URL


@pytest.mark.parametrize(
    "bad",
    [
        {"client_id": "https://someone-else.example/client.json"},
        {"redirect_uris": ["https://elsewhere.example/cb"]},
        {"token_endpoint_auth_method": "client_secret_basic"},
        {"client_secret": "shh"},
        {"redirect_uris": []},
    ],
    ids=["client-id-mismatch", "redirect-not-listed", "shared-secret-method", "carries-a-secret", "no-redirects"],
)
def test_invalid_documents_never_lead_to_a_redirect(client: HttpClient, stub_fetcher, bad: dict) -> None:
    stub_fetcher.documents[CLIENT_URL] = document(**bad)
    request = AuthorizationRequest(CLIENT_URL, REDIRECT_URI, "mcp:read", MCP_URL)
    response = client.get(request.url("/authorize"), HTTP_ACCEPT="text/html")
    assert response.status_code == 400
    assert "Location" not in response


def test_missing_document_is_an_unknown_client(client: HttpClient) -> None:
    request = AuthorizationRequest("https://nothing.example/client.json", REDIRECT_URI, "mcp:read", MCP_URL)
    response = client.get(request.url("/authorize"), HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert not Client.objects.exists()


def test_metadata_advertises_url_client_ids(client: HttpClient) -> None:
    assert client.get("/.well-known/oauth-authorization-server").json()["client_id_metadata_document_supported"]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/client.json",
        "https://localhost/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/client.json",
        "https://10.0.0.8/client.json",
        "http://app.example.net/client.json",
        "https://app.example.net",
    ],
)
def test_the_real_fetcher_refuses_internal_targets_without_connecting(url: str) -> None:
    # The production fetcher (DOT's SafeMetadataFetcher): https only, a path, and public IPs only.
    with pytest.raises(CIMDError):
        SafeMetadataFetcher().fetch(url)
