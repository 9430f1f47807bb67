"""Hypothesis strategies for every HTTP endpoint, and the checks every answer must pass: no 500,
no stack trace or debug page, every error in the endpoint's own format.

The strategies are schema-driven by hand: each endpoint's parameters come from its RFC (6749,
7009, 7591/7592, 8414, 8707, 9728) or the MCP schema, with values that are valid, almost valid,
of the wrong type, or hostile.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.support import figures
from tests.support.security import DEBUG_PAGE

# Reproducible in CI: the same examples every run (derandomize), no example database, no
# deadline (a shared 2-core machine is slow now and then). FUZZ_SCALE=10 runs ten times more.
settings.register_profile(
    "security",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


def fuzz_settings(examples: int):
    import os

    scale = float(os.environ.get("FUZZ_SCALE", "1"))
    return settings(settings.get_profile("security"), max_examples=max(1, int(examples * scale)))


# --- Values -----------------------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "%00",
    "\t\n",
    "../../etc/passwd",
    "' OR '1'='1",
    '"; DROP TABLE oauth2_provider_accesstoken; --',
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    "\u202egnp.exe",
    "😀" * 20,
    "\ud7ff\ue000\uffff",
    "null",
    "[]",
    "{}",
    "0",
    "-1",
    "1e309",
    "a" * 3000,
    "%",
    "%zz",
    "\r\nSet-Cookie: x=1",
    "https://evil.example/cb",
    "http://127.0.0.1:33418/callback",
    "http://169.254.169.254/latest/meta-data/",
    "https://127.0.0.1/client.json",
    "https://app.example/client.json",
    "//evil.example",
    "cursor://anysphere.cursor-mcp/oauth/callback",
]

hostile = st.sampled_from(HOSTILE)
# Text as a form or query value: any Unicode scalar value but surrogates (not encodable).
text = st.one_of(hostile, st.text(max_size=40))
short = st.text(max_size=12)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), text)
json_value = st.recursive(
    json_scalar,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(short, children, max_size=4),
    max_leaves=6,
)


def one_of_or(values: list[Any]) -> st.SearchStrategy:
    """One of `values` (valid ones), or anything hostile."""
    return st.one_of(st.sampled_from(values), text)


# A header value as an HTTP client can send it (printable ASCII).
header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


def form(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """A form (or query) with any subset of `fields`, plus now and then an unknown one."""
    return st.fixed_dictionaries({}, optional={**fields, "x-unknown": text, "": text})


def headers(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """Request headers: any subset of `fields`, plus now and then an unknown one."""
    return st.fixed_dictionaries({}, optional={**fields, "X-Unknown": header_value})


# --- Checks ---------------------------------------------------------------------------------------

OAUTH_ERROR = re.compile(r"^[\x20\x21\x23-\x5B\x5D-\x7E]+$")  # RFC 6749 §5.2 error charset


def count() -> None:
    figures.count("requests_fuzzed")


def body_text(response) -> str:
    content = response.content
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)


def header(response, name: str) -> str:
    value = response.headers.get(name) if hasattr(response, "headers") else None
    if value is None and hasattr(response, "get"):
        value = response.get(name)
    return value or ""


def assert_sane(response, what: str) -> None:
    """No 5xx, no stack trace, no debug page, whatever the endpoint."""
    status = response.status_code
    assert status < 500, f"{what}: {status} {body_text(response)[:500]}"
    assert not DEBUG_PAGE.search(body_text(response)), f"{what}: debug output in {body_text(response)[:500]}"


def assert_oauth_error(response, what: str) -> dict:
    """An OAuth-style JSON error object: {"error": code, "error_description"?: text}."""
    content_type = header(response, "Content-Type")
    assert content_type.startswith("application/json"), f"{what}: {response.status_code} {content_type}"
    body = json.loads(response.content)
    assert isinstance(body, dict), f"{what}: {body!r}"
    assert isinstance(body.get("error"), str) and OAUTH_ERROR.match(body["error"]), f"{what}: {body!r}"
    if "error_description" in body:
        assert isinstance(body["error_description"], str), f"{what}: {body!r}"
    return body


def assert_json_or_oauth_error(response, what: str) -> None:
    """The machine-facing endpoints: JSON on success, an OAuth JSON error otherwise."""
    assert_sane(response, what)
    if response.status_code >= 400:
        assert_oauth_error(response, what)
    elif response.status_code in (200, 201):
        content_type = header(response, "Content-Type")
        if response.content:
            assert content_type.startswith("application/json"), f"{what}: {content_type}"
            json.loads(response.content)


def assert_jsonrpc_error_object(body: Any, what: str) -> None:
    assert isinstance(body, dict) and body.get("jsonrpc") == "2.0", f"{what}: {body!r}"
    error = body.get("error")
    assert isinstance(error, dict), f"{what}: {body!r}"
    assert isinstance(error.get("code"), int) and isinstance(error.get("message"), str), f"{what}: {body!r}"


SSE_LINE_END = re.compile(r"\r\n|\r|\n")  # only these end an SSE line; str.splitlines() knows more


def sse_messages(text_body: str) -> list[Any]:
    messages = []
    for event in re.split(r"(?:\r\n|\r|\n){2}", text_body):
        lines = SSE_LINE_END.split(event)
        data = "\n".join(line[5:].removeprefix(" ") for line in lines if line.startswith("data:"))
        if data:
            messages.append(json.loads(data))
    return messages


def assert_mcp_answer(response, what: str) -> None:
    """`/mcp`: a JSON-RPC answer, or an OAuth challenge (401/403), or a JSON-RPC / OAuth JSON error."""
    assert_sane(response, what)
    status = response.status_code
    content_type = header(response, "Content-Type")
    if status == 202:
        assert not response.content, f"{what}: 202 with a body"
        return
    if status == 200:
        if content_type.startswith("text/event-stream"):
            messages = sse_messages(body_text(response))
        else:
            assert content_type.startswith("application/json"), f"{what}: {content_type}"
            messages = [json.loads(response.content)]
        assert messages, what
        for message in messages:
            assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", f"{what}: {message!r}"
            assert ("result" in message) != ("error" in message) or "method" in message, f"{what}: {message!r}"
        return
    assert status >= 400, f"{what}: unexpected {status}"
    assert content_type.startswith("application/json"), f"{what}: {status} {content_type} {body_text(response)[:200]}"
    body = json.loads(response.content)
    if status in (401, 403) and "error" in body and isinstance(body["error"], str):
        challenge = header(response, "WWW-Authenticate")
        assert challenge.startswith("Bearer ") and "resource_metadata=" in challenge, f"{what}: {challenge!r}"
        assert_oauth_error(response, what)
        return
    if isinstance(body, dict) and body.get("jsonrpc") == "2.0":
        assert_jsonrpc_error_object(body, what)
    else:
        assert_oauth_error(response, what)
