"""The server's own tool, declared like any app's (mcpserver.api): who a connection acts for."""

from __future__ import annotations

from pydantic import BaseModel

from .api import ToolAnnotations, current_user, mcp_tool


class Identity(BaseModel):
    user: str
    client_id: str
    scopes: list[str]


@mcp_tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
async def whoami() -> Identity:
    """Who this connection acts for: the signed-in user, the client, and the granted scopes."""
    user = current_user()
    return Identity(user=user.username, client_id=user.client_id, scopes=sorted(user.scopes))
