"""What the OpenAPI document depends on (`Inputs`), and how this process collects it: the metadata
from the live views, the challenges from the bearer gate, the scopes and tools from the registry
the apps declare them in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Inputs:
    """Everything the document depends on."""

    origin: str
    mcp_path: str
    protected_resource_metadata: dict[str, Any]
    authorization_server_metadata: dict[str, Any]
    scopes: dict[str, str]  # name → what the consent page says
    baseline_scope: str
    tools: list[dict[str, Any]]  # name, description, scope, read_only
    resources: list[dict[str, Any]]  # uri, name, description, scope, mime_type
    prompts: list[dict[str, Any]]  # name, description, scope
    challenge_401: str
    challenge_invalid: str
    challenge_403: str
    write_tool: str
    access_token_lifetime: int
    server_version: str

    @property
    def mcp_url(self) -> str:
        return self.origin + self.mcp_path


def rebase(value: Any, origin: str, example_origin: str) -> Any:
    """`value` with every occurrence of this deployment's origin replaced by another."""
    return json.loads(json.dumps(value).replace(origin, example_origin))


def documented(app_label: str | None) -> bool:
    """Whether an app's tools belong in the docs (the conformance fixtures are a test switch)."""
    from django.apps import apps

    return app_label is None or getattr(apps.get_app_config(app_label), "mcp_in_docs", True)


def declared_capabilities() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The tools, resources and prompts the apps declare (mcpserver's registry), as documented."""
    from mcpserver.registry import registry

    shown = [d for d in registry.declarations if documented(d.app_label)]
    tools = [
        {"name": d.name, "description": d.description, "scope": d.scope, "read_only": d.read_only}
        for d in shown
        if d.kind == "tool"
    ]
    resources = [
        {
            "uri": d.uri,
            "name": d.name,
            "description": d.description,
            "scope": d.scope,
            "mime_type": d.options.get("mime_type", "text/plain"),
        }
        for d in shown
        if d.kind == "resource"
    ]
    prompts = [{"name": d.name, "description": d.description, "scope": d.scope} for d in shown if d.kind == "prompt"]
    return tools, resources, prompts


def live_inputs() -> Inputs:
    """The inputs as this deployment has them: metadata from the live views, challenges from the
    bearer gate, scopes and tools from the registry the apps declare them in."""
    from django.conf import settings
    from django.test import RequestFactory
    from django.urls import resolve

    from common.scopes import BASELINE
    from common.scopes import registry as declared_scopes
    from mcpserver import gate

    factory = RequestFactory()
    secure = settings.PUBLIC_URL_IS_HTTPS

    def fetch(path: str) -> dict[str, Any]:
        request = factory.get(path, HTTP_HOST=settings.PUBLIC_HOST, secure=secure)
        return json.loads(resolve(path).func(request).content)

    tools, resources, prompts = declared_capabilities()
    default_scope = " ".join(declared_scopes.defaults())
    write_tool = next((tool for tool in tools if tool["scope"] not in declared_scopes.defaults()), None)
    write_name = write_tool["name"] if write_tool else ""
    needed = " ".join(sorted({BASELINE, write_tool["scope"]})) if write_tool else BASELINE
    return Inputs(
        origin=settings.PUBLIC_URL,
        mcp_path=settings.MCP_PATH,
        protected_resource_metadata=fetch("/.well-known/oauth-protected-resource"),
        authorization_server_metadata=fetch("/.well-known/oauth-authorization-server"),
        scopes=declared_scopes.descriptions(),
        baseline_scope=BASELINE,
        tools=tools,
        resources=resources,
        prompts=prompts,
        challenge_401=gate.challenge(scope=default_scope),
        challenge_invalid=gate.challenge("invalid_token", "The access token is unknown or revoked", default_scope),
        challenge_403=gate.challenge(
            "insufficient_scope", f"{write_name} requires the scope {write_tool['scope'] if write_tool else ''}", needed
        ),
        write_tool=write_name,
        access_token_lifetime=settings.ACCESS_TOKEN_LIFETIME,
        server_version=settings.MCP_SERVER_VERSION,
    )


def for_origin(inputs: Inputs, origin: str) -> Inputs:
    """The same inputs, as a deployment at another origin would have them."""
    fields = {name: getattr(inputs, name) for name in Inputs.__dataclass_fields__}
    return Inputs(**rebase(fields, inputs.origin, origin))
