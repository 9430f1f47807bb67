"""The public tool API (mcpserver/api.py), through the real /mcp application in-process."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from mcpserver.testing import InsufficientScope, McpTestClient, ToolFailed


@pytest.fixture
def ada(transactional_db):
    return get_user_model().objects.create_user("ada", password="ada-password-123")


def test_notes_tools_read_and_write(ada) -> None:
    with McpTestClient(ada, scopes=["mcp:read", "mcp:write"]) as mcp:
        created = mcp.call_tool("create_note", {"title": "Groceries", "body": "eggs"})
        assert created["title"] == "Groceries"
        found = mcp.call_tool("search_notes", {"query": "eggs"})
        assert found["total"] == 1
        assert found["notes"][0]["id"] == created["id"]
        who = mcp.call_tool("whoami")
        assert who["user"] == "ada"
        assert who["scopes"] == ["mcp:read", "mcp:write"]


def test_write_tool_needs_write_scope(ada) -> None:
    with McpTestClient(ada, scopes=["mcp:read"]) as mcp:
        with pytest.raises(InsufficientScope) as refused:
            mcp.call_tool("create_note", {"title": "x"})
        assert refused.value.scope == "mcp:write"
        with pytest.raises(ToolFailed, match="Note 99 does not exist"):
            mcp.call_tool("get_note", {"note_id": 99})
