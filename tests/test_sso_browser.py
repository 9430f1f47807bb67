"""The whole chain in Chromium, with a REAL OpenID Connect provider (panva's oidc-provider on
loopback): the official `mcp` SDK client → our /authorize → our sign-in page → the provider's
sign-in and consent → back to our consent page with the original request → the token → MCP calls
whose `whoami` names the upstream identity and whose `whoami_upstream` returns the provider's own
userinfo, through the person's upstream token (stored encrypted, refreshed after it expired,
never shown to the client). Then MFA for a local account: enrolment and the prompt.

Screenshots (test-artifacts/screenshots/): the sign-in page with the provider button (also at
phone width, dark), our consent page after the provider, the MFA enrolment, the recovery codes
and the MFA prompt.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import anyio
import httpx2
import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from cryptography.fernet import Fernet
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from playwright.sync_api import Page

from tests.support.browser import LoopbackApp, chromium, new_page, screenshot
from tests.support.oidc_provider import PASSWORD, OidcProvider
from tests.support.server import DEMO_PASSWORD, DEMO_USERNAME, LiveServer
from tests.support.upstream import sso_server
from tests.test_sdk_client_e2e import MemoryStorage

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="module")
def sso_browser_stack(oidc_provider: OidcProvider) -> Iterator[LiveServer]:
    server = sso_server(oidc_provider, name="ssobrowser", UPSTREAM_TOKEN_KEYS=UPSTREAM_KEY).start()
    try:
        yield server
    finally:
        server.stop()


def no_csp_violations(page: Page) -> list[str]:
    """Collects the console's Content-Security-Policy reports (a blocked form redirect shows here)."""
    found: list[str] = []
    page.on(
        "console", lambda message: found.append(message.text) if "Content Security Policy" in message.text else None
    )
    return found


class ChromiumUser:
    """The person at the browser: our sign-in page, the provider's pages, our consent page."""

    def __init__(self, server: LiveServer, provider: OidcProvider, loopback: LoopbackApp) -> None:
        self.server = server
        self.provider = provider
        self.loopback = loopback
        self.violations: list[str] = []

    async def redirect_handler(self, authorization_url: str) -> None:
        await anyio.to_thread.run_sync(self.browse, authorization_url)

    async def callback_handler(self) -> AuthorizationCodeResult:
        params = self.loopback.params()
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    def browse(self, authorization_url: str) -> None:
        with chromium() as browser:
            page = new_page(browser)
            self.violations = no_csp_violations(page)
            page.goto(authorization_url)
            page.wait_for_url(self.server.url + "/accounts/login/**")
            button = page.get_by_role("button", name="Continue with Test IdP")
            assert button.is_visible()
            assert page.get_by_label("Password").is_visible()  # LOCAL_LOGIN is on by default
            screenshot(page, "sso-sign-in-with-provider-buttons")
            self.phone_dark_screenshot(browser, page.url)
            button.click()
            # The provider's own pages: its sign-in, then its consent.
            page.wait_for_url(self.provider.issuer + "/interaction/**")
            page.locator("input[name=login]").fill("ada")
            page.locator("input[name=password]").fill(PASSWORD)
            page.get_by_role("button", name="Sign-in").click()
            page.get_by_role("button", name="Continue").click()
            # Back on our consent page, with the client's original request.
            page.wait_for_url(self.server.url + "/authorize?**")
            assert page.locator(".who strong").inner_text() == "ada"
            screenshot(page, "sso-consent-after-the-provider")
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(self.loopback.redirect_uri + "**")

    def phone_dark_screenshot(self, browser, url: str) -> None:
        context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark", locale="en-US")
        phone = context.new_page()
        phone.goto(url)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the sign-in page scrolls sideways at phone width ({width}px)"
        screenshot(phone, "sso-sign-in-phone-dark")
        context.close()


async def connect_through_the_provider(server: LiveServer, provider: OidcProvider) -> dict:
    with LoopbackApp() as loopback:
        user = ChromiumUser(server, provider, loopback)
        storage = MemoryStorage()
        oauth = OAuthClientProvider(
            server_url=server.mcp_url,
            client_metadata=OAuthClientMetadata(
                client_name="SDK client signing in upstream",
                redirect_uris=[loopback.redirect_uri],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=user.redirect_handler,
            callback_handler=user.callback_handler,
        )
        async with (
            httpx2.AsyncClient(auth=oauth, timeout=60) as http,
            Client(streamable_http_client(server.mcp_url, http_client=http), mode="legacy") as client,
        ):
            whoami = await client.call_tool("whoami", {})
            upstream = await client.call_tool("whoami_upstream", {})
            # The upstream token expires (the test moves its expiry into the past): the next
            # call refreshes it at the provider first.
            before = stored_token(server)
            server.execute("UPDATE socialaccount_socialtoken SET expires_at = %s", ("2000-01-01 00:00:00",))
            after_expiry = await client.call_tool("whoami_upstream", {})
    return {
        "whoami": whoami,
        "upstream": upstream,
        "after_expiry": after_expiry,
        "before": before,
        "after": stored_token(server),
        "client_tokens": storage.tokens,
        "violations": user.violations,
    }


def stored_token(server: LiveServer) -> tuple[str, str, datetime | None]:
    rows = server.execute("SELECT token, token_secret, expires_at FROM socialaccount_socialtoken")
    assert len(rows) == 1, rows
    token, secret, expires = rows[0]
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires).replace(tzinfo=UTC)
    return token, secret, expires


def test_mcp_client_to_the_provider_and_back_with_the_upstream_token(sso_browser_stack, oidc_provider) -> None:
    outcome = anyio.run(connect_through_the_provider, sso_browser_stack, oidc_provider)

    assert outcome["violations"] == []
    assert outcome["whoami"].is_error is False
    assert outcome["whoami"].structured_content["user"] == "ada"  # the account the provider's ada created
    upstream = outcome["upstream"]
    assert upstream.is_error is False, upstream.content
    assert upstream.structured_content["provider"] == "sso"
    userinfo = upstream.structured_content["userinfo"]
    assert userinfo["sub"] == "ada"
    assert userinfo["email"] == "ada@example.com"
    assert userinfo["email_verified"] is True

    # Stored encrypted: the columns hold Fernet ciphertext, and what it opens to is the live token.
    raw_access, raw_refresh, expires = outcome["before"]
    fernet = Fernet(UPSTREAM_KEY.encode())
    access = fernet.decrypt(raw_access.encode()).decode()
    refresh = fernet.decrypt(raw_refresh.encode()).decode()
    assert raw_access.startswith("gAAAA") and access not in raw_access and refresh not in raw_refresh
    assert expires is not None and expires > datetime.now(UTC)

    # Refreshed after it expired: the call succeeded, with a new access token that the provider
    # accepts, stored encrypted again, with a new expiry.
    assert outcome["after_expiry"].is_error is False, outcome["after_expiry"].content
    assert outcome["after_expiry"].structured_content["userinfo"]["sub"] == "ada"
    raw_new, _, new_expiry = outcome["after"]
    new_access = fernet.decrypt(raw_new.encode()).decode()
    assert new_access != access
    assert new_expiry is not None and new_expiry > datetime.now(UTC)
    answer = oidc_provider.userinfo(new_access)
    assert answer.status_code == 200 and answer.json()["sub"] == "ada"

    # Never handed to the MCP client: not in its tokens, not in any tool result.
    client_side = json.dumps(outcome["client_tokens"].model_dump()) + json.dumps(
        [outcome[k].model_dump(mode="json") for k in ("whoami", "upstream", "after_expiry")]
    )
    assert access not in client_side and new_access not in client_side and refresh not in client_side


def totp_code(secret: str, offset: int = 0) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + offset))


def test_mfa_enrolment_and_prompt_for_a_local_account(sso_browser_stack) -> None:
    base = sso_browser_stack.url
    with chromium() as browser:
        page = new_page(browser)
        violations = no_csp_violations(page)
        page.goto(base + "/accounts/login/?next=/accounts/2fa/totp/activate/")
        page.get_by_label("User name").fill(DEMO_USERNAME)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        # allauth asks for the password once more before a second factor is added.
        page.wait_for_url(base + "/accounts/reauthenticate/**")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_url(base + "/accounts/2fa/totp/activate/")
        assert page.get_by_role("heading", name="Set up an authenticator app").is_visible()
        assert page.locator("img.qr").is_visible()
        screenshot(page, "mfa-enrolment")
        secret = page.locator("#authenticator_secret").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
        page.get_by_label("Code from the app").fill(totp_code(secret))
        page.get_by_role("button", name="Activate").click()
        page.wait_for_url(base + "/accounts/2fa/recovery-codes/")
        codes = page.locator("#recovery_codes").input_value().split()
        assert len(codes) == 10
        screenshot(page, "mfa-recovery-codes")
        page.get_by_role("button", name="Sign out").click()

        # Signing in again asks for the second factor; a wrong code is refused.
        page.goto(base + "/accounts/login/?next=/account/apps/")
        page.get_by_label("User name").fill(DEMO_USERNAME)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(base + "/accounts/2fa/authenticate/")
        assert page.get_by_role("heading", name="Two-factor authentication").is_visible()
        screenshot(page, "mfa-prompt")
        page.get_by_label("Code").fill("000000")
        page.get_by_role("button", name="Verify and continue").click()
        assert page.get_by_role("alert").is_visible()
        assert page.url == base + "/accounts/2fa/authenticate/"
        screenshot(page, "mfa-prompt-wrong-code")
        page.get_by_label("Code").fill(codes[0])
        page.get_by_role("button", name="Verify and continue").click()
        page.wait_for_url(base + "/account/apps/")
        assert page.locator(".who strong").inner_text() == DEMO_USERNAME
        assert violations == []
