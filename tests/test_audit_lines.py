"""Audit lines written without a log record (`common.audit.write_line`): the same text as the
logging module's record through `JsonLineFormatter` wrote before, and the same obedience to the
logging configuration (levels, filters, handlers, propagation), so that a deployer's LOGGING can
still redirect or silence them."""

from __future__ import annotations

import io
import json
import logging
import math
import random
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from common import audit
from common.log_format import JsonLineFormatter, iso_time, json_text

# Events as the callers send them: plain ones, credentials to drop, ids to make strings, text
# that JSON escapes (non-ASCII, quotes, control characters, line separators), values of other
# types, and fields named like the line's own keys.
EVENTS: list[tuple[str, dict]] = [
    ("mcp_unauthorized", {"status": 401, "reason": "no token"}),
    ("tool_called", {"user_id": "42", "client_id": "https://app.example/client.json", "tool": "whoami"}),
    (
        "token_issued",
        {
            "user_id": 7,
            "client_id": "abc",
            "access_token": "secret-a",
            "refresh_token": "secret-r",
            "code": "secret-c",
            "client_secret": "secret-s",
            "password": "secret-p",
            "registration_access_token": "secret-t",
            "id_token": "secret-i",
            "Authorization": "Bearer secret-h",
            "scope": "mcp:read",
            "reason": None,
        },
    ),
    ("login_failed", {"username": 'Jürgen "J" Österreich \\ 日本 😀 \u2028\t\n\x00\x7f', "reason": "mot de passe ✗"}),
    (
        "throttled",
        {
            "scope": "token",
            "limit": 300,
            "big": 10**30,
            "negative": -5,
            "window": 60.5,
            "ratio": float("nan"),
            "far": float("inf"),
            "exact": True,
            "off": False,
            "amount": Decimal("1.50"),
            "list": ["a", 1, None, {"ü": 2}],
            "nested": {"k": "v", "n": None, "t": ("x", 2)},
            "when": datetime(2026, 12, 7, 5, 0, tzinfo=UTC),
            "client_id": 12,
        },
    ),
    ("client_registered", {"message": "über", "time": "then", "level": "low", "logger": "mine", "event": "other"}),
    ("grant_revoked_by_user", {}),
]

# Moments whose microseconds round into the next millisecond or second, or just not.
TIMES = [
    1_765_000_000.0,
    1_765_000_000.9995,
    1_765_000_000.9999996,
    1_765_000_000.0004999,
    1_700_000_000.123456,
    86_399.9999995,
]


def old_event_record(name: str, fields: dict) -> logging.LogRecord:
    """The record the previous `audit.event` made for an event (its code, as it was)."""
    clean = {key: value for key, value in fields.items() if not audit.is_secret_field(key) and value is not None}
    for key in audit.ID_FIELDS:
        if key in clean:
            clean[key] = str(clean[key])
    return audit.logger.makeRecord(
        audit.logger.name, logging.INFO, audit.__file__, 0, name, (), None, extra={"audit": {"event": name, **clean}}
    )


def old_format(record: logging.LogRecord) -> str:
    """The line the previous `JsonLineFormatter.format` wrote for a record (its code, as it was)."""
    line = {
        "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }
    found = getattr(record, "audit", None)
    if isinstance(found, dict):
        line.update(found)
    if record.exc_info:
        line["exception"] = logging.Formatter().formatException(record.exc_info)
    return json.dumps(line, default=str)


@pytest.fixture
def audit_logger(monkeypatch):
    """Makes the audit logger alone with one handler like config/settings.py LOGGING's (a
    StreamHandler with the JSON formatter) writing into a buffer, and gives (handler, buffer).
    Called in the test itself: pytest adds its own handlers to non-propagating loggers when the
    test starts."""

    def isolate() -> tuple[logging.StreamHandler, io.StringIO]:
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(JsonLineFormatter())
        monkeypatch.setattr(audit.logger, "handlers", [handler])
        monkeypatch.setattr(audit.logger, "propagate", False)
        monkeypatch.setattr(audit.logger, "filters", [])
        monkeypatch.setattr(audit.logger, "disabled", False)
        audit.logger.setLevel(logging.INFO)
        return handler, buffer

    level = audit.logger.level
    yield isolate
    audit.logger.setLevel(level)


def fixed_clock(monkeypatch, now: float) -> None:
    monkeypatch.setattr(time, "time", lambda: now)
    monkeypatch.setattr(time, "time_ns", lambda: int(now * 1e9))


def no_record(*args, **kwargs):
    raise AssertionError("a log record was made for a plain JSON handler")


def test_line_without_a_record_is_the_line_the_record_gave(audit_logger, monkeypatch) -> None:
    handler, buffer = audit_logger()
    for now in TIMES:
        fixed_clock(monkeypatch, now)
        for name, fields in EVENTS:
            expected = old_format(old_event_record(name, fields)) + "\n"
            buffer.seek(0)
            buffer.truncate()
            with monkeypatch.context() as patched:
                patched.setattr(audit.logger, "makeRecord", no_record)
                audit.event(name, **fields)
            assert buffer.getvalue() == expected
    line = json.loads(expected)
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "audit",
        "message": "grant_revoked_by_user",
        "event": "grant_revoked_by_user",
    }


def test_secrets_are_dropped_and_ids_are_strings(audit_logger) -> None:
    _, buffer = audit_logger()
    name, fields = EVENTS[2]
    audit.event(name, **fields)
    line = json.loads(buffer.getvalue())
    assert {k: v for k, v in line.items() if k != "time"} == {
        "level": "INFO",
        "logger": "audit",
        "message": "token_issued",
        "event": "token_issued",
        "user_id": "7",
        "client_id": "abc",
        "scope": "mcp:read",
    }
    assert "secret" not in buffer.getvalue()


def test_formatter_writes_every_record_as_before(monkeypatch) -> None:
    """Records of other loggers, with arguments, an exception, or an `audit` that is no dict."""
    formatter = JsonLineFormatter()
    try:
        raise ValueError("bädly")
    except ValueError:
        exc_info = sys.exc_info()
    records = [
        logging.LogRecord("django.request", logging.ERROR, "f.py", 3, "Internal %s: %r", ("Erreur", "/ü"), exc_info),
        logging.LogRecord("mcp", logging.WARNING, "f.py", 3, "plain", (), None),
        logging.LogRecord("x", logging.INFO, "f.py", 3, {"a": 1}, (), None),
    ]
    records[1].audit = ["not", "a", "dict"]
    for now in TIMES:
        for record in records:
            record.created = now
            assert formatter.format(record) == old_format(record)


def test_iso_time_is_datetimes() -> None:
    chooser = random.Random(16)
    moments = [*TIMES, 0.0, 0.0005, 0.9999995, 0.0000005, 0.0000015, -0.5, -1.0000004, 4_102_444_799.9999999]
    moments += [chooser.uniform(0, 4_102_444_800) for _ in range(20_000)]
    edges = [0.9995, 0.0005, 0.9999995, 0.0000005, 0.5]
    moments += [math.floor(chooser.uniform(0, 4e9)) + chooser.choice(edges) for _ in range(5_000)]
    moments += [chooser.randrange(0, 4_000_000_000_000_000) / 1e6 for _ in range(5_000)]
    for moment in moments:
        assert iso_time(moment) == datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="milliseconds"), moment


class Named:
    def __str__(self) -> str:
        return "named ü"


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"a": "ü", "b": 1, "c": -0, "d": 1.0, "e": None, "f": True, "g": [1, [2]], "h": {"x": {3: 4}}},
        {"a": b"bytes", "b": Decimal("-0.0"), "c": Named(), "d": -(2**70), "e": float("-inf")},
        {1: "int key", None: "none key", 2.5: "float key", False: "bool key"},
        {"\u2028": "\ud83d\ude00", "\x00": "\x1f"},
    ],
)
def test_json_text_is_json_dumps(value) -> None:
    assert json_text(value) == json.dumps(value, default=str)


def test_audit_level_above_info_writes_nothing(audit_logger) -> None:
    _, buffer = audit_logger()
    audit.logger.setLevel(logging.WARNING)
    audit.event("mcp_unauthorized", status=401, reason="no token")
    assert buffer.getvalue() == ""


def test_handler_level_above_info_writes_nothing(audit_logger) -> None:
    handler, buffer = audit_logger()
    handler.setLevel(logging.WARNING)
    audit.event("mcp_unauthorized", status=401, reason="no token")
    assert buffer.getvalue() == ""


def test_disabled_audit_logger_writes_nothing(audit_logger, monkeypatch) -> None:
    _, buffer = audit_logger()
    monkeypatch.setattr(audit.logger, "disabled", True)
    audit.event("mcp_unauthorized", status=401, reason="no token")
    assert buffer.getvalue() == ""
    monkeypatch.setattr(audit.logger, "disabled", False)
    logging.disable(logging.INFO)
    try:
        audit.event("mcp_unauthorized", status=401, reason="no token")
    finally:
        logging.disable(logging.NOTSET)
    assert buffer.getvalue() == ""


def test_filters_of_the_logger_and_the_handler_apply(audit_logger) -> None:
    handler, buffer = audit_logger()
    not_401 = logging.Filter()
    not_401.filter = lambda record: record.audit.get("status") != 401
    audit.logger.addFilter(not_401)
    try:
        audit.event("mcp_unauthorized", status=401, reason="no token")
        audit.event("mcp_forbidden", status=403, reason="scope")
    finally:
        audit.logger.removeFilter(not_401)
    handler.addFilter(not_401)
    audit.event("mcp_unauthorized", status=401, reason="no token")
    audit.event("mcp_refused", status=421, reason="host")
    assert [json.loads(line)["event"] for line in buffer.getvalue().splitlines()] == ["mcp_forbidden", "mcp_refused"]


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_any_other_handler_gets_the_record_and_the_json_handler_the_same_line(audit_logger, monkeypatch) -> None:
    """A deployer's handler (here one that keeps records) anywhere on the way: every handler gets
    the record through the logging module, the JSON one writing the same line as without it."""
    handler, buffer = audit_logger()
    fixed_clock(monkeypatch, TIMES[1])
    parent = logging.Logger("collecting")
    collector = Collector()
    monkeypatch.setattr(audit.logger, "propagate", True)
    monkeypatch.setattr(audit.logger, "parent", parent)
    parent.addHandler(collector)
    parent.propagate = False
    audit.event("tool_called", user_id=3, client_id="c", tool="whoami")
    [record] = collector.records
    assert record.audit == {"event": "tool_called", "user_id": "3", "client_id": "c", "tool": "whoami"}
    expected = old_format(old_event_record("tool_called", {"user_id": 3, "client_id": "c", "tool": "whoami"}))
    assert buffer.getvalue() == expected + "\n"


def test_audit_lines_redirected_to_a_file_of_their_own(audit_logger, monkeypatch, tmp_path) -> None:
    """LOGGING's `"audit": {"handlers": ["audit_file"], "propagate": False}`, a FileHandler: the
    record path, the same line."""
    audit_logger()
    fixed_clock(monkeypatch, TIMES[2])
    file_handler = logging.FileHandler(tmp_path / "audit.log", encoding="utf-8")
    file_handler.setFormatter(JsonLineFormatter())
    monkeypatch.setattr(audit.logger, "handlers", [file_handler])
    try:
        audit.event("login_failed", **EVENTS[3][1])
    finally:
        file_handler.close()
    expected = old_format(old_event_record("login_failed", EVENTS[3][1])) + "\n"
    assert (tmp_path / "audit.log").read_text(encoding="utf-8") == expected


def test_every_plain_handler_on_the_way_writes_the_line(audit_logger, monkeypatch) -> None:
    """The audit logger's own handler and its parent's (propagation), both plain JSON handlers:
    each writes the line, without a record; one above INFO on the way writes nothing."""
    own, own_buffer = audit_logger()
    fixed_clock(monkeypatch, TIMES[4])
    parent = logging.Logger("parent")
    parent_buffer = io.StringIO()
    for level, stream in ((logging.NOTSET, parent_buffer), (logging.WARNING, parent_buffer)):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonLineFormatter())
        handler.setLevel(level)
        parent.addHandler(handler)
    monkeypatch.setattr(audit.logger, "propagate", True)
    monkeypatch.setattr(audit.logger, "parent", parent)
    expected = old_format(old_event_record("tool_called", {"user_id": 3, "client_id": "c", "tool": "whoami"})) + "\n"
    monkeypatch.setattr(audit.logger, "makeRecord", no_record)
    audit.event("tool_called", user_id=3, client_id="c", tool="whoami")
    assert own_buffer.getvalue() == expected
    assert parent_buffer.getvalue() == expected


def test_no_handler_at_all_goes_to_the_logging_modules_last_resort(audit_logger, monkeypatch) -> None:
    audit_logger()
    monkeypatch.setattr(audit.logger, "handlers", [])
    handled = []
    monkeypatch.setattr(audit.logger, "callHandlers", handled.append)
    audit.event("mcp_unauthorized", status=401, reason="no token")
    assert [record.audit for record in handled] == [{"event": "mcp_unauthorized", "status": 401, "reason": "no token"}]


def test_a_failed_write_goes_to_the_handlers_error_handling_with_the_record(audit_logger, monkeypatch) -> None:
    handler, _ = audit_logger()

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    monkeypatch.setattr(handler, "stream", Broken())
    errors: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", errors.append)
    audit.event("mcp_unauthorized", status=401, reason="no token")
    [record] = errors
    assert (record.getMessage(), record.levelno, record.name) == ("mcp_unauthorized", logging.INFO, "audit")
    assert record.audit == {"event": "mcp_unauthorized", "status": 401, "reason": "no token"}


def test_each_line_is_flushed(audit_logger) -> None:
    handler, _ = audit_logger()

    class Counted(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1

    handler.setStream(Counted())
    audit.event("mcp_unauthorized", status=401, reason="no token")
    assert handler.stream.flushes == 1 and handler.stream.getvalue().endswith("}\n")


def test_a_stream_handler_of_someones_own_gets_the_record(audit_logger) -> None:
    """A StreamHandler subclass may write differently (pytest's own is one): the record path."""
    handler, buffer = audit_logger()

    class Tagged(logging.StreamHandler):
        def format(self, record: logging.LogRecord) -> str:
            return "tagged " + super().format(record)

    tagged = Tagged(buffer)
    tagged.setFormatter(JsonLineFormatter())
    audit.logger.handlers[:] = [tagged]
    audit.event("mcp_unauthorized", status=401, reason="no token")
    assert buffer.getvalue().startswith('tagged {"time": ')


def test_a_stream_handler_with_another_format_writes_that_format(audit_logger) -> None:
    handler, buffer = audit_logger()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s %(audit)s"))
    audit.event("mcp_unauthorized", status=401, reason="no token")
    audit_fields = "{'event': 'mcp_unauthorized', 'status': 401, 'reason': 'no token'}"
    assert buffer.getvalue() == f"INFO audit mcp_unauthorized {audit_fields}\n"


def test_a_value_that_cannot_be_written_goes_to_the_handlers_error_handling(audit_logger, monkeypatch) -> None:
    """As with the record before: the handler reports it, the caller never sees it."""
    handler, buffer = audit_logger()

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    errors: list[logging.LogRecord] = []
    monkeypatch.setattr(handler, "handleError", errors.append)
    audit.event("tool_called", tool=Unprintable())
    [record] = errors
    assert record.getMessage() == "tool_called" and isinstance(record.audit["tool"], Unprintable)
    assert buffer.getvalue() == ""
