"""Shared fixtures: in-process Django tests use pytest-django's test database; end-to-end tests
talk HTTP to real gunicorn servers (tests/support/server.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest

from democlient import flow
from tests.support.server import DEMO_PASSWORD, DEMO_USERNAME, LiveServer

REDIRECT_URI = "http://127.0.0.1:33418/callback"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """In-process tests hash many passwords; the real password hasher is slow by design. Client
    secrets keep their real (fast) hasher, which CLIENT_SECRET_HASHER names; the tests of the
    hashers themselves (tests/test_hashers.py) put the configured list back."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "authserver.hashers.ClientSecretHasher",
    ]


@pytest.fixture(autouse=True)
def administrators_without_mfa(settings) -> None:
    """In-process tests sign in as administrators with a password alone (as the live servers do,
    tests/support/server.py); tests of MFA_REQUIRED_FOR_STAFF turn it on."""
    settings.MFA_REQUIRED_FOR_STAFF = False


@pytest.fixture(scope="session")
def stack() -> Iterator[LiveServer]:
    """The default co-located stack: two workers, stateless MCP, conformance fixtures on."""
    server = LiveServer(name="main").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stateful_stack() -> Iterator[LiveServer]:
    """One worker with MCP_STATEFUL=1: 2025-xx sessions, in which the server can ask the client
    in the middle of a call (the conformance suite's stateful runs and the asking tests)."""
    server = LiveServer(env={"MCP_STATEFUL": "1"}, workers=1, name="stateful").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture
def stub_fetcher(settings):
    """In-process tests: the web servers hosting client documents and JWKS, stood in for where the
    server fetches them (CLIENT_DOCUMENT_FETCHER); fill `.documents`, read `.fetched`."""
    from tests.support.cimd_stub import StubFetcher

    settings.CLIENT_DOCUMENT_FETCHER = "tests.support.cimd_stub.StubFetcher"
    StubFetcher.documents, StubFetcher.fetched = {}, []
    yield StubFetcher
    StubFetcher.documents = {}


def publish_cimd_document(server: LiveServer, client_id: str, document: dict) -> None:
    """Make `document` what the (stubbed) web server at `client_id` returns."""
    path = server.workdir / "cimd.json"
    documents = json.loads(path.read_text()) if path.exists() else {}
    documents[client_id] = document
    path.write_text(json.dumps(documents))


class TokenKit:
    """Obtains real tokens from a live server through the whole OAuth flow."""

    def __init__(self, server: LiveServer, http: httpx2.Client) -> None:
        self.server = server
        self.http = http

    def register(self, **metadata) -> dict:
        body = {
            "client_name": "Test client",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        }
        body.update(metadata)
        return flow.register(self.http, self.server.url + "/register", body)

    def authorize(
        self,
        client_id: str,
        scope: str = "mcp:read",
        username: str = DEMO_USERNAME,
        password: str = DEMO_PASSWORD,
        redirect_uri: str = REDIRECT_URI,
        resource: str | None = "default",
        allow: bool = True,
        **extra: str,
    ) -> tuple[flow.AuthorizationRequest, flow.Callback]:
        request = flow.AuthorizationRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            resource=self.server.mcp_url if resource == "default" else resource,
        )
        browser = flow.Browser(self.server.url, username, password)
        try:
            callback = browser.authorize(request.url(self.server.url + "/authorize", **extra), allow=allow)
        finally:
            browser.close()
        return request, callback

    def tokens(self, scope: str = "mcp:read", client_id: str | None = None, **kwargs) -> dict:
        """Register (unless given a client), authorize as the demo user, exchange the code."""
        client_id = client_id or self.register()["client_id"]
        request, callback = self.authorize(client_id, scope=scope, **kwargs)
        assert callback.code, callback.params
        response = flow.exchange_code(self.http, self.server.url + "/token", request, callback.code)
        assert response.status_code == 200, response.text
        return {**response.json(), "client_id": client_id}


@pytest.fixture
def tokens(stack: LiveServer, http: httpx2.Client) -> TokenKit:
    return TokenKit(stack, http)


# --- Sign-in through an identity provider (issue 15): one real OpenID Connect provider ---------
@pytest.fixture(scope="session")
def oidc_provider():
    """panva's oidc-provider on loopback (tests/support/oidc_provider.py), shared by every test of
    the session; each test server registers its own client there."""
    from tests.support.oidc_provider import OidcProvider

    provider = OidcProvider().start()
    try:
        yield provider
    finally:
        provider.stop()


# --- Security tests (issue 7): their own live server, and the figures printed at the end --------
@pytest.fixture(scope="session")
def security_stack() -> Iterator[LiveServer]:
    """Three workers and low abuse limits, for the race, throttle and audit tests."""
    from tests.support.security import SECURITY_SERVER_ENV

    server = LiveServer(name="security", workers=3, env=SECURITY_SERVER_ENV).start()
    try:
        yield server
    finally:
        server.stop()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    from tests.support.figures import summary_lines

    lines = summary_lines()
    if lines:
        terminalreporter.section("security figures")
        for line in lines:
            terminalreporter.write_line(line)
