"""Running the doctor: every check of `CHECKS` against one URL, then each client's verdict, as
the one dictionary `manage.py mcp_doctor --json` prints and the front page's self-check reads."""

from __future__ import annotations

from typing import Any

import httpx2

from .checks import CHECKS
from .clients import CLIENTS, verdict
from .findings import FAIL, PASS, SKIP, WARN, Finding, fail
from .probe import Probe


def diagnose(url: str, timeout: float = 10.0, transport: httpx2.BaseTransport | None = None) -> dict[str, Any]:
    """Run every check against `url`; the result is what `--json` prints."""
    probe = Probe(url.strip(), timeout=timeout, transport=transport)
    findings: dict[str, Finding] = {}
    checks = []
    try:
        for check in CHECKS:
            try:
                finding = check.judge(probe)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                # A document shaped so oddly that a judge tripped on it: that is the server's fault.
                finding = fail(f"unexpected answer ({type(exc).__name__}: {exc})")
            findings[check.id] = finding
            checks.append(
                {
                    "id": check.id,
                    "title": check.title,
                    "status": finding.status,
                    "detail": finding.detail,
                    "fix": check.fix if finding.status in (WARN, FAIL) else None,
                }
            )
    finally:
        probe.close()
    counts = {status: sum(1 for c in checks if c["status"] == status) for status in (PASS, WARN, FAIL, SKIP)}
    return {
        "url": url,
        "ok": counts[FAIL] == 0,
        "summary": counts,
        "checks": checks,
        "clients": [verdict(profile, findings) for profile in CLIENTS],
        "exchanges": [f"{answer.method} {answer.describe()}" for answer in probe.answers.values()],
    }
