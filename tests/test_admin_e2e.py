"""The administrator's controls against live servers: the approval setting both ways, quarantine,
and "disable and revoke all tokens" (its tokens refused at /mcp and at /token)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import pytest

from democlient import flow, mcp_calls
from tests.conftest import REDIRECT_URI, TokenKit
from tests.support.admin_session import AdminSession
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e


def whoami_status_within(
    http: httpx2.Client, server: LiveServer, access_token: str, expected: int, seconds: float = 2.0
) -> int:
    """The status of `whoami` once it is `expected`, or the last one after `seconds`."""
    deadline = time.monotonic() + seconds
    status = whoami(http, server, access_token).status
    while status != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        status = whoami(http, server, access_token).status
    return status


def whoami(http: httpx2.Client, server: LiveServer, access_token: str) -> mcp_calls.Reply:
    return mcp_calls.call(http, server.mcp_url, access_token, "tools/call", {"name": "whoami", "arguments": {}})


def authorize_page(http: httpx2.Client, server: LiveServer, client_id: str) -> httpx2.Response:
    """What a person's browser gets for an authorization request of `client_id`."""
    request = flow.AuthorizationRequest(client_id, REDIRECT_URI, "mcp:read", server.mcp_url)
    return http.get(request.url(server.url + "/authorize"), headers={"Accept": "text/html"})


@pytest.fixture(scope="module")
def manual_stack() -> Iterator[LiveServer]:
    """A server where new self-registered clients wait for an administrator."""
    server = LiveServer(name="manual", workers=1, env={"NEW_CLIENT_APPROVAL": "manual"}).start()
    try:
        yield server
    finally:
        server.stop()


def test_auto_approval_a_self_registered_client_works_at_once(stack, http, tokens) -> None:
    granted = tokens.tokens("mcp:read")
    reply = whoami(http, stack, granted["access_token"])
    assert reply.status == 200
    assert reply.result["structuredContent"]["user"] == "demo"
    with AdminSession(stack) as admin:
        row = admin.http.get("/admin/authserver/selfregisteredclient/", params={"q": granted["client_id"]})
    assert row.status_code == 200
    assert 'class="client-status client-status-active">Active<' in row.text


def test_manual_approval_the_client_waits_until_an_administrator_approves_it(manual_stack, http) -> None:
    kit = TokenKit(manual_stack, http)
    client_id = kit.register(client_name="Waiting client")["client_id"]

    waiting = authorize_page(http, manual_stack, client_id)
    assert waiting.status_code == 400
    assert "location" not in waiting.headers  # the user is not sent anywhere
    assert waiting.headers["content-type"].startswith("text/html")
    assert "This application is waiting for approval" in waiting.text
    with pytest.raises(flow.FlowError):
        kit.authorize(client_id)  # the headless browser cannot get past that page either

    with AdminSession(manual_stack) as admin:
        queue = admin.http.get("/admin/authserver/client/")
        assert "1 self-registered client waits for approval." in queue.text
        approved = admin.action("approve", [client_id], model="selfregisteredclient")
        assert approved.status_code == 302
        listed = admin.http.get("/admin/authserver/selfregisteredclient/", params={"q": client_id})
        assert 'client-status-active">Active<' in listed.text

    granted = kit.tokens("mcp:read", client_id=client_id)
    assert whoami(http, manual_stack, granted["access_token"]).status == 200

    # Quarantine stops the client's tokens at once; approving it again lets them work again. "At
    # once" is as soon as the other worker hears the commit (on PostgreSQL its token cache learns it
    # by NOTIFY, a few milliseconds later), as in tests/test_revocations.py.
    with AdminSession(manual_stack) as admin:
        assert admin.action("quarantine", [client_id], model="selfregisteredclient").status_code == 302
        assert whoami_status_within(http, manual_stack, granted["access_token"], 401) == 401
        assert authorize_page(http, manual_stack, client_id).status_code == 400
        assert admin.action("approve", [client_id], model="selfregisteredclient").status_code == 302
    assert whoami_status_within(http, manual_stack, granted["access_token"], 200) == 200


def test_manual_approval_applies_to_url_identified_clients_too(manual_stack, http) -> None:
    from tests.conftest import publish_cimd_document

    client_id = "https://app.example.com/oauth/client.json"
    publish_cimd_document(
        manual_stack,
        client_id,
        {
            "client_id": client_id,
            "client_name": "URL client",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
        },
    )
    first = authorize_page(http, manual_stack, client_id)  # first sight: fetched and registered, pending
    assert first.status_code == 400
    assert "location" not in first.headers
    assert "This application is waiting for approval" in first.text
    with AdminSession(manual_stack) as admin:
        listed = admin.http.get("/admin/authserver/selfregisteredclient/", params={"status": "pending"})
        assert f'<code class="client-id" title="{client_id}">' in listed.text
        assert '<td class="field-registered_by">Its URL (CIMD)</td>' in listed.text
        assert 'client-status-pending">Waiting for approval<' in listed.text


def test_disable_and_revoke_refuses_the_clients_tokens_at_mcp_and_token(stack, http, tokens) -> None:
    granted = tokens.tokens("mcp:read")
    client_id = granted["client_id"]
    assert whoami(http, stack, granted["access_token"]).status == 200

    with AdminSession(stack) as admin:
        asked = admin.action("disable_and_revoke_tokens", [client_id])
        assert asked.status_code == 200  # the confirmation page, nothing done yet
        assert "Disable and revoke all tokens?" in asked.text
        assert "2 live tokens" in asked.text  # the access token and its refresh token
        assert whoami(http, stack, granted["access_token"]).status == 200

        done = admin.action("disable_and_revoke_tokens", [client_id], confirm="yes")
        assert done.status_code == 302
        listed = admin.http.get("/admin/authserver/client/", params={"q": client_id})
        assert "1 client(s) disabled, 2 live token(s) revoked." in listed.text
        assert 'client-status-disabled">Disabled<' in listed.text

    refused = whoami(http, stack, granted["access_token"])
    assert refused.status == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]

    refreshed = flow.refresh(http, stack.url + "/token", client_id, granted["refresh_token"], stack.mcp_url)
    assert refreshed.status_code == 401
    assert refreshed.json()["error"] == "invalid_client"

    page = authorize_page(http, stack, client_id)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "This application has been disabled" in page.text
