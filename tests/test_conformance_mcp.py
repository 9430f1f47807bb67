"""The official MCP conformance suite (0.1.16, every server scenario) against the live stack,
with a bearer token obtained through the real OAuth flow."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from tests.conftest import TokenKit
from tests.support import conformance
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e

# They need server→client requests in the middle of a tool call, which only a stateful 2025-xx
# session can carry (a stateless server has no stream to send them on).
NEEDS_STATEFUL_SESSION = {
    "tools-call-sampling",
    "tools-call-elicitation",
    "elicitation-sep1034-defaults",
    "elicitation-sep1330-enums",
}


@pytest.fixture(scope="module")
def suite() -> conformance.Suite:
    return conformance.install(conformance.STABLE)


def test_stateless_default_with_two_workers_passes_all_but_server_to_client_requests(
    stack: LiveServer, tokens, suite: conformance.Suite, tmp_path: Path
) -> None:
    token = tokens.tokens("mcp:read")["access_token"]
    results = conformance.run_server_suite(suite, stack.mcp_url, tmp_path / "stateless", bearer=token)

    unexpected = [check for check in results.failed if check.scenario not in NEEDS_STATEFUL_SESSION]
    assert unexpected == [], results.summary() + "\n" + results.output[-2000:]
    assert {check.scenario for check in results.failed} <= NEEDS_STATEFUL_SESSION
    # Logging and progress notifications must stream on the POST response.
    streamed = {c.scenario for c in results.passed}
    assert {"tools-call-with-logging", "tools-call-with-progress"} <= streamed, results.summary()
    assert len(results.passed) >= 30, results.summary()


def test_stateful_mode_passes_every_check(suite: conformance.Suite, tmp_path: Path) -> None:
    with LiveServer(env={"MCP_STATEFUL": "1"}, workers=1, name="stateful") as server, httpx2.Client(timeout=30) as http:
        token = TokenKit(server, http).tokens("mcp:read")["access_token"]
        results = conformance.run_server_suite(suite, server.mcp_url, tmp_path / "stateful", bearer=token)
    assert results.failed == [], results.summary() + "\n" + results.output[-2000:]
    assert len(results.passed) == 44, results.summary()
