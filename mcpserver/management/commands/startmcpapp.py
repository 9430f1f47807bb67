"""`manage.py startmcpapp NAME [DIRECTORY]`: Django's `startapp` with this project's app template
(mcpserver/app_template/): a model, its migration, an mcp_tools.py with a read tool, a write
tool and a resource behind scopes of their own, and a test of them through mcpserver.testing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.templates import TemplateCommand

TEMPLATE = Path(__file__).resolve().parents[2] / "app_template"


class Command(TemplateCommand):
    help = "Creates an app that puts its data behind MCP (docs/extending.md), in the current directory or in DIRECTORY."
    missing_args_message = "You must provide an application name."

    def handle(self, **options) -> None:
        name = options.pop("name")
        target = options.pop("directory")
        options["template"] = options.get("template") or str(TEMPLATE)
        super().handle("app", name, target, **options)
        where = Path(target).resolve() if target else Path.cwd() / name
        self.stdout.write(
            f"Created the app {name!r} in {where}.\n"
            f"Add it to the server with the environment variable EXTRA_APPS={name} (a comma-separated list;"
            f" its directory's parent on PYTHONPATH), then run `python manage.py migrate`."
        )
