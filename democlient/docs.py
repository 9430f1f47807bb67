"""`/docs/` (the pages of docs/, as HTML, for this deployment's origin) and `/api/schema/` (the
OpenAPI document they are made from). Both are built once per process from the code."""

from __future__ import annotations

import json
import re
from functools import lru_cache

import markdown
from django.core.signals import setting_changed
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from common.documents import CACHE_CONTROL, open_to_every_origin

from . import openapi
from .docpages import INDEX, docs_pages

PAGE_LINK = re.compile(r'href="([A-Za-z0-9-]+)\.md(#[^"]*)?"')


def html_links(html: str) -> str:
    """Links between the Markdown pages (`token.md`) become links between the served ones."""

    def replace(match: re.Match) -> str:
        name, anchor = match.group(1), match.group(2) or ""
        return f'href="/docs/{"" if name == "README" else name + "/"}{anchor}"'

    return PAGE_LINK.sub(replace, html)


@lru_cache(maxsize=1)
def rendered_pages() -> dict[str, tuple[str, str]]:
    """Page name (without .md) → (title, HTML body)."""
    pages = {}
    for filename, text in docs_pages(openapi.live_openapi()).items():
        body = markdown.markdown(text, extensions=["tables", "fenced_code", "toc"])
        title = next((line[2:] for line in text.splitlines() if line.startswith("# ")), filename)
        pages[filename.removesuffix(".md")] = (title, html_links(body))
    return pages


@lru_cache(maxsize=1)
def schema_bytes() -> bytes:
    return json.dumps(openapi.live_openapi(), indent=2).encode()


def _clear(**kwargs) -> None:
    openapi.live_openapi.cache_clear()
    rendered_pages.cache_clear()
    schema_bytes.cache_clear()


setting_changed.connect(_clear)


@require_safe
def page(request: HttpRequest, name: str = INDEX.removesuffix(".md")) -> HttpResponse:
    pages = rendered_pages()
    if name not in pages or (name == "README" and request.path != "/docs/"):
        raise Http404(f"There is no documentation page {name!r}.")
    title, body = pages[name]
    nav = [(key, pages[key][0], "/docs/" if key == "README" else f"/docs/{key}/") for key in pages]
    response = render(request, "democlient/docs.html", {"title": title, "body": body, "nav": nav, "current": name})
    response["Cache-Control"] = CACHE_CONTROL
    return response


@require_safe
def schema(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(schema_bytes(), content_type="application/json")
    response["Cache-Control"] = CACHE_CONTROL
    return open_to_every_origin(response)  # API tools in a browser may load it
