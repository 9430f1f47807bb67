"""The narrated demo: headless against the live stack (JSON and human output), with a URL client
id, failing cleanly, and `make demo` starting a stack by itself."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import httpx2
import pytest

from democlient import flow
from democlient.demo import STEPS, Demo, mcp_url_from
from democlient.narrate import Narrator, mask, mask_text, redact, use_colour
from tests.conftest import publish_cimd_document
from tests.support.server import DEMO_PASSWORD, DEMO_USERNAME, ROOT, LiveServer, free_port

STEP_IDS = [step_id for step_id, _title in STEPS]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def by_id(result: dict) -> dict[str, dict]:
    return {step["id"]: step for step in result["steps"]}


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(extra)
    return env


def assert_masked(value: str | None) -> None:
    assert value is not None
    assert value.endswith("…") and len(value) <= 7, value


# --- Masking and colour -------------------------------------------------------------------------------
def test_mask_shows_at_most_six_characters() -> None:
    assert mask("abcdefghijklmnopqrstuvwxyz") == "abcdef…"
    assert mask("abcdef") == "…"
    assert mask(None) is None
    assert mask_text("Authorization: Bearer abcdefghijklmnop") == "Authorization: Bearer abcdef…"
    assert mask_text("http://127.0.0.1/callback?code=abcdefghijkl&state=x") == (
        "http://127.0.0.1/callback?code=abcdef…&state=x"
    )
    # A challenge's parameters are not a token.
    challenge = 'Bearer error="insufficient_scope", scope="mcp:read mcp:write"'
    assert mask_text(challenge) == challenge
    assert redact({"access_token": "0123456789abcdef", "code_verifier": "v" * 50, "nested": [{"code": "c" * 20}]}) == {
        "access_token": "012345…",
        "code_verifier": "(hidden)",
        "nested": [{"code": "cccccc…"}],
    }


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert use_colour(io.StringIO()) is False
    assert use_colour(Tty()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(Tty()) is False
    assert use_colour(Tty(), setting=True) is True


def test_mcp_url_from_an_origin_or_the_endpoint() -> None:
    assert mcp_url_from("http://127.0.0.1:8000") == "http://127.0.0.1:8000/mcp"
    assert mcp_url_from("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/mcp"
    assert mcp_url_from("https://host.example/custom/mcp") == "https://host.example/custom/mcp"
    with pytest.raises(ValueError):
        mcp_url_from("ftp://host/mcp")


# --- The whole chain against the live stack ----------------------------------------------------------
@pytest.mark.e2e
def test_demo_json_shows_the_whole_chain(stack) -> None:
    done = subprocess.run(
        [
            sys.executable, "manage.py", "mcp_demo", "--url", stack.mcp_url,
            "--username", DEMO_USERNAME, "--password", DEMO_PASSWORD, "--json",
        ],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["error"] is None
    assert result["url"] == stack.mcp_url
    assert result["mode"] == "headless" and result["registration"] == "dynamic"
    assert [step["id"] for step in result["steps"]] == STEP_IDS
    assert [step["n"] for step in result["steps"]] == list(range(1, len(STEP_IDS) + 1))
    steps = by_id(result)
    prm_url = stack.url + "/.well-known/oauth-protected-resource/mcp"

    first = steps["mcp-unauthenticated"]
    assert first["outcome"] == "expected"
    assert first["request"]["method"] == "POST" and "authorization" not in first["request"]["headers"]
    assert first["response"]["status"] == 401
    assert first["response"]["headers"]["www-authenticate"] == f'Bearer resource_metadata="{prm_url}", scope="mcp:read"'
    assert first["facts"] == {"resource_metadata": prm_url, "scope": "mcp:read"}

    prm = steps["protected-resource-metadata"]
    assert prm["request"]["url"] == prm_url
    assert prm["response"]["status"] == 200
    assert prm["response"]["body"]["resource"] == stack.mcp_url
    assert prm["facts"]["authorization_servers"] == [stack.url]

    asm = steps["authorization-server-metadata"]
    assert asm["request"]["url"] == stack.url + "/.well-known/oauth-authorization-server"
    assert asm["response"]["status"] == 200
    assert asm["facts"]["issuer"] == stack.url
    assert asm["facts"]["code_challenge_methods_supported"] == ["S256"]

    registration = steps["registration"]
    assert registration["request"]["method"] == "POST"
    assert registration["request"]["url"] == stack.url + "/register"
    assert registration["request"]["body"]["token_endpoint_auth_method"] == "none"
    assert registration["response"]["status"] == 201
    client_id = registration["facts"]["client_id"]
    assert client_id and registration["response"]["body"]["client_id"] == client_id
    assert_masked(registration["response"]["body"]["registration_access_token"])

    authorization = steps["authorization"]
    params = authorization["request"]["params"]
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["resource"] == stack.mcp_url and params["scope"] == "mcp:read"
    assert params["client_id"] == client_id
    assert authorization["response"]["status"] == 302
    assert authorization["response"]["params"]["iss"] == stack.url
    assert_masked(authorization["response"]["params"]["code"])
    assert authorization["facts"]["pages"] == ["login", "consent"]
    assert authorization["facts"]["code_verifier"] == "(hidden)"

    token = steps["token"]
    assert token["response"]["status"] == 200
    assert token["response"]["headers"]["cache-control"] == "no-store"
    assert token["request"]["body"]["code_verifier"] == "(hidden)"
    assert_masked(token["request"]["body"]["code"])
    for field in ("access_token", "refresh_token"):
        assert_masked(token["facts"][field])
        assert_masked(token["response"]["body"][field])
    assert token["facts"]["scope"] == "mcp:read" and token["facts"]["token_type"] == "Bearer"

    discover = steps["mcp-discover"]
    assert discover["response"]["status"] == 200
    assert discover["request"]["headers"]["mcp-method"] == "server/discover"
    assert_masked(discover["request"]["headers"]["authorization"].removeprefix("Bearer "))

    tools = steps["tools-list"]["response"]["body"]["result"]["tools"]
    assert {"whoami", "create_note"} <= {tool["name"] for tool in tools}

    call = steps["tool-call"]
    assert call["response"]["status"] == 200
    identity = call["response"]["body"]["result"]["structuredContent"]
    assert identity == {"user": DEMO_USERNAME, "client_id": client_id, "scopes": ["mcp:read"]}
    assert call["response"]["body"]["result"].get("isError") in (None, False)

    read = steps["resource-read"]
    assert read["response"]["status"] == 200
    assert read["response"]["body"]["result"]["contents"][0]["uri"] == "notes://index"

    refused = steps["step-up-refused"]
    assert refused["outcome"] == "expected"
    assert refused["request"]["body"]["params"]["name"] == "create_note"
    assert refused["response"]["status"] == 403
    challenge = refused["response"]["headers"]["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_scope"')
    assert f'resource_metadata="{prm_url}"' in challenge and 'scope="mcp:read mcp:write"' in challenge
    assert refused["facts"]["scope"] == "mcp:read mcp:write"

    again = steps["reauthorization"]
    assert again["request"]["params"]["scope"] == "mcp:read mcp:write"
    assert again["response"]["status"] == 302
    wider = steps["token-wider"]
    assert wider["response"]["status"] == 200 and wider["facts"]["scope"] == "mcp:read mcp:write"

    written = steps["tool-call-write"]
    assert written["response"]["status"] == 200
    note = written["response"]["body"]["result"]["structuredContent"]
    assert note["title"].startswith("Demo note ") and note["uri"] == f"notes://{note['id']}"

    revoke = steps["revoke"]
    assert revoke["response"]["status"] == 200 and revoke["facts"]["revoked"] == 2


@pytest.mark.e2e
def test_demo_narration_masks_every_secret(stack) -> None:
    out = io.StringIO()
    demo = Demo(
        stack.mcp_url, DEMO_USERNAME, DEMO_PASSWORD, narrator=Narrator(out, colour=False), protocol="2025-11-25"
    )
    result = demo.run()
    assert result["ok"] is True, result["error"]
    text = out.getvalue()
    lines = text.splitlines()
    markers = [line for line in lines if re.match(r"\[\s*\d+/15\] ", line)]
    assert len(markers) == 15
    assert markers[0] == "[ 1/15] ↯ MCP request without a token"
    assert markers[-1] == "[15/15] ✔ Revocation of the demo's tokens (RFC 7009)"
    assert "        Server → Client  401 Unauthorized  WWW-Authenticate: Bearer resource_metadata=" in text
    assert '        Server → Client  403 Forbidden  WWW-Authenticate: Bearer error="insufficient_scope"' in text
    assert not ANSI.search(text)
    # The legacy protocol path starts with initialize.
    assert by_id(result)["mcp-discover"]["request"]["body"]["method"] == "initialize"
    # No secret is ever printed whole: not the tokens, not the PKCE verifier.
    everything = text + json.dumps(result)
    assert len(demo.grants) == 2
    for grant in demo.grants:
        for secret in (grant.access_token, grant.refresh_token):
            assert secret and secret not in everything and secret[:7] not in everything
    # The revoked token no longer opens the MCP endpoint.
    with httpx2.Client() as http:
        refused = http.post(
            stack.mcp_url,
            headers={"Authorization": f"Bearer {demo.grants[-1].access_token}", "Accept": "application/json"},
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        )
    assert refused.status_code == 401


@pytest.mark.e2e
def test_demo_output_is_coloured_on_request(stack) -> None:
    out = io.StringIO()
    result = Demo(stack.mcp_url, DEMO_USERNAME, DEMO_PASSWORD, narrator=Narrator(out, colour=True)).run()
    assert result["ok"] is True
    assert "\x1b[32;1m✔\x1b[0m" in out.getvalue()


@pytest.mark.e2e
def test_demo_with_a_url_client_id(stack) -> None:
    client_id = "https://demo-client.example/mcp/client.json"
    publish_cimd_document(
        stack,
        client_id,
        {
            "client_id": client_id,
            "client_name": "Demo by URL",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
    )
    result = Demo(stack.mcp_url, DEMO_USERNAME, DEMO_PASSWORD, client_id_url=client_id).run()
    assert result["ok"] is True, result["error"]
    assert result["registration"] == "client-id-metadata-document"
    steps = by_id(result)
    assert steps["registration"]["request"] is None
    assert steps["registration"]["facts"] == {"method": "client-id-metadata-document", "client_id": client_id}
    assert steps["authorization"]["request"]["params"]["client_id"] == client_id
    assert steps["tool-call"]["response"]["body"]["result"]["structuredContent"]["client_id"] == client_id
    assert steps["tool-call-write"]["response"]["status"] == 200


@pytest.mark.e2e
def test_browser_mode_catches_the_answer_on_a_loopback_redirect_uri(stack) -> None:
    """Without --username the demo opens the user's browser and listens on 127.0.0.1; here a
    headless browser stands in for the user's."""
    opened: list[str] = []

    def users_browser(url: str) -> None:
        opened.append(url)
        browser = flow.Browser(stack.url, DEMO_USERNAME, DEMO_PASSWORD)
        try:
            callback = browser.authorize(url)
        finally:
            browser.close()
        page = httpx2.get(callback.url)  # the browser follows the redirect to the loopback listener
        assert page.status_code == 200 and "You can close this window" in page.text

    result = Demo(stack.mcp_url, open_browser=users_browser, callback_timeout=30).run()
    assert result["ok"] is True, result["error"]
    assert result["mode"] == "browser"
    assert len(opened) == 2  # the first authorization, and the step-up
    steps = by_id(result)
    redirect_uri = steps["registration"]["request"]["body"]["redirect_uris"][0]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", redirect_uri)
    assert steps["authorization"]["request"]["params"]["redirect_uri"] == redirect_uri
    assert steps["authorization"]["facts"]["pages"] == []
    assert steps["tool-call-write"]["response"]["status"] == 200


@pytest.mark.e2e
def test_demo_stops_at_the_failing_step_and_exits_non_zero(stack) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "mcp_demo", "--url", stack.url, "--username", "no-such-user",
         "--password", "not-the-password", "--json"],
        cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["ok"] is False
    assert result["error"]["step"] == "authorization"
    assert "login as 'no-such-user' failed" in result["error"]["message"]
    assert [step["id"] for step in result["steps"]] == STEP_IDS[:5]
    assert result["steps"][-1]["outcome"] == "failed"


def test_demo_against_nothing_fails_at_the_first_step() -> None:
    result = Demo(f"http://127.0.0.1:{free_port()}/mcp", DEMO_USERNAME, DEMO_PASSWORD, timeout=3).run()
    assert result["ok"] is False
    assert result["error"]["step"] == "mcp-unauthenticated"
    assert len(result["steps"]) == 1 and result["steps"][0]["outcome"] == "failed"


# --- `make demo` on a machine where nothing runs yet ------------------------------------------------
@pytest.mark.e2e
def test_make_demo_starts_the_stack_runs_the_chain_and_stops_it() -> None:
    server = LiveServer(name="demo")  # its port, folder and database; it is never started itself
    try:
        env = server.environment()
        env.pop("PUBLIC_URL")  # as on a developer's machine: settings derive it from PORT
        for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # `make test` runs this suite: start afresh
            env.pop(name, None)
        done = subprocess.run(
            ["make", "-s", "-o", ".venv/.runtime", "demo", f"PORT={server.port}", "DEMO_ARGS=--json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        result = json.loads(done.stdout[done.stdout.index("{") :])
        assert result["ok"] is True
        assert result["url"] == server.mcp_url
        steps = by_id(result)
        assert steps["tool-call"]["response"]["status"] == 200
        assert steps["step-up-refused"]["response"]["status"] == 403
        assert steps["tool-call-write"]["response"]["status"] == 200
        assert "starting the server for the demo" in done.stderr
        with pytest.raises(httpx2.ConnectError):  # stopped again afterwards
            httpx2.get(server.url + "/.well-known/oauth-authorization-server", timeout=2)
    finally:
        server.stop()
