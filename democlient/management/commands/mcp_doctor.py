"""`manage.py mcp_doctor URL`: check the MCP discovery chain of any server, with fixes.

It only reads the network, so it runs without this project's settings (no SECRET_KEY, DEBUG or
database): manage.py starts it with config/doctor_settings.py. `make doctor URL=…` runs it too.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from democlient.doctor import FAIL, PASS, SKIP, WARN, diagnose
from democlient.management.commands.mcp_demo import colour_option
from democlient.narrate import Painter, use_colour

MARKS = {PASS: ("✔", "green"), WARN: ("!", "yellow"), FAIL: ("✘", "red"), SKIP: ("-", "dim")}
VERDICT_STYLE = {"works": "green", "works with caveats": "yellow", "fails": "red"}


class Command(BaseCommand):
    help = (
        "Check the MCP authorization discovery chain of any MCP server URL, as real clients walk it: the 401 "
        "challenge, every protected-resource and authorization-server metadata location, resource and issuer "
        "equality, PKCE, registration options, iss, CORS and content types. Prints pass/warn/fail per check "
        "with the fix, and a verdict per well-known MCP client. Exit code 0 only when no check fails. "
        "It sends no credentials and registers nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", help="the MCP endpoint URL, e.g. https://example.com/mcp")
        parser.add_argument("--json", action="store_true", help="print one JSON object (checks and client verdicts)")
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")

    def handle(self, *args, **options) -> None:
        url = options["url"]
        if not url.startswith(("http://", "https://")):
            raise CommandError(f"not an http(s) URL: {url!r}")
        report = diagnose(url, timeout=options["timeout"])
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.print_report(report, Painter(use_colour(self.stdout, colour_option(options))))
        if not report["ok"]:
            sys.exit(1)

    def print_report(self, report: dict, paint: Painter) -> None:
        out = self.stdout.write
        out(paint(f"MCP discovery doctor → {report['url']}", "bold"))
        out("")
        width = max(len(check["id"]) for check in report["checks"])
        for check in report["checks"]:
            mark, colour = MARKS[check["status"]]
            label = paint(f"{mark} {check['status'].upper():<4}", colour, "bold")
            out(f"{label}  {check['id']:<{width}}  {check['title']}")
            out(paint(f"{'':>8}{check['detail']}", "dim"))
            if check["fix"]:
                out(f"{'':>8}{paint('fix:', 'cyan')} {check['fix']}")
        out("")
        out(paint("Clients", "bold"))
        for client in report["clients"]:
            out(f"  {paint(client['verdict'], VERDICT_STYLE[client['verdict']], 'bold'):<20}  {client['name']}")
            for reason in client["reasons"]:
                out(paint(f"{'':>10}{reason['check']}: {reason['why']} ({reason['source']})", "dim"))
        out("")
        out(paint("What the server answered", "bold"))
        for exchange in report["exchanges"]:
            out(paint(f"  {exchange}", "dim"))
        summary = report["summary"]
        out("")
        line = f"{summary[PASS]} passed, {summary[WARN]} warnings, {summary[FAIL]} failed, {summary[SKIP]} skipped"
        out(paint(line, "green" if report["ok"] else "red", "bold"))
