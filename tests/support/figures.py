"""Figures the security tests report at the end of a run (printed by tests/conftest.py):
requests fuzzed, races run, outage seconds survived, tokens checked after recovery."""

from __future__ import annotations

from collections import Counter

FIGURES: Counter[str] = Counter()
# Outage durations are fractional seconds; kept apart from the integer counts.
OUTAGE_SECONDS: list[float] = []
RECOVERY_SECONDS: list[float] = []  # from the database's restart to every probe answering normally

LABELS = {
    "requests_fuzzed": "requests fuzzed",
    "races_run": "races run",
    "tokens_checked_after_recovery": "tokens checked after recovery",
}


def count(name: str, amount: int = 1) -> None:
    FIGURES[name] += amount


def summary_lines() -> list[str]:
    """One line per figure; empty when no security test ran."""
    if not FIGURES and not OUTAGE_SECONDS:
        return []
    lines = [f"{LABELS[name]}: {FIGURES.get(name, 0)}" for name in ("requests_fuzzed", "races_run")]
    if OUTAGE_SECONDS:
        outages = f"{sum(OUTAGE_SECONDS):.1f} ({len(OUTAGE_SECONDS)} outages"
        outages += f", each recovered within {max(RECOVERY_SECONDS, default=0):.1f} s of the restart)"
    else:
        outages = "0 (the fault test runs in the PostgreSQL pass)"
    lines.append(f"outage seconds survived: {outages}")
    lines.append(f"{LABELS['tokens_checked_after_recovery']}: {FIGURES.get('tokens_checked_after_recovery', 0)}")
    for name in sorted(set(FIGURES) - set(LABELS)):
        lines.append(f"{name.replace('_', ' ')}: {FIGURES[name]}")
    return lines
