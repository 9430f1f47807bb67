"""The security audit trail: one JSON line per event on the `audit` logger, for both roles.

Events carry ids (user, client, tool) and never a token, code, secret or password: callers pass
only ids and reasons, and `event` drops any field whose name says it holds a credential. User
and client ids are always strings, so the events of both roles join on them (the MCP side
knows the user as the token's subject, a string).

Events: login_succeeded, login_failed, login_locked_out, consent_granted, consent_denied,
token_issued, token_refreshed, token_revoked, refresh_race_refused, refresh_reuse_detected,
code_replayed, client_registered, registration_throttled, client_authentication_failed (a refused
client assertion, with the rule), client_document_refused (a URL client's document), throttled,
client_disabled, grant_revoked_by_user, mcp_unauthorized (401, with the reason), mcp_forbidden (403),
mcp_refused (Host/Origin), mcp_unavailable (503), tool_called (user, client, tool).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger("audit")

# Field names that must never reach the log, whatever a caller passes.
SECRET_FIELDS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "code",
        "code_verifier",
        "client_secret",
        "client_assertion",
        "password",
        "registration_access_token",
        "authorization",
        "cookie",
    }
)
SECRET_SUFFIXES = ("_token", "_secret", "password", "_code")

ID_FIELDS = ("user_id", "client_id")


@functools.lru_cache(maxsize=256)
def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_FIELDS or lowered.endswith(SECRET_SUFFIXES)


def event(name: str, **fields: Any) -> None:
    """Record security event `name` with its context (user_id, client_id, reason, …)."""
    clean = {key: value for key, value in fields.items() if not is_secret_field(key) and value is not None}
    for key in ID_FIELDS:
        if key in clean:
            clean[key] = str(clean[key])
    if logger.isEnabledFor(logging.INFO):
        # The record made and handled as Logger.info would, less its search of the call stack for
        # the caller's file and line, which no audit line shows: a line is written for every 401
        # and every tool call, and that search was an eighth of its cost.
        record = logger.makeRecord(
            logger.name, logging.INFO, __file__, 0, name, (), None, extra={"audit": {"event": name, **clean}}
        )
        logger.handle(record)
