"""The front page's "Connect your client": the well-known clients of `authserver.presets`, made
concrete for this server (its MCP URL, and a name for it in the clients' configuration files)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import markdown
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

from authserver.presets import PRESETS_AND_GUIDES, Preset


@dataclass(frozen=True)
class Guide:
    key: str
    name: str
    steps: tuple[SafeString, ...]  # before the snippet
    more_steps: tuple[SafeString, ...]  # after it
    snippet: str
    snippet_label: str
    documentation: str
    hosted: bool


def server_name() -> str:
    """The key this server gets in a client's configuration (`notes-mcp-server`)."""
    return slugify(settings.OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_NAME"]) or "mcp-server"


def step_html(text: str) -> SafeString:
    """One step's short Markdown (bold labels, inline code) as HTML. The text is the table's own and
    the URL this server's setting; Markdown escapes what is inside backticks."""
    html = markdown.markdown(text)
    return mark_safe(html.removeprefix("<p>").removesuffix("</p>"))  # noqa: S308 (our own text, rendered by Markdown)


def guide(preset: Preset, mcp_url: str, name: str) -> Guide:
    def fill(text: str) -> str:
        return text.replace("{mcp_url}", mcp_url).replace("{server_name}", name)

    steps = tuple(step_html(fill(step)) for step in preset.steps)
    split = preset.snippet_after if preset.snippet else len(steps)
    return Guide(
        key=preset.key,
        name=preset.name,
        steps=steps[:split],
        more_steps=steps[split:],
        snippet=preset.snippet(name, mcp_url) if preset.snippet else "",
        snippet_label=preset.snippet_label,
        documentation=preset.documentation,
        hosted=preset.hosted,
    )


@lru_cache(maxsize=4)
def guides_for(mcp_url: str, name: str) -> tuple[Guide, ...]:
    return tuple(guide(preset, mcp_url, name) for preset in PRESETS_AND_GUIDES if preset.steps)


def guides() -> tuple[Guide, ...]:
    return guides_for(settings.MCP_URL, server_name())
