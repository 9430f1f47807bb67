"""docs/extending.md, followed literally: `startmcpapp crm` into a directory of its own, the app
added through EXTRA_APPS, a real server, and the official `mcp` SDK client listing and calling the
new read tool, meeting 403 insufficient_scope on the write tool, stepping up, and calling it. The
new tools, resource and scopes appear in the metadata, on the consent page, in /docs/ and in
/api/schema/ with no other edit. And each mistake in a declaration stops start-up with a message
naming the file and the tool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.server import ROOT, LiveServer
from tests.test_sdk_client_e2e import HeadlessUser, MemoryStorage, sdk_oauth

pytestmark = pytest.mark.e2e

GUIDE = (ROOT / "docs" / "extending.md").read_text()


def manage(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    environment.update(env)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def apps_dir(tmp_path_factory) -> Path:
    """Step 1: `mkdir -p ../mcp-apps/crm && python manage.py startmcpapp crm ../mcp-apps/crm`."""
    assert "mkdir -p ../mcp-apps/crm\npython manage.py startmcpapp crm ../mcp-apps/crm" in GUIDE
    apps = tmp_path_factory.mktemp("mcp-apps")
    (apps / "crm").mkdir()
    made = manage("startmcpapp", "crm", str(apps / "crm"), env={"DEBUG": "1"}, cwd=apps)
    assert made.returncode == 0, made.stderr
    assert "EXTRA_APPS=crm" in made.stdout
    assert {p.name for p in (apps / "crm").iterdir()} >= {"models.py", "mcp_tools.py", "tests.py", "migrations"}
    return apps


@pytest.fixture(scope="module")
def crm_server(apps_dir: Path):
    """Step 2: `export PYTHONPATH=$PWD/../mcp-apps EXTRA_APPS=crm` and serve (migrating first)."""
    assert "export PYTHONPATH=$PWD/../mcp-apps EXTRA_APPS=crm" in GUIDE
    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{apps_dir}", "EXTRA_APPS": "crm"}
    with LiveServer(env=env, name="extending") as server:
        yield server


async def use_crm(server: LiveServer, mode: str) -> dict:
    user = HeadlessUser(server)
    answers: list[httpx2.Response] = []

    async def seen(response: httpx2.Response) -> None:
        if response.request.url.path == "/mcp" and response.status_code in (401, 403):
            answers.append(response)

    provider = sdk_oauth(server, user, MemoryStorage())
    try:
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"response": [seen]}) as http,
            Client(streamable_http_client(server.mcp_url, http_client=http), mode=mode) as client,
        ):
            tools = await client.list_tools()
            listed = await client.call_tool("crm_list_entries", {})
            added = await client.call_tool("crm_add_entry", {"title": f"Call Grace ({mode})", "body": "about COBOL"})
            again = await client.call_tool("crm_list_entries", {"query": f"Grace ({mode})"})
            templates = await client.list_resource_templates()
            read = await client.read_resource(added.structured_content["uri"])
        # The consent pages the user answered, as the (signed-in) browser shows them again.
        consent_urls = [url for what, url in user.browser.pages if what == "consent"]
        consent_pages = [user.browser.http.get(url).text for url in consent_urls]
    finally:
        user.browser.close()
    return {
        "tools": {tool.name: tool for tool in tools.tools},
        "listed": listed,
        "added": added,
        "again": again,
        "templates": [t.uri_template for t in templates.resource_templates],
        "read": read,
        "challenges": [(r.status_code, r.headers.get("www-authenticate", "")) for r in answers],
        "authorization_urls": user.authorization_urls,
        "consent_pages": consent_pages,
    }


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_a_new_app_from_the_guide_is_used_by_the_sdk_client_with_a_step_up(crm_server: LiveServer, mode: str) -> None:
    outcome = anyio.run(use_crm, crm_server, mode)

    assert {"crm_list_entries", "crm_add_entry", "whoami", "search_notes"} <= set(outcome["tools"])
    assert outcome["tools"]["crm_list_entries"].annotations.read_only_hint is True
    assert outcome["listed"].is_error is False
    assert outcome["added"].is_error is False
    assert outcome["added"].structured_content["title"] == f"Call Grace ({mode})"
    assert outcome["again"].structured_content == {"result": [outcome["added"].structured_content]}
    assert "crm://entries/{entry_id}" in outcome["templates"]
    assert outcome["read"].contents[0].text == f"# Call Grace ({mode})\n\nabout COBOL\n"

    # The first sign-in asked for the default scopes the 401 named; the write tool's 403 named the
    # new write scope; the client asked the user again, and the call went through.
    statuses = [status for status, _ in outcome["challenges"]]
    assert statuses == [401, 403]
    assert outcome["challenges"][0][1].endswith('scope="crm:read mcp:read"')
    step_up = outcome["challenges"][1][1]
    assert 'error="insufficient_scope"' in step_up
    assert 'error_description="crm_add_entry requires the scope crm:write"' in step_up
    assert step_up.endswith('scope="crm:read crm:write mcp:read"')
    first, second = outcome["authorization_urls"]
    assert "scope=crm%3Aread+mcp%3Aread" in first
    assert "crm%3Awrite" in second

    # The consent pages say what each scope allows, in the app's words.
    assert "See your crm entries" in outcome["consent_pages"][0]
    assert "Add crm entries" not in outcome["consent_pages"][0]
    assert "Add crm entries" in outcome["consent_pages"][1]


def test_the_new_scopes_tools_and_resource_are_documented_everywhere(crm_server: LiveServer, http) -> None:
    prm = http.get(crm_server.url + "/.well-known/oauth-protected-resource/mcp").json()
    assert prm["scopes_supported"] == ["crm:read", "crm:write", "mcp:read", "mcp:write"]
    asm = http.get(crm_server.url + "/.well-known/oauth-authorization-server").json()
    assert {"crm:read", "crm:write"} <= set(asm["scopes_supported"])

    page = http.get(crm_server.url + "/docs/mcp/").text
    for text in ("crm_list_entries", "crm_add_entry", "crm://entries/{entry_id}", "crm:write"):
        assert text in page, text
    index = http.get(crm_server.url + "/docs/").text
    assert "See your crm entries" in index and "Add crm entries" in index

    schema = http.get(crm_server.url + "/api/schema/").json()
    mcp_post = schema["paths"]["/mcp"]["post"]
    tools = {tool["name"]: tool["scope"] for tool in mcp_post["x-mcp-tools"]}
    assert tools["crm_list_entries"] == "crm:read"
    assert tools["crm_add_entry"] == "crm:write"
    resources = {item["uri"]: item["scope"] for item in mcp_post["x-mcp-resources"]}
    assert resources["crm://entries/{entry_id}"] == "crm:read"
    scopes = schema["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]["scopes"]
    assert scopes["crm:write"] == "Add crm entries"


def test_the_generated_apps_own_tests_pass(apps_dir: Path) -> None:
    """Step 4 of the guide: the app's tests, through mcpserver.testing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{apps_dir}",
        EXTRA_APPS="crm",
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="1",
    )
    env.pop("DATABASE_URL", None)  # the app's tests on SQLite, in memory
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(apps_dir), "crm/tests.py"],
        cwd=apps_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


# --- Mistakes stop start-up, naming the file and the tool -------------------------------------

MISTAKES = {
    "undeclared_scope": (
        "from mcpserver.api import mcp_tool\n\n\n@mcp_tool(scope='crm:erase')\ndef erase_everything() -> str:\n"
        "    return ''\n",
        "mcp.E001",
        "the tool 'erase_everything' needs the scope 'crm:erase', which no app declares",
        4,  # the declaration's first line (its decorator)
    ),
    "duplicate_name": (
        "from mcpserver.api import mcp_tool\n\n\n@mcp_tool(name='whoami')\ndef who() -> str:\n    return ''\n",
        "mcp.E002",
        "the tool 'whoami' is declared twice (also at mcpserver/mcp_tools.py:",
        4,  # the declaration's first line (its decorator)
    ),
    "bad_template": (
        "from mcpserver.api import mcp_resource\n\n\n@mcp_resource('crm://contacts/{id')\n"
        "def contact(id: str) -> str:\n    return id\n",
        "mcp.E003",
        "the resource 'contact' has a URI template that does not parse ('crm://contacts/{id')",
        4,  # the declaration's first line (its decorator)
    ),
}


def broken_app(root: Path, name: str, source: str) -> Path:
    app = root / name
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "mcp_tools.py").write_text(source)
    return app / "mcp_tools.py"


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_mistake_stops_start_up_naming_the_file_and_the_tool(tmp_path: Path, mistake: str) -> None:
    source, check_id, message, line = MISTAKES[mistake]
    path = broken_app(tmp_path, mistake, source)
    env = {"DEBUG": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "EXTRA_APPS": mistake}

    checked = manage("check", env=env)
    assert checked.returncode == 1
    assert f"({check_id}) {path}:{line}: {message}" in checked.stderr, checked.stderr

    # What gunicorn does: build the ASGI application, which refuses to serve.
    started = subprocess.run(
        [sys.executable, "-c", "import config.asgi"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 1
    assert "SystemCheckError" in started.stderr
    assert f"({check_id}) {path}:{line}: {message}" in started.stderr
