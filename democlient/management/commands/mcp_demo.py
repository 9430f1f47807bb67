"""`manage.py mcp_demo`: the narrated walk through discovery, authorization and MCP calls."""

from __future__ import annotations

import getpass
import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from democlient.demo import Demo, mcp_url_from, origin_of
from democlient.localstack import running_stack
from democlient.narrate import Narrator


def colour_option(options: dict) -> bool | None:
    """Django's own --no-color/--force-color, else the terminal decides (and NO_COLOR)."""
    if options.get("no_color"):
        return False
    if options.get("force_color"):
        return True
    return None


class Command(BaseCommand):
    help = (
        "Walk the MCP discovery and authorization chain against a server and narrate every step: the 401 and "
        "its WWW-Authenticate, the protected-resource and authorization-server metadata, registration, the "
        "authorization request with PKCE, the token, MCP calls, and the 403 step-up to the write scope. "
        "Without --username it opens your browser and listens on a loopback redirect URI; with "
        "--username/--password it signs in and consents headlessly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            default=settings.MCP_URL,
            help="the MCP endpoint, or the origin of a server of this project (default: %(default)s)",
        )
        parser.add_argument("--username", help="sign in headlessly as this user (e.g. the demo user of `make run`)")
        parser.add_argument(
            "--password",
            help="the user's password (default: DEMO_PASSWORD for the demo user; otherwise asked for)",
        )
        parser.add_argument(
            "--client-id-url",
            metavar="URL",
            help=(
                "use this URL as the client id (a Client ID Metadata Document) instead of self-registration. "
                "The authorization server fetches it itself, so it must be an https URL with a path, reachable "
                "from the server, serving JSON whose client_id is exactly this URL, token_endpoint_auth_method "
                '"none", and redirect_uris listing http://127.0.0.1/callback (any loopback port matches it)'
            ),
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object (steps and outcome) only")
        parser.add_argument(
            "--start-server",
            action="store_true",
            help="if nothing answers at a loopback --url, set up the database and run the server for the demo",
        )
        parser.add_argument(
            "--protocol",
            default="2026-07-28",
            choices=["2026-07-28", "2025-11-25", "2025-06-18"],
            help="MCP protocol revision of the session (default: %(default)s)",
        )
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request")

    def handle(self, *args, **options) -> None:
        try:
            mcp_url = mcp_url_from(options["url"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        username = options["username"]
        password = options["password"]
        if username and password is None:
            if username == settings.DEMO_USERNAME and settings.DEMO_PASSWORD:
                password = settings.DEMO_PASSWORD
            elif sys.stdin.isatty():
                password = getpass.getpass(f"Password for {username}: ")
            else:
                raise CommandError("--password is required for headless sign-in")
        if options["client_id_url"] and not options["client_id_url"].startswith("https://"):
            raise CommandError("--client-id-url must be an https URL (the server fetches it)")

        as_json = options["json"]
        narrator = Narrator(self.stdout, colour=colour_option(options), quiet=as_json)
        say = (lambda text: self.stderr.write(text)) if as_json else narrator.note
        demo = Demo(
            url=mcp_url,
            username=username,
            password=password,
            client_id_url=options["client_id_url"],
            narrator=narrator,
            timeout=options["timeout"],
            protocol=options["protocol"],
        )
        try:
            if options["start_server"]:
                with running_stack(origin_of(mcp_url), say):
                    result = demo.run()
            else:
                result = demo.run()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(result, indent=2))
        elif not result["ok"]:
            self.stderr.write(f"The demo stopped at {result['error']['step']}: {result['error']['message']}")
        if not result["ok"]:
            sys.exit(1)
