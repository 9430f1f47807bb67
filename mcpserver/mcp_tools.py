"""The server's own tools, declared like any app's (mcpserver.api): who a connection acts for, here
and at the identity provider the user signed in with (the example of an upstream token's use)."""

from __future__ import annotations

from typing import Any

import httpx2
from pydantic import BaseModel

from .api import ToolAnnotations, ToolError, current_user, mcp_tool, run_sync

UPSTREAM_TIMEOUT = 10


class Identity(BaseModel):
    user: str
    client_id: str
    scopes: list[str]


@mcp_tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
async def whoami() -> Identity:
    """Who this connection acts for: the signed-in user, the client, and the granted scopes."""
    user = current_user()
    return Identity(user=user.username, client_id=user.client_id, scopes=sorted(user.scopes))


class UpstreamIdentity(BaseModel):
    provider: str
    userinfo: dict[str, Any]


@mcp_tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True))
async def whoami_upstream() -> UpstreamIdentity:
    """Who the signed-in user is at the identity provider they signed in with: the provider's own
    answer (OpenID Connect userinfo, GitHub's /user), fetched with their upstream token."""
    token = await run_sync(current_user().upstream_token)
    try:
        async with httpx2.AsyncClient(timeout=UPSTREAM_TIMEOUT) as client:
            answer = await client.get(
                token.userinfo_url, headers={"Authorization": token.authorization, "Accept": "application/json"}
            )
    except httpx2.HTTPError as exc:
        raise ToolError(f"The identity provider ({token.provider}) could not be reached.") from exc
    if answer.status_code != 200:
        raise ToolError(f"The identity provider ({token.provider}) refused the request (HTTP {answer.status_code}).")
    return UpstreamIdentity(provider=token.provider, userinfo=answer.json())
