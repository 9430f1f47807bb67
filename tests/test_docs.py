"""The client-developer documentation: generated from the code, committed in docs/, served at
/docs/ (the PRM's resource_documentation) with the OpenAPI document at /api/schema/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import Resolver404, resolve
from openapi_spec_validator import validate

from democlient import openapi
from democlient.docpages import GENERATED_NOTE, docs_pages
from democlient.management.commands.build_docs import DOCS_DIR, stale_pages

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def document() -> dict:
    return openapi.example_openapi()


def test_committed_docs_are_what_the_code_generates() -> None:
    assert stale_pages() == [], "docs/ is out of date: run `python manage.py build_docs` and commit docs/"
    generated = set(docs_pages(openapi.example_openapi()))
    # performance.md is written by `make bench`; extending.md (for server developers) by hand.
    committed = {path.name for path in DOCS_DIR.glob("*.md")} - {"performance.md", "extending.md"}
    assert committed == generated, "docs/ holds pages the generator does not make (or lacks some)"


def test_the_drift_check_notices_an_edited_page(tmp_path: Path) -> None:
    for name, text in docs_pages(openapi.example_openapi()).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert stale_pages(tmp_path) == []
    (tmp_path / "token.md").write_text((tmp_path / "token.md").read_text() + "\nA hand edit.\n")
    (tmp_path / "revoke.md").unlink()
    assert stale_pages(tmp_path) == ["token.md", "revoke.md"]


def test_build_docs_check_command_passes_on_the_committed_docs(capsys) -> None:
    call_command("build_docs", "--check")
    assert "docs/ is up to date." in capsys.readouterr().out


def test_openapi_document_is_valid_openapi_3_1(document: dict) -> None:
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": openapi.EXAMPLE_ORIGIN}]


def test_every_documented_path_is_served_and_every_endpoint_is_documented(document: dict) -> None:
    paths = set(document["paths"])
    for path in paths - {settings.MCP_PATH}:
        concrete = path.replace("{client_id}", "some-client")
        try:
            resolve(concrete)
        except Resolver404:
            pytest.fail(f"{path} is documented but not served")
    asm = document["paths"]["/.well-known/oauth-authorization-server"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["example"]
    for key in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint"):
        assert asm[key].removeprefix(openapi.EXAMPLE_ORIGIN) in paths, f"{key} is not documented"
    assert settings.MCP_PATH in paths
    assert "/.well-known/oauth-protected-resource" + settings.MCP_PATH in paths


def test_documented_examples_come_from_the_live_code(document: dict) -> None:
    """The metadata examples are what the views serve, the challenges what the gate sends."""
    live = openapi.live_inputs()
    prm = document["paths"]["/.well-known/oauth-protected-resource/mcp"]["get"]["responses"]["200"]["content"]
    assert prm["application/json"]["example"] == openapi.rebase(
        live.protected_resource_metadata, settings.PUBLIC_URL, openapi.EXAMPLE_ORIGIN
    )
    mcp = document["paths"][settings.MCP_PATH]["post"]
    challenge = mcp["responses"]["401"]["headers"]["WWW-Authenticate"]["examples"]["no token"]["value"]
    assert challenge == (
        f'Bearer resource_metadata="{openapi.EXAMPLE_ORIGIN}/.well-known/oauth-protected-resource/mcp", '
        'scope="mcp:read"'
    )
    step_up = mcp["responses"]["403"]["headers"]["WWW-Authenticate"]["example"]
    assert 'error="insufficient_scope"' in step_up and 'scope="mcp:read mcp:write"' in step_up
    tools = {tool["name"]: tool["scope"] for tool in mcp["x-mcp-tools"]}
    assert tools == {
        "whoami": "mcp:read",
        "whoami_upstream": "mcp:read",
        "search_notes": "mcp:read",
        "get_note": "mcp:read",
        "create_note": "mcp:write",
        "delete_note": "mcp:write",
    }
    flows = document["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]
    assert flows["scopes"] == {
        "mcp:read": "See your notes, and list the server's tools, resources and prompts",
        "mcp:write": "Create, change and delete your notes",
    }
    resources = {item["uri"]: item["scope"] for item in mcp["x-mcp-resources"]}
    assert resources == {"notes://{note_id}": "mcp:read", "notes://index": "mcp:read"}
    prompts = {item["name"]: item["scope"] for item in mcp["x-mcp-prompts"]}
    assert prompts == {"summarize_note": "mcp:read", "draft_note": "mcp:read"}


def test_every_page_has_request_response_errors_and_a_curl_example() -> None:
    pages = docs_pages(openapi.example_openapi())
    for name, text in pages.items():
        assert text.startswith(GENERATED_NOTE + "\n"), name
        if name == "README.md":
            continue
        for heading in ("### Request", "### Response", "### Example"):
            assert heading in text, f"{name} lacks {heading}"
        assert "curl " in text or "open '" in text, name
    for name in ("token.md", "register.md", "mcp.md", "revoke.md", "authorize.md"):
        assert "### Errors" in pages[name], f"{name} lacks its errors"
    assert '"error": "invalid_grant"' in pages["token.md"]
    assert "insufficient_scope" in pages["mcp.md"]


def test_docs_index_is_served_and_links_every_page(client) -> None:
    response = client.get("/docs/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    body = response.content.decode()
    assert "<h1" in body and "documentation for client developers" in body
    links = set(re.findall(r'href="(/docs/[a-z-]*/?)"', body))
    expected = {"/docs/"} | {f"/docs/{name.removesuffix('.md')}/" for name in docs_pages(openapi.example_openapi())}
    expected.discard("/docs/README/")
    assert expected <= links
    # Served pages use this deployment's origin, not the example one of the committed files.
    assert settings.PUBLIC_URL + "/api/schema/" in body


@pytest.mark.parametrize("name", ["protected-resource-metadata", "authorization-server-metadata", "register",
                                  "register-management", "authorize", "token", "revoke", "mcp"])  # fmt: skip
def test_each_docs_page_is_served(client, name: str) -> None:
    response = client.get(f"/docs/{name}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<h2" in body and "<pre><code" in body and "<table>" in body
    assert '.md"' not in body  # links between pages point at served pages


def test_unknown_docs_page_is_a_404(client) -> None:
    assert client.get("/docs/nothing-here/").status_code == 404
    assert client.get("/docs/README/").status_code == 404


def test_api_schema_is_served_as_json_for_this_deployment(client) -> None:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    served = json.loads(response.content)
    assert served["servers"] == [{"url": settings.PUBLIC_URL}]
    assert served == json.loads(json.dumps(openapi.live_openapi()))
    assert client.post("/api/schema/").status_code == 405


def test_resource_documentation_points_at_the_docs(client) -> None:
    prm = client.get("/.well-known/oauth-protected-resource/mcp").json()
    assert prm["resource_documentation"] == settings.PUBLIC_URL + "/docs/"
    assert client.get(prm["resource_documentation"].removeprefix(settings.PUBLIC_URL)).status_code == 200


def test_readme_links_the_docs_and_the_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "](docs/README.md)" in readme
    for text in ("make demo", "mcp_demo", "mcp_doctor", "/api/schema/"):
        assert text in readme, text
