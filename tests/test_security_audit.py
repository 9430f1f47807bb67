"""The audit trail: one log of security events for both roles (the authorization server's views
and the `/mcp` gate), as JSON lines joined by user and client ids, with no token, code, secret
or password value in it, checked end to end on a live server's own log."""

from __future__ import annotations

import json
import logging
import time

import pytest

from common import audit
from common.log_format import JsonLineFormatter
from democlient import flow
from tests.support.security import (
    REDIRECT_URI,
    Kit,
    audit_events,
    client,
    form_post,
    log_in_attempt,
    whoami,
)
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, DEMO_PASSWORD, DEMO_USERNAME, OTHER_PASSWORD

WRONG_PASSWORD = "wrong-password-0d6c41e9"


def test_event_drops_credentials_and_makes_ids_strings(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="audit"):
        audit.event(
            "token_issued",
            user_id=7,
            client_id="abc",
            access_token="secret-a",
            refresh_token="secret-r",
            code="secret-c",
            client_secret="secret-s",
            password="secret-p",
            registration_access_token="secret-t",
            id_token="secret-i",
            scope="mcp:read",
            reason=None,
        )
    record = caplog.records[-1]
    assert record.audit == {"event": "token_issued", "user_id": "7", "client_id": "abc", "scope": "mcp:read"}
    line = json.loads(JsonLineFormatter().format(record))
    assert line["logger"] == "audit" and line["event"] == "token_issued" and line["user_id"] == "7"
    assert "secret" not in json.dumps(line)


def wait_for(server, predicate, timeout: float = 10) -> list[dict]:
    """The audit events, once `predicate(events)` holds (the log is written by other processes)."""
    deadline = time.monotonic() + timeout
    while True:
        events = audit_events(server.log_path)
        if predicate(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def one(events: list[dict], name: str, **fields) -> dict:
    found = [e for e in events if e["event"] == name and all(e.get(k) == v for k, v in fields.items())]
    assert found, f"no {name} event with {fields}; saw {[e['event'] for e in events][-40:]}"
    return found[-1]


@pytest.mark.e2e
def test_security_events_of_both_roles_in_one_log_without_secrets(security_stack) -> None:
    server = security_stack
    kit = Kit(server)
    secrets_seen: list[str] = [DEMO_PASSWORD, ADMIN_PASSWORD, OTHER_PASSWORD, WRONG_PASSWORD, "e2e-secret-key-"]
    try:
        # Registration (a confidential client too, for its secret).
        registered = kit.register()
        client_id = registered["client_id"]
        secrets_seen.append(registered["registration_access_token"])
        confidential = kit.register(token_endpoint_auth_method="client_secret_post")
        secrets_seen += [confidential["client_secret"], confidential["registration_access_token"]]

        # A failed sign-in, then the whole flow: sign-in, consent, code, tokens.
        with client(kit.ip) as http:
            assert log_in_attempt(http, server, DEMO_USERNAME, WRONG_PASSWORD).status_code == 400
        request, callback = kit.authorize(client_id, scope="mcp:read")
        secrets_seen += [callback.code, request.pkce.verifier]
        exchanged = kit.exchange(request, callback.code)
        assert exchanged.status_code == 200
        granted = exchanged.json()
        secrets_seen += [granted["access_token"], granted["refresh_token"]]

        with client(kit.ip) as http:
            # At /mcp: a tool call, a call without a token, with a bad token, and beyond the scope.
            assert whoami(http, server, granted["access_token"]).status_code == 200
            assert http.post(server.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code == 401
            bogus = "bogus-token-value-5b0e"
            secrets_seen.append(bogus)
            assert whoami(http, server, bogus).status_code == 401
            forbidden = http.post(
                server.mcp_url,
                headers={
                    "Authorization": f"Bearer {granted['access_token']}",
                    "Accept": "application/json, text/event-stream",
                    "MCP-Protocol-Version": "2025-11-25",
                },
                json={
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "tools/call",
                    "params": {"name": "create_note", "arguments": {"title": "t", "body": "b"}},
                },
            )
            assert forbidden.status_code == 403

        # A refresh, then revocation of the new access token.
        refreshed = kit.refresh(client_id, granted["refresh_token"])
        assert refreshed.status_code == 200
        renewed = refreshed.json()
        secrets_seen += [renewed["access_token"], renewed["refresh_token"]]
        revoked = kit.http.post(server.url + "/revoke", data={"token": renewed["access_token"], "client_id": client_id})
        assert revoked.status_code == 200

        # An administrator disables the client; its refresh token no longer works at /mcp or /token.
        pk = server.execute("SELECT id FROM authserver_client WHERE client_id = %s", (client_id,))[0][0]
        with client(kit.ip) as admin:
            signed_in = form_post(
                admin,
                server.url + "/admin/login/?next=/admin/",
                {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "next": "/admin/"},
            )
            assert signed_in.status_code == 302, signed_in.text[:300]
            secrets_seen.append(admin.cookies.get("sessionid") or "no-session-cookie-seen")
            disabled = form_post(admin, server.url + f"/admin/authserver/client/{pk}/disable/", {"post": "yes"})
            assert disabled.status_code == 302, disabled.text[:300]
        assert kit.refresh(client_id, renewed["refresh_token"]).status_code in (400, 401)
    finally:
        kit.close()

    demo_id = str(server.execute("SELECT id FROM auth_user WHERE username = %s", (DEMO_USERNAME,))[0][0])
    events = wait_for(server, lambda found: any(e["event"] == "client_disabled" for e in found))
    ids = {"client_id": client_id}
    user = {"user_id": demo_id}
    one(events, "client_registered", **ids, source="dcr", ip=kit.ip)
    one(events, "login_failed", username=DEMO_USERNAME, **user, ip=kit.ip)
    one(events, "login_succeeded", **user, ip=kit.ip)
    one(events, "consent_granted", **user, **ids, scope="mcp:read")
    one(events, "token_issued", **user, **ids)
    one(events, "tool_called", **user, **ids, tool="whoami")  # the MCP side, joined on the same ids
    one(events, "mcp_unauthorized", status=401, reason="no token")
    one(events, "mcp_unauthorized", status=401, reason="The access token is unknown or revoked")
    forbidden_event = one(events, "mcp_forbidden", **user, **ids, tool="create_note")
    assert "mcp:write" in forbidden_event["reason"]
    one(events, "token_refreshed", **user, **ids)
    one(events, "token_revoked", **user, **ids)
    one(events, "client_disabled", **ids)
    for event in events:
        assert event["level"] == "INFO" and event["time"] and event["message"] == event["event"]

    log = server.log_path.read_text(errors="replace")
    for line in log.splitlines():
        if line.startswith("{"):
            json.loads(line)  # every structured line is one JSON object
    leaked = [value[:12] + "…" for value in secrets_seen if value and value in log]
    assert leaked == [], "secret values in the server log"


@pytest.mark.e2e
def test_code_replay_is_logged_without_the_code_or_the_verifier(security_stack) -> None:
    kit = Kit(security_stack)
    try:
        client_id = kit.register()["client_id"]
        request, callback = kit.authorize(client_id)
        wrong = flow.AuthorizationRequest(
            client_id=client_id, redirect_uri=REDIRECT_URI, scope="mcp:read", resource=None
        )
        refused = kit.exchange(wrong, callback.code)  # the wrong PKCE verifier
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        issued = kit.exchange(request, callback.code)
        assert issued.status_code == 200
        replayed = kit.exchange(request, callback.code)
        assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
        events = wait_for(
            security_stack,
            lambda found: any(e["event"] == "code_replayed" and e.get("client_id") == client_id for e in found),
        )
        one(events, "code_replayed", client_id=client_id)
        log = security_stack.log_path.read_text(errors="replace")
        for value in (callback.code, request.pkce.verifier, wrong.pkce.verifier, issued.json()["access_token"]):
            assert value not in log
    finally:
        kit.close()
