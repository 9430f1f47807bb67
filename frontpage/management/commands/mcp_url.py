"""`manage.py mcp_url`: the one URL to paste into an MCP client (`make run` prints it)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

# The names one loopback address goes by: a client must dial the one PUBLIC_URL uses.
LOOPBACK_ALIASES = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


class Command(BaseCommand):
    help = "Print this server's MCP URL (PUBLIC_URL/mcp), the one address MCP clients must be given."

    def handle(self, *args, **options) -> None:
        out = self.stdout.write
        out(f"Front page, with the steps for each client and a self-check: {settings.PUBLIC_URL}/")
        out("Paste this into your MCP client:")
        out("")
        out(self.style.SUCCESS(f"    {settings.MCP_URL}"))
        out("")
        parts = urlsplit(settings.MCP_URL)
        alias = LOOPBACK_ALIASES.get(parts.hostname or "")
        if alias:
            other = settings.MCP_URL.replace(f"//{parts.hostname}", f"//{alias}", 1)
            out(f"Exactly this address: clients refuse {other}, which is not the name this server goes by.")
