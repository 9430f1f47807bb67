"""Log records as JSON lines on stdout, the format container platforms collect (config/settings.py
LOGGING uses it for both roles; an audit event's fields, from `common.audit`, go into its line).

`json_line` builds a line; the formatter uses it for every record, and `common.audit` for its
events without a record (see there), so both write the same text.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

# The encoder `json.dumps(…, default=str)` would make anew for every call, made once.
_ENCODER = json.JSONEncoder(default=str)


def json_text(line: dict[str, Any]) -> str:
    """`json.dumps(line, default=str)`, the same text, in about half the time for the flat objects
    of log lines: a string or int value is written directly (with json's own escaping of strings,
    the one `json.dumps` uses), anything else by json's encoder, value by value. An audit line is
    written for every 401 and every tool call, and json.dumps cost a quarter of it."""
    parts = []
    for key, value in line.items():
        if type(key) is not str:
            return _ENCODER.encode(line)  # json.dumps converts other keys (or refuses them): let it
        kind = type(value)
        if kind is str:
            text = encode_basestring_ascii(value)
        elif kind is int:
            text = int.__repr__(value)
        else:
            text = _ENCODER.encode(value)
        parts.append(f"{encode_basestring_ascii(key)}: {text}")
    return "{" + ", ".join(parts) + "}"


# (second, text before the milliseconds, text after them) of the last second formatted.
_last_second: tuple[int, str, str] = (-1, "", "")


def iso_time(created: float) -> str:
    """`datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds")`, the same text,
    with the calendar worked out once per second instead of for every line (it was a sixth of an
    audit line's cost). The microseconds are rounded the way `datetime.fromtimestamp` rounds them
    (half to even, carrying into the second), then cut to milliseconds as `isoformat` cuts them."""
    global _last_second
    fraction, whole = math.modf(created)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        micro -= 1_000_000
        whole += 1.0
    elif micro < 0:
        micro += 1_000_000
        whole -= 1.0
    second = int(whole)
    cached = _last_second
    if cached[0] != second:
        head, _, tail = datetime.fromtimestamp(second, tz=UTC).isoformat(timespec="milliseconds").partition(".")
        cached = _last_second = (second, head, tail[3:])
    return f"{cached[1]}.{micro // 1000:03d}{cached[2]}"


def json_line(
    created: float,
    level_name: str,
    logger_name: str,
    message: str,
    fields: dict[str, Any] | None = None,
    exception: str | None = None,
) -> str:
    """One log line: time, level, logger and message, then `fields` (an audit event's), then the
    exception's traceback if there is one."""
    line = {"time": iso_time(created), "level": level_name, "logger": logger_name, "message": message}
    if fields:
        line.update(fields)
    if exception is not None:
        line["exception"] = exception
    return json_text(line)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        audit = getattr(record, "audit", None)
        return json_line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            audit if isinstance(audit, dict) else None,
            self.formatException(record.exc_info) if record.exc_info else None,
        )
