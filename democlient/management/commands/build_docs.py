"""`manage.py build_docs`: write the `docs/` pages from the code (or, with --check, say whether
the committed ones are current)."""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from democlient.docpages import docs_pages
from democlient.openapi import example_openapi

DOCS_DIR = Path(settings.BASE_DIR) / "docs"


def stale_pages(directory: Path = DOCS_DIR) -> list[str]:
    """Pages whose committed text differs from what the code generates (or that are missing)."""
    pages = docs_pages(example_openapi())
    return [
        name
        for name, text in pages.items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]


class Command(BaseCommand):
    help = "Generate the client-developer documentation in docs/ from the OpenAPI document the code builds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if docs/ is out of date")

    def handle(self, *args, **options) -> None:
        if options["check"]:
            stale = stale_pages()
            if stale:
                self.stderr.write("Out of date (run `python manage.py build_docs`): " + ", ".join(stale))
                sys.exit(1)
            self.stdout.write("docs/ is up to date.")
            return
        DOCS_DIR.mkdir(exist_ok=True)
        for name, text in docs_pages(example_openapi()).items():
            (DOCS_DIR / name).write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote docs/{name}")
