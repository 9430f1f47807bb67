"""A real browser for the end-to-end tests: Debian's Chromium (/usr/bin/chromium, installed by the
Makefile's test set-up) driven through Playwright, which is pointed at it and never downloads a
browser of its own. Plus the two things a browser flow needs around it: a folder for screenshots
(README.md names it) and a loopback "application" that receives the OAuth redirect.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.server import ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# Flags that work in a container without a display, a GPU, or a user namespace sandbox, and that
# keep the browser from calling home (updates, sync, QUIC probes) during a test.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, with a fresh profile (Playwright makes a new temporary
    user-data directory for every launch and removes it afterwards)."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, width: int = 1100, height: int = 800) -> Page:
    """A page in a context of its own (its own cookies: one person)."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class _CallbackHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self.server.received.append(self.path)  # type: ignore[attr-defined]
        body = (
            b"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Signed in</title></head>"
            b"<body><h1>Back in the application</h1><p id='received'>The application received the answer. "
            b"You can close this window.</p></body></html>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.arrived.set()  # type: ignore[attr-defined]

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        pass


class LoopbackApp:
    """What a native MCP client runs during sign-in: an HTTP listener on 127.0.0.1 that receives
    the authorization response at /callback (RFC 8252 §7.3)."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _CallbackHandler)
        self.server.received = []  # type: ignore[attr-defined]
        self.server.arrived = threading.Event()  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def __enter__(self) -> LoopbackApp:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def params(self, timeout: float = 20) -> dict[str, str]:
        """The query of the first request that arrived at /callback."""
        if not self.server.arrived.wait(timeout):  # type: ignore[attr-defined]
            raise AssertionError("the authorization server never sent the browser back to the application")
        path = self.server.received[0]  # type: ignore[attr-defined]
        assert urlsplit(path).path == "/callback", path
        return {key: values[-1] for key, values in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}


def sign_in(page: Page, username: str, password: str) -> None:
    """Fill in and send our sign-in page (the page must be showing it)."""
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in_to_admin(page: Page, base_url: str, username: str, password: str) -> None:
    """Open the admin and sign in on Django's admin login page."""
    page.goto(base_url + "/admin/")
    page.wait_for_url("**/admin/login/**")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base_url + "/admin/")
