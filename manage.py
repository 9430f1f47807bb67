#!/usr/bin/env python
"""Django's command-line utility: the one entry point for every command."""

import os
import sys

# Commands that only read the network and need none of the deployment's settings (SECRET_KEY,
# DEBUG, a database): they run on a fresh checkout with nothing set.
NETWORK_ONLY_COMMANDS = {"mcp_doctor": "config.doctor_settings"}


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command in NETWORK_ONLY_COMMANDS:
        os.environ["DJANGO_SETTINGS_MODULE"] = NETWORK_ONLY_COMMANDS[command]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
