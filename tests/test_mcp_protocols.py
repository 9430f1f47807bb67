"""Both MCP protocol generations on one URL, with the server's real content: the 2025-xx
Streamable HTTP (`initialize`, SSE responses) and the stateless 2026-07-28 revision
(`server/discover`, routing headers, `resultType`, `ttlMs`/`cacheScope`)."""

from __future__ import annotations

import httpx2
import pytest

from democlient import mcp_calls
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def writer(stack: LiveServer) -> dict:
    from tests.conftest import TokenKit

    with httpx2.Client(timeout=30) as http:
        return TokenKit(stack, http).tokens("mcp:read mcp:write")


def call(http, stack, writer, method, params=None, version=mcp_calls.LEGACY):
    reply = mcp_calls.call(http, stack.mcp_url, writer["access_token"], method, params, version=version)
    assert reply.status == 200, (reply.status, reply.message)
    assert reply.error is None, reply.error
    return reply


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_initialize_negotiates_the_clients_version(stack, http, writer, version: str) -> None:
    reply = mcp_calls.initialize(http, stack.mcp_url, writer["access_token"], version=version)
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"  # nothing to stream: one JSON body
    assert "mcp-session-id" not in reply.headers  # stateless by default
    result = reply.result
    assert result["protocolVersion"] == version
    assert result["serverInfo"]["name"] == "notes-mcp"
    assert set(result["capabilities"]) >= {"tools", "resources", "prompts", "completions"}


def test_server_discover_in_the_stateless_revision(stack, http, writer) -> None:
    reply = call(http, stack, writer, "server/discover", version=mcp_calls.MODERN)
    result = reply.result
    assert result["resultType"] == "complete"
    assert result["supportedVersions"] == ["2026-07-28"]
    assert {"tools", "resources", "prompts"} <= set(result["capabilities"])
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "notes-mcp"
    assert result["ttlMs"] == 60000
    assert result["cacheScope"] == "public"


def test_listing_carries_cache_hints_in_the_stateless_revision(stack, http, writer) -> None:
    tools = call(http, stack, writer, "tools/list", version=mcp_calls.MODERN).result
    assert (tools["resultType"], tools["ttlMs"], tools["cacheScope"]) == ("complete", 60000, "public")
    names = [tool["name"] for tool in tools["tools"]]
    assert {"whoami", "search_notes", "get_note", "create_note", "delete_note"} <= set(names)
    resources = call(http, stack, writer, "resources/list", version=mcp_calls.MODERN).result
    assert (resources["ttlMs"], resources["cacheScope"]) == (0, "private")  # they are the user's own


@pytest.mark.parametrize("version", [mcp_calls.LEGACY, mcp_calls.MODERN])
def test_notes_round_trip_through_tools_resources_prompts_and_completion(stack, http, writer, version) -> None:
    created = call(
        http,
        stack,
        writer,
        "tools/call",
        {"name": "create_note", "arguments": {"title": f"Groceries {version}", "body": "eggs, milk"}},
        version,
    ).result
    assert created["isError"] is False
    note = created["structuredContent"]
    uri = f"notes://{note['id']}"
    assert note["uri"] == uri

    found = call(
        http, stack, writer, "tools/call", {"name": "search_notes", "arguments": {"query": version}}, version
    ).result["structuredContent"]
    assert [n["id"] for n in found["notes"]] == [note["id"]]

    listed = call(http, stack, writer, "resources/list", version=version).result["resources"]
    assert uri in [r["uri"] for r in listed]
    assert "notes://index" in [r["uri"] for r in listed]
    templates = call(http, stack, writer, "resources/templates/list", version=version).result
    assert "notes://{note_id}" in [t["uriTemplate"] for t in templates["resourceTemplates"]]
    read = call(http, stack, writer, "resources/read", {"uri": uri}, version).result
    assert read["contents"][0]["text"] == f"# Groceries {version}\n\neggs, milk\n"
    assert read["contents"][0]["mimeType"] == "text/markdown"

    prompt = call(
        http,
        stack,
        writer,
        "prompts/get",
        {"name": "summarize_note", "arguments": {"note_id": str(note["id"])}},
        version,
    ).result
    assert prompt["messages"][0]["content"]["resource"]["uri"] == uri
    completion = call(
        http,
        stack,
        writer,
        "completion/complete",
        {"ref": {"type": "ref/prompt", "name": "summarize_note"}, "argument": {"name": "note_id", "value": ""}},
        version,
    ).result
    assert str(note["id"]) in completion["completion"]["values"]

    # Neither request can be asked to confirm (no session; no elicitation capability declared):
    # the confirmation given in the conversation is what the deletion needs.
    unconfirmed = call(
        http, stack, writer, "tools/call", {"name": "delete_note", "arguments": {"note_id": note["id"]}}, version
    ).result
    assert unconfirmed["isError"] is True
    assert "confirm=true" in unconfirmed["content"][0]["text"]
    deleted = call(
        http,
        stack,
        writer,
        "tools/call",
        {"name": "delete_note", "arguments": {"note_id": note["id"], "confirm": True}},
        version,
    ).result
    assert deleted["structuredContent"] == {"id": note["id"], "deleted": True}


def test_tool_argument_errors_are_results_not_protocol_errors(stack, http, writer) -> None:
    reply = call(http, stack, writer, "tools/call", {"name": "create_note", "arguments": {"title": ""}})
    assert reply.result["isError"] is True


def test_modern_request_whose_headers_disagree_with_the_body_is_refused(stack, http, writer) -> None:
    reply = mcp_calls.call(
        http,
        stack.mcp_url,
        writer["access_token"],
        "tools/call",
        {"name": "whoami", "arguments": {}},
        version=mcp_calls.MODERN,
        headers={"Mcp-Name": "search_notes"},
    )
    assert reply.status == 400
    assert reply.error["code"] == -32020


def test_progress_notifications_stream_on_the_post_response(stack, http, writer) -> None:
    reply = call(
        http,
        stack,
        writer,
        "tools/call",
        {"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "p1"}},
    )
    assert reply.headers["content-type"].startswith("text/event-stream")
    progress = [n for n in reply.notifications if n["method"] == "notifications/progress"]
    assert [n["params"]["progress"] for n in progress] == [0, 50, 100]
    assert reply.result["isError"] is False


@pytest.mark.parametrize("version", [mcp_calls.LEGACY, mcp_calls.MODERN])
def test_answers_that_cannot_stream_are_plain_json(stack, http, writer, version) -> None:
    for method, params in [
        ("tools/list", None),
        ("tools/call", {"name": "whoami", "arguments": {}}),
        ("resources/list", None),
    ]:
        reply = call(http, stack, writer, method, params, version)
        assert reply.headers["content-type"] == "application/json", method
    # A tool that reports progress answers with an event stream.
    streaming = call(
        http,
        stack,
        writer,
        "tools/call",
        {"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "p2"}},
        version,
    )
    assert streaming.headers["content-type"].startswith("text/event-stream")
    assert [n["params"]["progress"] for n in streaming.notifications] == [0, 50, 100]
