"""The issuer URL `/`, in process: the front page for people (the MCP URL, every well-known
client's instructions from the admin's own preset table, the self-check of the discovery chain,
the notice for a page reached under another name) and the authorization-server metadata for
programs, byte for byte as at /.well-known/oauth-authorization-server, also from the ASGI
router's stored bytes. Plus the favicon, the 404 and 500 pages, and `manage.py mcp_url`.

The self-check runs against real HTTP servers on this machine (tests/support/fake_mcp.py), never
against port 8000: every test here points MCP_URL at one of them or at a closed port."""

from __future__ import annotations

import io
import json
import re
import socket
import time
from collections.abc import Iterator

import httpx2
import pytest
from django.core.management import call_command
from django.test import Client as HttpClient
from django.utils.html import escape
from starlette.testclient import TestClient

from authserver.presets import PRESETS, PRESETS_AND_GUIDES, PRESETS_BY_KEY
from democlient.doctor import CHECKS
from frontpage import guides, selfcheck
from frontpage.negotiation import prefers_page
from tests.support.fake_mcp import fake_mcp_server
from tests.support.server import free_port

# The fixtures: the ASGI application in a test client, and what its router let Django answer.
from tests.test_performance_paths import asgi, captures  # noqa: F401

pytestmark = pytest.mark.django_db

ASM = "/.well-known/oauth-authorization-server"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
GUIDE_KEYS = ["claude", "claude-code", "vscode", "cursor", "chatgpt", "mcp-inspector", "sdks"]


@pytest.fixture(autouse=True)
def own_cache(settings, request) -> None:
    """A cache of this test's own (the self-check's results and lock), and an MCP URL nothing
    listens on unless the test sets its own."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": request.node.name}
    }
    settings.MCP_URL = f"http://127.0.0.1:{free_port()}/mcp"


@pytest.fixture
def outbound(monkeypatch) -> list[str]:
    """Every request that leaves this process over HTTP (the self-check's, in these tests)."""
    sent: list[str] = []
    original = httpx2.HTTPTransport.handle_request

    def counting(self, request):
        sent.append(f"{request.method} {request.url}")
        return original(self, request)

    monkeypatch.setattr(httpx2.HTTPTransport, "handle_request", counting)
    return sent


def page(client: HttpClient, **headers) -> str:
    answer = client.get("/", HTTP_ACCEPT=BROWSER_ACCEPT, **headers)
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/html; charset=utf-8"
    return answer.content.decode()


def check_lines(html: str) -> list[tuple[str, str]]:
    """(status, title) of each self-check line."""
    return re.findall(r'<li class="check (\w+)">.*?<span class="check-status">[^<]*</span> ([^<]+)</p>', html, re.S)


# --- Content negotiation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("accept", "page_wanted"),
    [
        (None, False),
        ("*/*", False),  # fetch() and curl
        ("application/json", False),
        ("application/json, text/html", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html", True),
        (BROWSER_ACCEPT, True),
        ("text/html, application/json", True),
        ("application/json;q=0.5, text/html", True),
    ],
)
def test_who_gets_the_page(accept: str | None, page_wanted: bool) -> None:
    assert prefers_page(accept) is page_wanted


@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
def test_the_issuer_url_answers_its_metadata_to_programs(client: HttpClient, accept: str | None) -> None:
    headers = {"HTTP_ORIGIN": "https://app.example"} | ({"HTTP_ACCEPT": accept} if accept else {})
    document = client.get(ASM, **headers)
    issuer = client.get("/", **headers)
    assert issuer.status_code == 200
    assert issuer.content == document.content
    assert issuer.json()["issuer"] == "http://127.0.0.1:8000"
    for header in ("Content-Type", "ETag", "Cache-Control", "Access-Control-Allow-Origin", "Content-Security-Policy"):
        assert issuer[header] == document[header], header
    assert issuer["Cache-Control"] == "public, max-age=300"
    assert issuer["Access-Control-Allow-Origin"] == "*"
    assert "Accept" in issuer["Vary"]  # never served from a cache to a browser that wants the page

    again = client.get("/", HTTP_ACCEPT="application/json", HTTP_IF_NONE_MATCH=issuer["ETag"])
    assert again.status_code == 304
    assert again.content == b""


def test_browsers_get_the_page_never_cached_and_kept_apart_from_the_json(client: HttpClient) -> None:
    answer = client.get("/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/html; charset=utf-8"
    assert "Accept" in answer["Vary"]
    assert "no-store" in answer["Cache-Control"]
    assert "ETag" not in answer


def test_only_safe_methods(client: HttpClient) -> None:
    assert client.post("/", HTTP_ACCEPT=BROWSER_ACCEPT).status_code == 405


# --- The router's stored bytes ------------------------------------------------------------------------
def without_date(response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.multi_items() if k.lower() != "date"}


def test_the_router_answers_the_issuer_json_as_django_does(asgi: TestClient, captures: list) -> None:  # noqa: F811
    document = asgi.get(ASM)
    first = asgi.get("/", headers={"Accept": "application/json"})
    second = asgi.get("/", headers={"Accept": "*/*"})
    assert [kind[1] for kind in captures] == [ASM, "/"]  # the second answer came from stored bytes
    assert first.content == second.content == document.content
    assert without_date(second) == without_date(first)
    expected = without_date(document)
    expected["vary"] = "Accept, " + expected["vary"] if "vary" in expected else "Accept"
    assert without_date(second) == expected

    browser = asgi.get("/", headers={"Accept": BROWSER_ACCEPT})  # never from the stored JSON
    assert browser.headers["content-type"] == "text/html; charset=utf-8"
    assert [kind[1] for kind in captures] == [ASM, "/"]
    assert asgi.get("/", headers={"Accept": BROWSER_ACCEPT}).headers["content-type"].startswith("text/html")


# --- The page ----------------------------------------------------------------------------------------------
def test_the_page_says_what_the_server_is_and_gives_the_mcp_url(client: HttpClient, settings) -> None:
    html = page(client)
    assert '<h1 id="page-title">Notes MCP server</h1>' in html
    assert f'<input id="mcp-url" type="text" readonly spellcheck="false" value="{settings.MCP_URL}">' in html
    assert '<button type="button" class="primary copy" data-copy="mcp-url">Copy</button>' in html
    assert '<script src="/static/frontpage/copy.js" defer></script>' in html
    assert '<link rel="stylesheet" href="/static/authserver/site.css">' in html
    assert 'href="/docs/"' in html
    assert 'href="/account/apps/"' in html
    assert 'href="/admin/"' not in html  # for staff only
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html.split("<main", 1)[0])  # no CDN


def test_staff_see_the_administration_link(client: HttpClient, django_user_model) -> None:
    django_user_model.objects.create_user("someone", password="password-123")
    client.login(username="someone", password="password-123")
    assert 'href="/admin/"' not in page(client)
    django_user_model.objects.create_superuser("boss", password="password-123")
    client.login(username="boss", password="password-123")
    html = page(client)
    assert '<a href="/admin/">Administration</a>' in html
    assert "Signed in as <strong>boss</strong>" in html


def test_every_client_guide_comes_from_the_admins_preset_table(client: HttpClient, settings) -> None:
    html = page(client)
    assert [g.key for g in guides.guides()] == GUIDE_KEYS
    assert re.findall(r'<article class="card guide" id="connect-([a-z-]+)"', html) == GUIDE_KEYS
    assert [p.key for p in PRESETS] == [p.key for p in PRESETS_AND_GUIDES if p.redirect_uris]
    for preset in PRESETS_AND_GUIDES:
        assert f'<h3 id="guide-{preset.key}">{preset.name}</h3>' in html
        assert preset.documentation.startswith("https://")
        assert f'href="{preset.documentation}"' in html
    url = settings.MCP_URL
    assert f'<code id="snippet-claude-code">claude mcp add --transport http notes-mcp-server {url}</code>' in html
    assert (
        f'<code id="snippet-mcp-inspector">npx @modelcontextprotocol/inspector --transport http --server-url {url}'
        in html
    )
    vscode = json.loads(snippet(html, "vscode"))
    assert vscode == {"servers": {"notes-mcp-server": {"type": "http", "url": url}}}
    cursor = json.loads(snippet(html, "cursor"))
    assert cursor == {"mcpServers": {"notes-mcp-server": {"url": url}}}
    compile(snippet(html, "sdks"), "example.py", "exec")  # the Python example is valid Python
    assert f"MCP_URL = {url!r}" in snippet(html, "sdks")
    # The steps name the URL and the clients' own labels.
    assert f"the remote MCP server URL <code>{url}</code>" in html
    assert "<strong>MCP: Add Server</strong>" in html
    assert "<strong>Settings › Apps › Advanced settings › Developer mode</strong>" in html


def snippet(html: str, key: str) -> str:
    import html as html_module

    match = re.search(rf'<code id="snippet-{key}">(.*?)</code>', html, re.S)
    assert match, key
    return html_module.unescape(match.group(1))


def test_hosted_clients_are_said_to_need_a_public_https_url(client: HttpClient, settings) -> None:
    assert "Claude and ChatGPT connect from their vendors' clouds" in page(client)
    settings.MCP_URL = "https://mcp.example.com/mcp"
    assert "Claude and ChatGPT connect from their vendors" not in page(client)


def test_a_page_reached_under_another_name_says_which_url_to_use(client: HttpClient, settings) -> None:
    assert "other-name" not in page(client, HTTP_HOST="127.0.0.1:8000")
    html = page(client, HTTP_HOST="localhost:8000")
    assert "You opened this page at <code>http://localhost:8000</code>, but this server's address is" in html
    assert f"MCP clients must use exactly <code>{settings.MCP_URL}</code>" in html
    assert "<code>PUBLIC_URL=http://localhost:8000</code>" in html
    assert "other-name" in page(client, HTTP_HOST="127.0.0.1:8001")  # another port is another origin


# --- The self-check ------------------------------------------------------------------------------------------
def test_a_working_server_gets_a_green_line_per_step(client: HttpClient, settings, outbound: list) -> None:
    with fake_mcp_server() as url:
        settings.MCP_URL = url
        html = page(client)
        assert check_lines(html) == [("pass", step.title.replace("'", "&#x27;")) for step in selfcheck.STEPS]
        assert "Fix:" not in html
        assert '<p class="check-summary pass"><a href="#check-title">Self-check: every step' in html
        assert f"walked the way clients walk it, from <code>{url}</code>" in html
        assert len(outbound) > 10  # the doctor's whole walk
        sent = len(outbound)
        page(client)
        page(client)
        assert len(outbound) == sent  # within the minute, the stored result: no request at all


def test_a_broken_step_is_red_with_its_fix(client: HttpClient, settings) -> None:
    with fake_mcp_server("issuer_trailing_slash") as url:
        settings.MCP_URL = url
        html = page(client)
    lines = check_lines(html)
    assert [status for status, _title in lines] == ["pass", "pass", "pass", "fail", "pass", "pass"]
    assert "issuer is &#x27;" in html
    doctor_fix = next(check.fix for check in CHECKS if check.id == "asm.issuer")
    assert f'<p class="check-fix"><strong>Fix:</strong> {escape(doctor_fix)}</p>' in html


def test_the_self_check_can_be_turned_off(client: HttpClient, settings, outbound: list) -> None:
    settings.FRONT_PAGE_SELF_CHECK = False
    html = page(client)
    assert "The self-check is off on this server (FRONT_PAGE_SELF_CHECK=0)" in html
    assert check_lines(html) == []
    assert outbound == []


def test_every_doctor_check_belongs_to_a_step() -> None:
    listed = [check_id for step in selfcheck.STEPS for check_id in step.checks]
    assert sorted(listed) == sorted(check.id for check in CHECKS)
    report = {"checks": [{"id": "new.check", "status": "fail", "detail": "d", "fix": "f"}]}
    assert selfcheck.step_lines(report)[-1] == {
        "title": "Everything else the doctor checks",
        "status": "fail",
        "detail": "d",
        "fix": "f",
    }


def test_an_unreachable_mcp_url_fails_the_first_step_with_one_request(
    client: HttpClient, settings, outbound: list
) -> None:
    html = page(client)
    lines = check_lines(html)
    assert lines[0][0] == "fail"
    assert {status for status, _title in lines[1:]} == {"skip"}
    assert f"No answer from {settings.MCP_URL} (ConnectError" in html
    assert "Set PUBLIC_URL to the origin clients dial" in html
    assert '<p class="check-summary fail"><a href="#check-title">Self-check: a step of the discovery' in html
    assert outbound == [f"POST {settings.MCP_URL}"]  # nothing else tried after no answer


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"


def test_a_silent_mcp_url_costs_one_short_timeout(client: HttpClient, settings, monkeypatch, silent_server) -> None:
    monkeypatch.setattr(selfcheck, "REQUEST_TIMEOUT", 0.5)
    settings.MCP_URL = silent_server
    started = time.monotonic()
    html = page(client)
    assert time.monotonic() - started < 3
    assert "No answer from" in html and "ReadTimeout" in html
    assert check_lines(html)[0][0] == "fail"


def test_the_page_does_not_wait_long_for_a_slow_check(client: HttpClient, settings, monkeypatch, silent_server) -> None:
    monkeypatch.setattr(selfcheck, "REQUEST_TIMEOUT", 1.5)
    monkeypatch.setattr(selfcheck, "WAIT_SECONDS", 0.2)
    settings.MCP_URL = silent_server
    started = time.monotonic()
    html = page(client)
    assert time.monotonic() - started < 1.2
    assert "The self-check is still running" in html
    assert check_lines(html) == []
    deadline = time.monotonic() + 10  # the run finishes in the background; a later page shows it
    while "still running" in html and time.monotonic() < deadline:
        time.sleep(0.3)
        html = page(client)
    assert check_lines(html)[0][0] == "fail"


def test_the_budget_caps_a_whole_run(monkeypatch) -> None:
    budget = selfcheck.Budget(0.0)
    with pytest.raises(Exception, match="budget is spent"):
        budget.handle_request(httpx2.Request("GET", "http://127.0.0.1:9/"))


# --- Around the page ------------------------------------------------------------------------------------------
def test_the_favicon_is_served_small_and_cached(client: HttpClient) -> None:
    answer = client.get("/favicon.ico")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "image/x-icon"
    assert answer["Cache-Control"] == "public, max-age=86400"
    body = b"".join(answer.streaming_content)
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert len(body) < 2048
    assert client.get("/static/authserver/site.css")["Cache-Control"] != "public, max-age=86400"


def test_the_404_page_is_the_projects_own(client: HttpClient) -> None:
    answer = client.get("/nothing-here", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert answer.status_code == 404
    html = answer.content.decode()
    assert '<link rel="stylesheet" href="/static/authserver/site.css">' in html
    assert "There is nothing at /nothing-here" in html
    assert '<a href="/">This server\'s front page</a>' in html


@pytest.mark.urls("tests.support.failing_urls")
def test_the_500_page_is_the_projects_own(settings) -> None:
    assert settings.DEBUG is False
    answer = HttpClient(raise_request_exception=False).get("/fails", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert answer.status_code == 500
    html = answer.content.decode()
    assert '<link rel="stylesheet" href="/static/authserver/site.css">' in html
    assert "Something went wrong" in html
    assert "Traceback" not in html


def test_mcp_url_prints_the_one_url_to_paste(settings) -> None:
    out = io.StringIO()
    call_command("mcp_url", stdout=out, no_color=True)
    text = out.getvalue()
    assert f"\n    {settings.MCP_URL}\n" in text
    assert "clients refuse http://localhost:" in text
    assert f"{settings.PUBLIC_URL}/" in text


def test_the_presets_table_is_what_the_admin_offered_before() -> None:
    assert PRESETS_BY_KEY["claude"].redirect_uris == (
        "https://claude.ai/api/mcp/auth_callback",
        "https://claude.com/api/mcp/auth_callback",
    )
    assert "sdks" not in PRESETS_BY_KEY  # no fixed redirect URIs: no admin preset
