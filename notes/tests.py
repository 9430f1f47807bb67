"""The notes tools, resources and prompts as a client calls them (mcpserver.testing)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from mcpserver.testing import LEGACY, MODERN, InsufficientScope, McpTestClient, ToolFailed


@pytest.fixture
def ada(transactional_db):
    return get_user_model().objects.create_user("ada", password="ada-password-123")


def test_write_read_search_and_delete(ada) -> None:
    with McpTestClient(ada, scopes=["mcp:read", "mcp:write"]) as mcp:
        created = mcp.call_tool("create_note", {"title": " Groceries ", "body": "eggs and flour"})
        assert (created["title"], created["body"], created["uri"]) == (
            "Groceries",
            "eggs and flour",
            f"notes://{created['id']}",
        )
        assert mcp.call_tool("get_note", {"note_id": created["id"]}) == created
        found = mcp.call_tool("search_notes", {"query": "flour eggs"})
        assert found["total"] == 1 and found["notes"][0]["snippet"] == "eggs and flour"
        assert mcp.call_tool("search_notes", {"query": "milk"}) == {"notes": [], "total": 0}
        (text,) = mcp.read_resource(created["uri"])
        assert text["text"] == "# Groceries\n\neggs and flour\n"
        index = mcp.read_resource("notes://index")[0]["text"]
        assert f"- [Groceries](notes://{created['id']})" in index
        (listed,) = [r for r in mcp.list_resources() if r["uri"] == created["uri"]]
        assert (listed["name"], listed["title"]) == (f"note-{created['id']}", "Groceries")
        messages = mcp.get_prompt("summarize_note", {"note_id": str(created["id"])})
        assert messages[0]["content"]["resource"]["text"] == "# Groceries\n\neggs and flour\n"
        # This client speaks 2025-11-25 to a server without sessions: it cannot be asked, so the
        # deletion goes through only with the confirmation given in the conversation.
        assert mcp.call_tool("delete_note", {"note_id": created["id"], "confirm": True}) == {
            "id": created["id"],
            "deleted": True,
        }
        with pytest.raises(ToolFailed, match=f"Note {created['id']} does not exist"):
            mcp.call_tool("get_note", {"note_id": created["id"]})


def test_each_user_sees_only_their_own_notes(ada) -> None:
    bob = get_user_model().objects.create_user("bob")
    with McpTestClient(bob, scopes=["mcp:write"]) as mcp:
        secret = mcp.call_tool("create_note", {"title": "Bob's secret"})
    with McpTestClient(ada, scopes=["mcp:read"]) as mcp:
        assert mcp.call_tool("search_notes")["total"] == 0
        with pytest.raises(ToolFailed, match="does not exist"):
            mcp.call_tool("get_note", {"note_id": secret["id"]})


@pytest.mark.parametrize("protocol", [LEGACY, MODERN])
def test_writing_needs_the_write_scope(ada, protocol: str) -> None:
    with McpTestClient(ada, scopes=["mcp:read"], protocol=protocol) as mcp:
        for tool, arguments in (("create_note", {"title": "x"}), ("delete_note", {"note_id": 1})):
            with pytest.raises(InsufficientScope) as refused:
                mcp.call_tool(tool, arguments)
            assert refused.value.scope == "mcp:write"
        with pytest.raises(ToolFailed, match="'0' is not a note id|0 is not a note id"):
            mcp.call_tool("get_note", {"note_id": 0})


def confirming(delete: bool):
    def answer(question: dict) -> dict:
        assert question["method"] == "elicitation/create"
        return {"action": "accept", "content": {"delete": delete}}

    return answer


def test_deleting_asks_the_person_first_on_2026_07_28(ada) -> None:
    with McpTestClient(ada, scopes=["mcp:write"], protocol=MODERN, answer=confirming(True)) as mcp:
        note = mcp.call_tool("create_note", {"title": "Old plans"})
        assert mcp.call_tool("delete_note", {"note_id": note["id"]}) == {"id": note["id"], "deleted": True}
        (asked,) = mcp.rounds
        (question,) = asked["inputRequests"].values()
        assert question["params"]["message"] == "Delete the note “Old plans” for good?"
        assert question["params"]["requestedSchema"]["required"] == ["delete"]
        assert asked["requestState"].startswith("v1.")  # sealed by the SDK, opaque to the client
        with pytest.raises(ToolFailed, match=f"Note {note['id']} does not exist"):
            mcp.call_tool("get_note", {"note_id": note["id"]})


@pytest.mark.parametrize(
    "answer",
    [confirming(False), lambda question: {"action": "decline"}, lambda question: {"action": "cancel"}],
    ids=["unticked", "declined", "cancelled"],
)
def test_a_note_the_person_does_not_confirm_stays(ada, answer) -> None:
    with McpTestClient(ada, scopes=["mcp:write"], protocol=MODERN, answer=answer) as mcp:
        note = mcp.call_tool("create_note", {"title": "Keep me"})
        # The model's own confirm=true changes nothing for a client that can be asked.
        assert mcp.call_tool("delete_note", {"note_id": note["id"], "confirm": True}) == {
            "id": note["id"],
            "deleted": False,
        }
        assert mcp.call_tool("get_note", {"note_id": note["id"]})["title"] == "Keep me"


@pytest.mark.parametrize("protocol", [LEGACY, MODERN])
def test_a_client_that_cannot_be_asked_must_pass_the_confirmation(ada, protocol: str) -> None:
    # LEGACY: 2025-11-25 without a session; MODERN: 2026-07-28 without the elicitation capability.
    with McpTestClient(ada, scopes=["mcp:write"], protocol=protocol) as mcp:
        note = mcp.call_tool("create_note", {"title": "Draft"})
        with pytest.raises(
            ToolFailed, match="needs the person's confirmation.*call delete_note again with confirm=true"
        ):
            mcp.call_tool("delete_note", {"note_id": note["id"]})
        assert mcp.call_tool("get_note", {"note_id": note["id"]})["title"] == "Draft"
        assert mcp.call_tool("delete_note", {"note_id": note["id"], "confirm": True})["deleted"] is True
