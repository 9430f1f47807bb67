"""Who an MCP request acts for: set by the bearer gate from the verified token, read by tools
through `mcpserver.api.current_user()`."""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.contrib.auth import get_user_model
from mcp.server.mcpserver.exceptions import ToolError

from common.upstream import UpstreamToken, token_source
from common.upstream import UpstreamTokenUnavailable as CommonUnavailable


@dataclass(frozen=True)
class CurrentUser:
    """The user of the access token of the request being handled, the client it was issued to,
    and the scopes it carries (with every scope they imply)."""

    id: int  # the Django user's primary key
    username: str
    client_id: str
    scopes: frozenset[str]

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @cached_property
    def user(self) -> Any:
        """The Django user itself (one query, on first use; from synchronous code)."""
        return get_user_model().objects.get(pk=self.id)

    def upstream_token(self, provider: str | None = None) -> UpstreamToken:
        """The user's live access token at the identity provider they signed in with (`provider`:
        one of theirs, e.g. "github"; default: the last one), refreshed if it expired, for calling
        that provider's APIs on their behalf. Synchronous (queries, maybe a refresh request): from
        an async tool, `await run_sync(user.upstream_token)`. Never return it to the client.

        Raises `UpstreamTokenUnavailable` (a `ToolError`: the client shows its message) when the
        user did not sign in through a provider, or must sign in again."""
        try:
            return token_source().token_for(self.id, provider)
        except CommonUnavailable as exc:
            raise UpstreamTokenUnavailable(str(exc)) from exc


class UpstreamTokenUnavailable(ToolError):
    """No upstream token for this user; the message tells them what to do."""


_current: ContextVar[CurrentUser | None] = ContextVar("mcp_current_user", default=None)


def current_user() -> CurrentUser:
    """The user the MCP request being handled acts for."""
    user = _current.get()
    if user is None:
        # Every request passes the bearer gate first, so this is code running outside a request.
        raise LookupError("current_user() is only available while an MCP request is handled")
    return user


def peek() -> CurrentUser | None:
    return _current.get()


def enter(user: CurrentUser) -> Token:
    """From now on, requests act for `user` (the gate, per request; `leave` with the token)."""
    return _current.set(user)


def leave(token: Token) -> None:
    _current.reset(token)
