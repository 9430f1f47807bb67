"""Who an MCP request acts for: set by the bearer gate from the verified token, read by tools
through `mcpserver.api.current_user()`."""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.contrib.auth import get_user_model


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
