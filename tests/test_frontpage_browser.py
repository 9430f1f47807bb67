"""The first five minutes, in a real browser (Debian's Chromium through Playwright) against live
servers, with screenshots in test-artifacts/screenshots/:

1. a fresh server started as `make run` starts it: the front page copies the MCP URL, shows every
   client's instructions and a green self-check, on a desktop and a phone, light and dark;
2. a server whose PUBLIC_URL it cannot be reached at: the self-check names the step that fails and
   the fix, and the page says which URL clients must use;
3. the discovery walk-through's own JavaScript, run from a page of another origin: fetch the
   protected-resource metadata, then its `authorization_servers[0]` itself, and read the issuer's
   metadata (CORS, JSON at the issuer URL).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from playwright.sync_api import Browser, Page, expect

from authserver.presets import PRESETS_AND_GUIDES
from frontpage.selfcheck import STEPS
from tests.support.browser import TIMEOUT_MS, LoopbackApp, chromium, screenshot
from tests.support.server import LiveServer, free_port

pytestmark = pytest.mark.e2e

SERVER_NAME = "notes-mcp-server"  # the key the configuration snippets give this server
VIEWPORTS = {"desktop": (1280, 900), "phone": (375, 740)}


@pytest.fixture(scope="module")
def fresh_server() -> Iterator[LiveServer]:
    """A fresh server as `make run` runs it (DEBUG on, a new database with the demo users)."""
    server = LiveServer(name="front", env={"DEBUG": "1"}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def front_page(browser: Browser, url: str, viewport: str = "desktop", scheme: str = "light") -> Page:
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        locale="en-US",
        color_scheme=scheme,
        permissions=["clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    answer = page.goto(url + "/")
    assert answer is not None and answer.status == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    return page


def test_a_fresh_server_says_how_to_connect_and_that_discovery_works(browser: Browser, fresh_server) -> None:
    page = front_page(browser, fresh_server.url)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    expect(page.locator("h1")).to_have_text("Notes MCP server")
    expect(page.locator(".other-name")).to_have_count(0)  # opened at PUBLIC_URL itself

    # The MCP URL, copied with its button.
    expect(page.get_by_label("MCP server URL")).to_have_value(fresh_server.mcp_url)
    page.get_by_role("button", name="Copy", exact=True).first.click()
    expect(page.locator('button[data-copy="mcp-url"]')).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == fresh_server.mcp_url

    # Every client's instructions, with the text to paste made for this server.
    guides = [preset for preset in PRESETS_AND_GUIDES if preset.steps]
    assert [preset.key for preset in guides] == [
        "claude",
        "claude-code",
        "vscode",
        "cursor",
        "chatgpt",
        "mcp-inspector",
        "sdks",
    ]
    for preset in guides:
        card = page.locator(f"#connect-{preset.key}")
        expect(card).to_be_visible()
        expect(card.locator("h3")).to_have_text(preset.name)
        expect(card.locator("ol.steps li")).to_have_count(len(preset.steps))
        if preset.snippet:
            expect(card.locator("pre code")).to_have_text(preset.snippet(SERVER_NAME, fresh_server.mcp_url))
        expect(card.get_by_role("link", name="documentation")).to_have_attribute("href", preset.documentation)
    page.locator("#connect-vscode").get_by_role("button", name="Copy").click()
    assert '"url": "' + fresh_server.mcp_url + '"' in page.evaluate("navigator.clipboard.readText()")

    # The self-check: one green line per step of the discovery chain.
    lines = page.locator(".self-check li.check")
    expect(lines).to_have_count(len(STEPS))
    expect(page.locator(".self-check li.check.pass")).to_have_count(len(STEPS))
    expect(page.locator(".self-check .check-fix")).to_have_count(0)
    expect(lines.first).to_contain_text("Passed: The MCP endpoint answers, and asks for a token")

    # Where to go next; the administration only for staff.
    expect(page.get_by_role("link", name="Client-developer documentation")).to_have_attribute("href", "/docs/")
    expect(page.get_by_role("link", name="Connected apps").first).to_have_attribute("href", "/account/apps/")
    expect(page.get_by_role("link", name="Administration")).to_have_count(0)
    assert errors == []  # no script or style refused by the Content-Security-Policy

    for viewport in VIEWPORTS:
        for scheme in ("light", "dark"):
            shown = (
                page
                if (viewport, scheme) == ("desktop", "light")
                else front_page(browser, fresh_server.url, viewport, scheme)
            )
            expect(shown.locator(".self-check li.check.pass")).to_have_count(len(STEPS))
            assert shown.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (viewport, scheme)
            background = shown.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == ("rgb(15, 18, 22)" if scheme == "dark" else "rgb(245, 246, 248)")
            screenshot(shown, f"front-page-{viewport}-{scheme}")


def test_a_public_url_the_server_cannot_be_reached_at_shows_the_failing_step_and_the_fix(browser: Browser) -> None:
    elsewhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with LiveServer(name="front-elsewhere", env={"PUBLIC_URL": elsewhere}) as server:
        page = front_page(browser, server.url)
        expect(page.get_by_label("MCP server URL")).to_have_value(elsewhere + "/mcp")
        notice = page.locator(".other-name")
        expect(notice).to_contain_text(
            f"You opened this page at {server.url}, but this server's address is {elsewhere}"
        )
        expect(notice).to_contain_text(f"MCP clients must use exactly {elsewhere}/mcp")

        failing = page.locator(".self-check li.check.fail")
        expect(failing).to_have_count(1)
        expect(failing).to_contain_text("Failed: The MCP endpoint answers, and asks for a token")
        expect(failing.locator(".check-detail")).to_contain_text(f"No answer from {elsewhere}/mcp (ConnectError")
        expect(failing.locator(".check-fix")).to_contain_text("Set PUBLIC_URL to the origin clients dial")
        expect(page.locator(".self-check li.check.skip")).to_have_count(len(STEPS) - 1)
        screenshot(page, "front-page-unreachable-public-url")


WALKTHROUGH = """
async (prmUrl) => {
  const prm = await fetch(prmUrl).then(r => r.json());
  const as = await fetch(prm.authorization_servers[0]).then(r => r.json());
  return { prm, as };
}
"""


def test_the_walkthrough_javascript_reads_the_issuers_metadata_from_another_origin(browser: Browser, stack) -> None:
    with LoopbackApp() as other_origin:
        page = browser.new_page()
        page.goto(other_origin.redirect_uri)  # a page of http://127.0.0.1:<another port>
        assert page.evaluate("location.origin") != stack.url
        result = page.evaluate(WALKTHROUGH, stack.url + "/.well-known/oauth-protected-resource/mcp")
        page.close()
    assert result["prm"]["authorization_servers"] == [stack.url]
    expected = httpx2.get(stack.url + "/.well-known/oauth-authorization-server").json()
    assert result["as"] == expected
    assert result["as"]["issuer"] == stack.url
