"""The official conformance suite's authorization-server metadata scenario (0.2.0-alpha.12,
`conformance authorization`) against the live stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import conformance
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e


def test_authorization_server_metadata_scenario_passes(stack: LiveServer, tmp_path: Path) -> None:
    suite = conformance.install(conformance.NEXT)
    results = conformance.run_authorization_metadata(suite, stack.url, tmp_path)
    assert results.checks, results.output[-2000:]
    assert results.failed == [], results.summary()
    assert results.with_status("WARNING") == [], [c.message for c in results.with_status("WARNING")]
    assert {check.scenario for check in results.passed} == {"authorization-server-metadata-endpoint"}
    assert results.returncode == 0, results.output[-2000:]
