"""Log records as JSON lines on stdout, the format container platforms collect (config/settings.py
LOGGING uses it for both roles; an audit event's fields, from `common.audit`, go into its line)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict):
            line.update(audit)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
