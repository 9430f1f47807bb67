"""The discovery doctor: point it at any MCP server URL and it walks the discovery chain the way
real MCP clients do, then reports, per check, pass / warn / fail (or skip, when an earlier
failure leaves nothing to check) with the reason and the fix, and a verdict per well-known client.

How it is built, one module per part:
- `probe`: `Probe` fetches every URL a client may try (nothing is written to the server: no
  registration, no token) and keeps each answer as an `Exchange`.
- `findings`: what a check concludes (`Finding`) and the statuses.
- `challenge`, `resource_metadata`, `server_metadata`, `browsers`: the judges, one module per
  part of the chain; each looks at the probe and returns a `Finding`.
- `checks`: `CHECKS`, one table: id, title, the judge, and the fix.
- `clients`: `CLIENTS`, a second table: per client, which findings break it or degrade it, why,
  and the public report that says so.
- `report`: `diagnose`, which runs both tables against a URL.

It needs no Django: `manage.py mcp_doctor` is a thin wrapper around `diagnose`, and the front
page's self-check calls it in-process.
"""

from .checks import CHECKS
from .clients import CLIENTS, ClientProfile, Rule, verdict
from .findings import FAIL, PASS, SKIP, WARN, Check, Finding
from .probe import Exchange, Probe, parse_challenge
from .report import diagnose

__all__ = [
    "CHECKS",
    "CLIENTS",
    "FAIL",
    "PASS",
    "SKIP",
    "WARN",
    "Check",
    "ClientProfile",
    "Exchange",
    "Finding",
    "Probe",
    "Rule",
    "diagnose",
    "parse_challenge",
    "verdict",
]
