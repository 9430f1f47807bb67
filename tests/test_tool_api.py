"""The public tool API (mcpserver/api.py) through the real /mcp application, in-process: scopes of
tools, resources and prompts in both protocol generations, the user inside a tool, synchronous
and async functions, streaming inferred from a Context parameter, and the registry's checks."""

from __future__ import annotations

import base64
import json

import pytest
from django.contrib.auth import get_user_model
from pydantic import BaseModel

from common.scopes import ScopeRegistry
from mcpserver import api
from mcpserver.checks import check_registry
from mcpserver.registry import Declaration, Registry, registry, scope_rules
from mcpserver.server import build_server
from mcpserver.testing import (
    LEGACY,
    MODERN,
    InsufficientScope,
    McpError,
    McpTestClient,
    ToolFailed,
    declarations_undone,
)

BOTH = pytest.mark.parametrize("protocol", [LEGACY, MODERN])


class Owner(BaseModel):
    id: int
    name: str
    open: bool


@pytest.fixture
def ada(transactional_db):
    return get_user_model().objects.create_user("ada", password="ada-password-123")


@pytest.fixture
def vault():
    """A small app of the test's own: a scope beyond the baseline on a tool, a resource, a
    resource template and a prompt; a sync tool, an async one, and one that takes a Context."""
    with declarations_undone():
        secret = api.declare_scope("vault:open", "Open your vault")

        @api.mcp_tool(scope=secret)
        def vault_owner() -> Owner:
            """Whose vault, from a database thread."""
            user = api.current_user()
            return Owner(id=user.id, name=user.user.get_username(), open=user.has_scope(secret))

        @api.mcp_tool
        async def vault_echo(text: str) -> str:
            """Echoes, on the event loop."""
            return text + "!"

        @api.mcp_tool
        async def vault_progress(ctx: api.Context) -> str:
            """Reports progress, so it streams."""
            await ctx.report_progress(progress=1, total=1)
            return "done"

        @api.mcp_resource("vault://key", scope=secret, mime_type="text/plain")
        def vault_key() -> str:
            """The key."""
            return "k3y"

        @api.mcp_resource("vault://items/{item}", scope=secret, mime_type="text/plain")
        def vault_item(item: str) -> str:
            """One item."""
            return f"item {item}"

        @api.mcp_prompt(scope=secret)
        def vault_prompt(topic: str) -> str:
            """A prompt about the vault."""
            return f"Tell me about {topic}"

        yield secret


@BOTH
def test_resource_template_and_prompt_scopes_are_enforced_like_tools(ada, vault: str, protocol: str) -> None:
    with McpTestClient(ada, scopes=["mcp:read"], protocol=protocol) as mcp:
        for call in (
            lambda: mcp.call_tool("vault_owner"),
            lambda: mcp.read_resource("vault://key"),
            lambda: mcp.read_resource("vault://items/42"),
            lambda: mcp.get_prompt("vault_prompt", {"topic": "keys"}),
        ):
            with pytest.raises(InsufficientScope) as refused:
                call()
            assert refused.value.scope == "vault:open"
        assert mcp.call_tool("vault_echo", {"text": "hi"}) == {"result": "hi!"}  # baseline only
    with McpTestClient(ada, scopes=["mcp:read", vault], protocol=protocol) as mcp:
        assert mcp.call_tool("vault_owner") == {"id": ada.pk, "name": "ada", "open": True}
        assert mcp.read_resource("vault://key")[0]["text"] == "k3y"
        assert mcp.read_resource("vault://items/42")[0]["text"] == "item 42"
        (message,) = mcp.get_prompt("vault_prompt", {"topic": "keys"})
        assert message["content"]["text"] == "Tell me about keys"


def test_the_403_names_every_scope_for_one_step_up(ada, vault: str) -> None:
    with McpTestClient(ada, scopes=["mcp:read"]) as mcp:
        answer = raw_post(mcp, {"name": "vault_owner", "arguments": {}})
    assert answer.status_code == 403
    assert answer.headers["www-authenticate"].endswith('scope="mcp:read vault:open"')
    assert answer.json()["error_description"] == "vault_owner requires the scope vault:open"


def raw_post(mcp: McpTestClient, params: dict, headers: dict | None = None, method: str = "tools/call"):
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    sent = {
        "Authorization": f"Bearer {mcp.token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": LEGACY,
        **(headers or {}),
    }
    return mcp.http.post("/mcp", content=json.dumps(body), headers=sent)


def test_a_base64_mcp_name_is_judged_by_the_name_it_encodes(ada) -> None:
    """2026-07-28 lets a client wrap Mcp-Name in Base64; the gate reads it as the SDK does."""
    encoded = "=?base64?" + base64.b64encode(b"create_note").decode() + "?="
    with McpTestClient(ada, scopes=["mcp:read"], protocol=MODERN) as mcp:
        params = {
            "name": "create_note",
            "arguments": {"title": "sneaky"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        }
        answer = raw_post(
            mcp, params, {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": encoded}
        )
    assert answer.status_code == 403
    assert answer.json()["error_description"] == "create_note requires the scope mcp:write"


def test_only_tools_that_take_a_context_stream(ada, vault: str) -> None:
    with McpTestClient(ada, scopes=["mcp:read"]) as mcp:
        quiet = raw_post(mcp, {"name": "vault_echo", "arguments": {"text": "a"}})
        streaming = raw_post(mcp, {"name": "vault_progress", "arguments": {}, "_meta": {"progressToken": 7}})
    assert quiet.headers["content-type"] == "application/json"
    assert streaming.headers["content-type"].startswith("text/event-stream")
    assert '"method":"notifications/progress"' in streaming.text.replace(" ", "")
    assert "vault_echo" in scope_rules().quiet_tools
    assert "vault_progress" not in scope_rules().quiet_tools


def test_inside_the_sdk_a_call_without_a_verified_user_is_refused(vault: str) -> None:
    """The scope is checked again inside the SDK, whatever path a call takes."""
    import asyncio

    server = build_server()
    with pytest.raises(Exception, match="requires the scope vault:open"):
        asyncio.run(server.call_tool("vault_owner", {}))


def test_unknown_tool_is_a_protocol_error_not_a_403(ada) -> None:
    with McpTestClient(ada, scopes=["mcp:read"]) as mcp, pytest.raises((McpError, ToolFailed)):
        mcp.call_tool("no_such_tool")


# --- The registry's checks ----------------------------------------------------------------------


def only(*declarations: Declaration) -> Registry:
    source = Registry()
    source.declarations.extend(declarations)
    return source


def sync_tool() -> str:
    """A tool."""
    return ""


def test_an_undeclared_scope_names_the_tool_and_file() -> None:
    errors = check_registry(source=only(Declaration("tool", "erase_all", "crm:erase", sync_tool, "crm/mcp_tools.py:7")))
    assert [(e.id, e.msg) for e in errors] == [
        (
            "mcp.E001",
            "crm/mcp_tools.py:7: the tool 'erase_all' needs the scope 'crm:erase', which no app declares "
            "(declare_scope('crm:erase', ...) in an mcp_tools.py)",
        )
    ]


def test_two_tools_with_one_name_name_both_files() -> None:
    errors = check_registry(
        source=only(
            Declaration("tool", "whoami", "mcp:read", sync_tool, "mcpserver/mcp_tools.py:16"),
            Declaration("tool", "whoami", "mcp:read", sync_tool, "crm/mcp_tools.py:3"),
        )
    )
    assert [(e.id, e.msg) for e in errors] == [
        (
            "mcp.E002",
            "crm/mcp_tools.py:3: the tool 'whoami' is declared twice (also at mcpserver/mcp_tools.py:16); "
            "names must be unique",
        )
    ]


def test_a_template_that_does_not_parse_names_the_resource_and_file() -> None:
    def broken(id: str) -> str:  # noqa: A002
        return id

    errors = check_registry(
        source=only(Declaration("resource", "contact", "mcp:read", broken, "crm/mcp_tools.py:9", uri="crm://{id"))
    )
    assert [e.id for e in errors] == ["mcp.E003"]
    assert errors[0].msg.startswith("crm/mcp_tools.py:9: the resource 'contact' has a URI template that does not parse")


def test_what_the_sdk_refuses_names_the_resource_and_file() -> None:
    def mismatched(name: str) -> str:
        return name

    errors = check_registry(
        source=only(Declaration("resource", "contact", "mcp:read", mismatched, "crm/mcp_tools.py:11", uri="crm://{id}"))
    )
    assert [e.id for e in errors] == ["mcp.E006"]
    assert errors[0].msg.startswith("crm/mcp_tools.py:11: the resource 'contact' is refused by the MCP SDK:")


def test_a_sync_function_with_a_context_is_refused() -> None:
    def needs_context(ctx: api.Context) -> str:
        return ""

    errors = check_registry(source=only(Declaration("tool", "t", "mcp:read", needs_context, "x.py:1")))
    assert [e.id for e in errors] == ["mcp.E004"]


def test_the_installed_apps_declare_nothing_wrong() -> None:
    assert check_registry() == []
    names = [d.name for d in registry.of_kind("tool")]
    assert names[:6] == ["whoami", "whoami_upstream", "search_notes", "get_note", "create_note", "delete_note"]


def test_a_scope_declared_twice_differently_is_an_error() -> None:
    scopes = ScopeRegistry()
    scopes.declare("crm:read", "See your contacts", where="a.py:1")
    scopes.declare("crm:read", "See your contacts", where="b.py:1")  # the same meaning: fine
    assert scopes.problems == []
    scopes.declare("crm:read", "Read everything", where="c.py:2")
    scopes.declare("bad scope", "x", where="d.py:3")
    assert [p.message for p in scopes.problems] == [
        "c.py:2: the scope 'crm:read' is declared differently at a.py:1; declare it once",
        "d.py:3: 'bad scope' is not a valid OAuth scope name (RFC 6749)",
    ]


def test_implied_scopes_are_transitive_and_defaults_feed_the_challenge() -> None:
    scopes = ScopeRegistry()
    scopes.declare("crm:read", "See", default=True)
    scopes.declare("crm:write", "Change", implies=["crm:read"])
    scopes.declare("crm:admin", "Administer", implies=["crm:write"])
    assert scopes.effective(["crm:admin"]) == {"crm:admin", "crm:write", "crm:read"}
    assert scopes.defaults() == ["crm:read", "mcp:read"]
    scopes.declare("crm:ghost", "Haunt", implies=["crm:nothing"])
    assert [p.id for p in scopes.unknown_implied()] == ["mcp.E012"]


def test_the_authorization_server_reads_the_declared_scopes(vault: str, settings) -> None:
    from oauth2_provider.scopes import get_scopes_backend

    backend = get_scopes_backend()
    assert backend.get_all_scopes()[vault] == "Open your vault"
    assert vault in backend.get_available_scopes()
    assert backend.get_default_scopes() == ["mcp:read"]


def test_the_prm_lists_declared_scopes(client, settings, vault: str) -> None:
    settings.RESOURCE_SCOPES_TEST = 1  # a changed setting drops the stored documents, built before the scope
    answer = client.get("/.well-known/oauth-protected-resource/mcp")
    assert answer.json()["scopes_supported"] == ["mcp:read", "mcp:write", "vault:open"]
    del settings.RESOURCE_SCOPES_TEST


def test_the_asgi_application_refuses_to_start_with_a_misdeclared_tool() -> None:
    from django.core.management.base import SystemCheckError

    from mcpserver.app import build_mcp_app

    with declarations_undone():
        api.mcp_tool(scope="nobody:declared")(sync_tool)
        with pytest.raises(SystemCheckError, match="needs the scope 'nobody:declared'"):
            build_mcp_app()


def test_the_test_client_speaks_the_stateless_revision(ada) -> None:
    with McpTestClient(ada, protocol=MODERN) as mcp:
        assert {"whoami", "search_notes"} <= {tool["name"] for tool in mcp.list_tools()}
