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

Lines obey the logging configuration (the `audit` logger's level, filters, handlers and
propagation: LOGGING can redirect or silence them); where they reach only the plain JSON handler
of config/settings.py, they are written without a log record (`write_line`), the same text.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from common.log_format import JsonLineFormatter, json_line

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
    if not logger.isEnabledFor(logging.INFO):
        return
    clean = {key: value for key, value in fields.items() if not is_secret_field(key) and value is not None}
    for key in ID_FIELDS:
        if key in clean:
            clean[key] = str(clean[key])
    audit = {"event": name, **clean}
    handlers = plain_json_handlers()
    if handlers is None:
        handle_record(name, audit)
    else:
        write_line(handlers, name, audit)


def plain_json_handlers() -> list[logging.StreamHandler] | None:
    """The handlers an INFO record of the audit logger would reach, if each is one whose work is
    known exactly: the standard library's StreamHandler with `JsonLineFormatter` and no filter (the
    handler of config/settings.py LOGGING). None if the record itself is needed: a filter on the
    audit logger, any other handler on the way (a deployer's, pytest's), a record factory of
    someone's own, or no handler at all (the logging module's last resort).

    Walked for every event, as `Logger.callHandlers` walks it, so that a change of the logging
    configuration (dictConfig, a handler added or removed, propagation, levels) applies at once."""
    if logger.filters or logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    handlers = []
    found = False
    current: logging.Logger | None = logger
    while current:
        for handler in current.handlers:
            found = True
            if handler.level > logging.INFO:
                continue
            if (
                type(handler) is not logging.StreamHandler
                or handler.filters
                or type(handler.formatter) is not JsonLineFormatter
            ):
                return None
            handlers.append(handler)
        current = current.parent if current.propagate else None
    return handlers if found else None


def write_line(handlers: list[logging.StreamHandler], name: str, audit: dict[str, Any]) -> None:
    """Write event `name`'s line to `handlers` as `Handler.handle` and `StreamHandler.emit` would
    write the record's, less the record. An audit line is written for every 401 and every tool
    call: making the log record (the process, thread and time fields no audit line shows) and
    passing it down the logging module's calls was half of a line's cost. The text is the one
    `JsonLineFormatter` gives the record (`json_line` for both); the handler's lock, terminator,
    flush and error handling are kept."""
    created = time.time()
    try:
        text = json_line(created, logging.getLevelName(logging.INFO), logger.name, name, audit)
    except Exception:
        # A value that cannot be written (its str() fails): the record's way, whose handlers
        # report it as they would (Handler.handleError), never to the caller.
        handle_record(name, audit)
        return
    for handler in handlers:
        handler.acquire()
        try:
            handler.stream.write(text + handler.terminator)
            handler.flush()
        except RecursionError:  # as StreamHandler.emit: never swallowed
            raise
        except Exception:
            record = make_record(name, audit)
            record.created = created
            handler.handleError(record)
        finally:
            handler.release()


def make_record(name: str, audit: dict[str, Any]) -> logging.LogRecord:
    # As Logger.info makes it, less its search of the call stack for the caller's file and line,
    # which no audit line shows (it was an eighth of a line's cost).
    return logger.makeRecord(logger.name, logging.INFO, __file__, 0, name, (), None, extra={"audit": audit})


def handle_record(name: str, audit: dict[str, Any]) -> None:
    """Event `name` through the logging module, for every handler, filter and configuration."""
    logger.handle(make_record(name, audit))
