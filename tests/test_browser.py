"""The administrator's and the user's experience in a real browser (Debian's Chromium through
Playwright), against a live server, with a screenshot of every page in test-artifacts/screenshots/:

1. admin sign-in → add a client from a preset → the demo user signs in and allows it → the
   application exchanges the code → the user revokes it on Connected apps → its token is refused;
2. the MCP conformance suite's `authorization-code-grant` scenario (0.2.0-alpha.12), the browser
   doing the user's sign-in and consent, for a client the admin registered (after being told why
   its first redirect URI was refused).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time

import httpx2
import pytest
from playwright.sync_api import expect

from democlient import flow, mcp_calls
from tests.support import conformance
from tests.support.browser import (
    LoopbackApp,
    chromium,
    new_page,
    screenshot,
    sign_in,
    sign_in_to_admin,
)
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, DEMO_PASSWORD, DEMO_USERNAME, free_port

pytestmark = pytest.mark.e2e


def whoami(http: httpx2.Client, mcp_url: str, token: str) -> mcp_calls.Reply:
    return mcp_calls.call(http, mcp_url, token, "tools/call", {"name": "whoami", "arguments": {}})


def test_admin_adds_a_preset_client_the_user_connects_then_revokes_it(stack, http: httpx2.Client) -> None:
    with chromium() as browser, LoopbackApp() as app:
        # 1. The administrator signs in and adds Claude Code from its preset.
        admin = new_page(browser, width=1440)  # an operator's desktop: the client lists are wide
        admin.goto(stack.url + "/admin/")
        admin.wait_for_url("**/admin/login/**")
        screenshot(admin, "01-admin-login")
        sign_in_to_admin(admin, stack.url, ADMIN_USERNAME, ADMIN_PASSWORD)

        admin.goto(stack.url + "/admin/authserver/client/add/")
        admin.get_by_role("link", name=re.compile(r"^Claude Code")).click()
        admin.wait_for_url("**/add/?preset=claude-code")
        expect(admin.locator("#id_name")).to_have_value("Claude Code")
        assert admin.locator("#id_redirect_uris").input_value().split() == [
            "http://localhost/callback",
            "http://127.0.0.1/callback",
        ]
        expect(admin.locator('input[name="client_type"][value="public"]')).to_be_checked()
        expect(admin.locator("#id_client_secret")).to_be_hidden()  # a public client has no secret
        screenshot(admin, "02-admin-add-client-from-preset")
        admin.get_by_role("radio", name="Confidential").check()
        expect(admin.locator("#id_client_secret")).to_be_visible()
        admin.get_by_role("radio", name="Public").check()
        expect(admin.locator("#id_client_secret")).to_be_hidden()
        admin.get_by_role("button", name="Save", exact=True).click()
        admin.wait_for_url(stack.url + "/admin/authserver/client/")
        client_id = admin.locator(".messagelist .new-client-id").inner_text()
        row = admin.locator("#result_list tbody tr", has_text=client_id)
        expect(row).to_contain_text("Claude Code")
        expect(row.locator(".field-live_tokens")).to_have_text("0")
        screenshot(admin, "03-admin-client-list")

        # 2. The demo user signs in and allows it (its loopback redirect URI, on any port).
        user = new_page(browser)
        request = flow.AuthorizationRequest(client_id, app.redirect_uri, "mcp:read", stack.mcp_url)
        user.goto(request.url(stack.url + "/authorize"))
        user.wait_for_url("**/accounts/login/**")
        expect(user.locator(".client-name")).to_have_text("Claude Code")
        expect(user.locator(".client-trust .badge")).to_have_text("Verified")
        expect(user.locator(".redirect-host")).to_have_text(app.redirect_uri.split("/")[2])
        screenshot(user, "04-login")
        sign_in(user, DEMO_USERNAME, DEMO_PASSWORD)

        expect(user.locator("#authorizationForm")).to_be_visible()
        expect(user.locator("h1")).to_have_text("Allow Claude Code to use your account?")
        expect(user.locator(".scopes .scope-words")).to_have_text(
            ["See your notes, and list the server's tools, resources and prompts"]
        )
        screenshot(user, "05-consent")
        user.set_viewport_size({"width": 375, "height": 740})  # a phone: nothing wider than the screen
        assert user.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(user, "05-consent-phone")
        user.set_viewport_size({"width": 1100, "height": 800})
        user.get_by_role("button", name="Allow").click()

        params = app.params()
        expect(user.locator("#received")).to_be_visible()
        screenshot(user, "06-back-in-the-application")
        assert params["state"] == request.state
        assert params["iss"] == stack.url

        # 3. The application exchanges the code and calls the MCP server.
        exchanged = flow.exchange_code(http, stack.url + "/token", request, params["code"])
        assert exchanged.status_code == 200, exchanged.text
        access_token = exchanged.json()["access_token"]
        assert whoami(http, stack.mcp_url, access_token).status == 200

        admin.reload()
        expect(admin.locator("#result_list tbody tr", has_text=client_id).locator(".field-live_tokens")).to_have_text(
            "2"
        )

        # 4. The user revokes it on Connected apps.
        user.goto(stack.url + "/account/apps/")
        card = user.locator(f'li.connection[data-client-id="{client_id}"]')
        expect(card.locator("h2")).to_have_text("Claude Code")
        expect(card.locator(".scope-name")).to_have_text(["mcp:read"])
        expect(card.locator(".resource")).to_have_text([stack.mcp_url])
        screenshot(user, "07-connected-apps")
        card.get_by_role("button", name="Revoke access for Claude Code").click()
        expect(user.locator(".messages")).to_have_text("Claude Code can no longer access your account.")
        expect(card).to_have_count(0)
        screenshot(user, "08-connected-apps-after-revoke")

        # 5. Its token is refused at /mcp.
        refused = whoami(http, stack.mcp_url, access_token)
        assert refused.status == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]

        # 6. An unregistered redirect URI is shown to the user, never followed.
        attack = flow.AuthorizationRequest(client_id, "https://attacker.example/cb", "mcp:read", stack.mcp_url)
        answer = user.goto(attack.url(stack.url + "/authorize"))
        assert answer is not None and answer.status == 400
        assert user.url.startswith(stack.url + "/authorize")
        expect(user.locator("h1")).to_contain_text("This application's return address is not registered")
        screenshot(user, "09-error-unregistered-redirect-uri")


class Output:
    """The lines a subprocess prints, collected by a thread so the test can wait for one."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if re.search(pattern, line):
                    return line
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def test_conformance_authorization_code_grant_with_the_browser_consenting(stack, tmp_path) -> None:
    suite = conformance.install(conformance.NEXT)
    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/callback"

    with chromium() as browser:
        # The administrator registers the suite's client, and is told why a first try is refused.
        admin = new_page(browser, width=1440)  # an operator's desktop: the client lists are wide
        sign_in_to_admin(admin, stack.url, ADMIN_USERNAME, ADMIN_PASSWORD)
        admin.goto(stack.url + "/admin/authserver/client/add/")
        admin.locator("#id_name").fill("MCP conformance suite")
        admin.locator("#id_redirect_uris").fill("http://conformance.example/callback")
        admin.get_by_role("button", name="Save", exact=True).click()
        expect(admin.locator("#id_redirect_uris_error")).to_contain_text(
            "uses http on a non-loopback host; use https, or http://127.0.0.1. Plain http would expose"
        )
        screenshot(admin, "10-admin-redirect-uri-refused")
        admin.locator("#id_redirect_uris").fill(redirect_uri)
        admin.get_by_role("button", name="Save", exact=True).click()
        admin.wait_for_url(stack.url + "/admin/authserver/client/")
        client_id = admin.locator(".messagelist .new-client-id").inner_text()

        out = tmp_path / "conformance"
        process = subprocess.Popen(
            suite.command(
                "authorization",
                "--url",
                stack.url,
                "--client-id",
                client_id,
                "--resource",
                stack.mcp_url,
                "--port",
                str(port),
                "-o",
                str(out),
            ),
            env=suite.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output = Output(process)
        try:
            authorize_url = output.wait_for(r"^https?://\S+/authorize\?", timeout=120).strip()
            assert authorize_url.startswith(stack.url + "/authorize?")

            # The browser does what the suite asks of a person: sign in and allow.
            user = new_page(browser)
            user.goto(authorize_url)
            user.wait_for_url("**/accounts/login/**")
            expect(user.locator(".client-name")).to_have_text("MCP conformance suite")
            sign_in(user, DEMO_USERNAME, DEMO_PASSWORD)
            expect(user.locator("#authorizationForm")).to_be_visible()
            screenshot(user, "11-conformance-consent")
            user.get_by_role("button", name="Allow").click()
            user.wait_for_url(f"http://127.0.0.1:{port}/callback?**")
            expect(user.locator("body")).to_contain_text("OK. You can close this page.")

            returncode = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        output.thread.join(timeout=10)

    results = conformance.read_results(out, output.text, returncode)
    statuses = {(check.scenario, check.id): check.status for check in results.checks}
    assert statuses.get(("authorization-code-grant", "authorization-code-grant")) == "SUCCESS", (
        results.summary() + "\n" + output.text
    )
    assert statuses.get(("authorization-server-metadata-endpoint", "authorization-server-metadata")) == "SUCCESS", (
        statuses
    )
    assert results.failed == [], results.summary()
    assert returncode == 0, output.text
