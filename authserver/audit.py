"""The security audit trail: one JSON line per event on the `audit` logger, for both roles.

Events carry ids (user, client, tool) and never a token, code, secret or password: callers pass
only the fields below, and `event` drops any value that looks like a credential.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("audit")

# Field names that must never reach the log, whatever a caller passes.
SECRET_FIELDS = frozenset(
    {"token", "access_token", "refresh_token", "code", "code_verifier", "client_secret", "password"}
)


def event(name: str, **fields: Any) -> None:
    """Record security event `name` with its context (user_id, client_id, reason, …)."""
    clean = {key: value for key, value in fields.items() if key not in SECRET_FIELDS and value is not None}
    logger.info(name, extra={"audit": {"event": name, **clean}})
