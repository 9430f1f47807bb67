"""The small pieces every endpoint's part of the OpenAPI document is made of: a JSON body, an
OAuth error answer, a parameter, a curl sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OAUTH_ERROR = {"$ref": "#/components/schemas/OAuthError"}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
REDIRECT_URI = "http://127.0.0.1:33418/callback"  # the examples' client: a native app on a loopback port


def json_body(schema: dict, example: Any, description: str = "") -> dict:
    body = {"content": {JSON: {"schema": schema, "example": example}}}
    if description:
        body["description"] = description
    return body


def oauth_error(description: str, *examples: tuple[str, str]) -> dict:
    """A response carrying an RFC 6749 §5.2 error object; one example per (error, description)."""
    content: dict[str, Any] = {"schema": OAUTH_ERROR}
    if len(examples) == 1:
        content["example"] = {"error": examples[0][0], "error_description": examples[0][1]}
    else:
        content["examples"] = {
            error: {"value": {"error": error, "error_description": text}} for error, text in examples
        }
    return {"description": description, "content": {JSON: content}}


def curl(*lines: str) -> list[dict[str, str]]:
    return [{"lang": "curl", "label": "curl", "source": " \\\n     ".join(lines)}]


def query(name: str, description: str, required: bool = True, enum: list[str] | None = None) -> dict:
    schema: dict[str, Any] = {"type": "string"}
    if enum:
        schema["enum"] = enum
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def header(name: str, description: str, required: bool = True) -> dict:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": {"type": "string"}}  # fmt: skip


@dataclass(frozen=True)
class Section:
    """One tag of the document: its name, the title and the docs page it gets, what it is about, and
    the paths it documents."""

    name: str
    display_name: str
    page: str
    description: str
    paths: dict[str, Any]

    @property
    def tag(self) -> dict[str, str]:
        """Its entry in the document's `tags`."""
        return {"name": self.name, "x-displayName": self.display_name, "x-page": self.page,
                "description": self.description}  # fmt: skip
