"""The Markdown pages of `docs/`, one per endpoint, rendered from the OpenAPI document.

`manage.py build_docs` writes them; a test fails when the committed pages differ from what the
code generates, and `/docs/` serves the same pages (for this deployment's origin) as HTML.
"""

from __future__ import annotations

import json
from typing import Any

GENERATED_NOTE = "<!-- Generated from the code by `python manage.py build_docs`: do not edit by hand. -->"
INDEX = "README.md"
ERROR_STATUSES = ("4", "5")


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def type_of(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {schema.get('items', {}).get('type', 'any')}"
    if isinstance(kind, list):
        return " \\| ".join(kind)
    return kind + (f" ({schema['format']})" if "format" in schema else "")


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def code_block(value: Any, language: str = "json") -> list[str]:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return [f"```{language}", text, "```", ""]


def fields_table(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    schema = resolve(schema, document)
    if "oneOf" in schema:
        lines = []
        for option in schema["oneOf"]:
            name = option.get("$ref", "").rsplit("/", 1)[-1]
            lines += [f"*{name}*:", "", *fields_table(option, document)]
        return lines
    properties = schema.get("properties") or {}
    if not properties:
        return []
    required = set(schema.get("required") or [])
    lines = ["| field | type | required | meaning |", "| --- | --- | --- | --- |"]
    for name, prop in properties.items():
        lines.append(
            f"| `{name}` | {type_of(prop)} | {'yes' if name in required else 'no'} "
            f"| {cell(prop.get('description', ''))} |"
        )
    return [*lines, ""]


def parameters_table(parameters: list[dict[str, Any]], document: dict[str, Any]) -> list[str]:
    if not parameters:
        return []
    lines = ["| parameter | in | required | meaning |", "| --- | --- | --- | --- |"]
    for parameter in parameters:
        parameter = resolve(parameter, document)
        lines.append(
            f"| `{parameter['name']}` | {parameter['in']} | {'yes' if parameter.get('required') else 'no'} "
            f"| {cell(parameter.get('description', ''))} |"
        )
    return [*lines, ""]


def response_lines(status: str, response: dict[str, Any], document: dict[str, Any]) -> list[str]:
    lines = [f"#### {status}", "", response.get("description", ""), ""]
    for name, spec in (response.get("headers") or {}).items():
        spec = resolve(spec, document)
        if "example" in spec:
            lines += [f"`{name}: {spec['example']}`", ""]
        for label, example in (spec.get("examples") or {}).items():
            lines += [f"`{name}` ({label}): `{example['value']}`", ""]
        if "example" not in spec and "examples" not in spec:
            lines += [f"Header `{name}`: {spec.get('description', type_of(spec.get('schema', {})))}", ""]
    for media, content in (response.get("content") or {}).items():
        if "example" in content and content["example"] is not None:
            lines += [f"`{media}`:", "", *code_block(content["example"])]
        for label, example in (content.get("examples") or {}).items():
            lines += [f"`{media}` ({label}):", "", *code_block(example["value"])]
    return lines


def operation_lines(path: str, method: str, operation: dict[str, Any], document: dict[str, Any]) -> list[str]:
    lines = [f"## `{method.upper()} {path}`: {operation['summary']}", ""]
    if operation.get("description"):
        lines += [operation["description"], ""]
    security = operation.get("security")
    if security:
        names = ", ".join(f"`{name}`" + (f" (scope {' '.join(scopes)})" if scopes else "")
                          for requirement in security for name, scopes in requirement.items())  # fmt: skip
        lines += [f"Authentication: {names}.", ""]

    lines += ["### Request", ""]
    parameters = [*document["paths"][path].get("parameters", []), *operation.get("parameters", [])]
    lines += parameters_table(parameters, document)
    body = operation.get("requestBody")
    if body:
        for media, content in body["content"].items():
            lines += [f"Body (`{media}`):", "", *fields_table(content["schema"], document)]
            if content.get("example") is not None:
                lines += ["For example:", "", *code_block(content["example"])]
    if not parameters and not body:
        lines += ["No parameters.", ""]

    responses = operation["responses"]
    successes = {s: r for s, r in responses.items() if not s.startswith(ERROR_STATUSES)}
    errors = {s: r for s, r in responses.items() if s.startswith(ERROR_STATUSES)}
    lines += ["### Response", ""]
    for status, response in successes.items():
        lines += response_lines(status, response, document)
        for content in (response.get("content") or {}).values():
            lines += fields_table(content.get("schema", {}), document)
            break
    if errors:
        lines += ["### Errors", ""]
        for status, response in errors.items():
            lines += response_lines(status, response, document)

    tools = operation.get("x-mcp-tools")
    if tools:
        lines += [
            "### Tools",
            "",
            "| tool | scope needed | changes data | what it does |",
            "| --- | --- | --- | --- |",
            *(
                f"| `{tool['name']}` | `{tool['scope']}` | {'no' if tool['read_only'] else 'yes'} "
                f"| {cell(tool['description'])} |"
                for tool in tools
            ),
            "",
        ]
    resources = operation.get("x-mcp-resources")
    if resources:
        lines += [
            "### Resources",
            "",
            "| URI (or template) | scope needed | type | what it is |",
            "| --- | --- | --- | --- |",
            *(
                f"| `{item['uri']}` | `{item['scope']}` | `{item['mime_type']}` | {cell(item['description'])} |"
                for item in resources
            ),
            "",
        ]
    prompts = operation.get("x-mcp-prompts")
    if prompts:
        lines += [
            "### Prompts",
            "",
            "| prompt | scope needed | what it asks |",
            "| --- | --- | --- |",
            *(f"| `{item['name']}` | `{item['scope']}` | {cell(item['description'])} |" for item in prompts),
            "",
        ]
    for sample in operation.get("x-codeSamples", []):
        lines += ["### Example", "", *code_block(sample["source"], "sh")]
    return lines


def page_name(tag: dict[str, Any]) -> str:
    return tag["x-page"] + ".md"


def tag_page(tag: dict[str, Any], document: dict[str, Any]) -> str:
    lines = [GENERATED_NOTE, "", f"# {tag['x-displayName']}", "", tag["description"], ""]
    lines += ["[All endpoints](README.md)", ""]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters" and tag["name"] in operation.get("tags", []):
                lines += operation_lines(path, method, operation, document)
    return "\n".join(lines).rstrip() + "\n"


def index_page(document: dict[str, Any]) -> str:
    info = document["info"]
    origin = document["servers"][0]["url"]
    tags = {tag["name"]: tag for tag in document["tags"]}

    def link(tag: str) -> str:
        return f"[{tags[tag]['x-displayName']}]({page_name(tags[tag])})"

    mcp_path = next(path for path, item in document["paths"].items() if "mcp" in item.get("post", {}).get("tags", []))
    lines = [
        GENERATED_NOTE,
        "",
        f"# {info['title']}: documentation for client developers",
        "",
        info["summary"],
        "",
        info["description"],
        "",
        f"The machine-readable OpenAPI 3.1 document is served at `{origin}/api/schema/`; these pages are served "
        f"at `{origin}/docs/`, the `resource_documentation` of the protected-resource metadata. The examples use "
        f"`{origin}` as the server's address.",
        "",
        "## The chain a client walks",
        "",
        f"1. `POST {mcp_path}` without a token: **401** with `WWW-Authenticate` naming the metadata and the "
        f"scope ({link('mcp')}).",
        f"2. `GET` the protected-resource metadata it names: `resource` and `authorization_servers` "
        f"({link('discovery')}).",
        f"3. `GET` the authorization server's metadata: endpoints, PKCE, registration options "
        f"({link('authorization-server')}).",
        f"4. Register: a URL client id (CIMD), or `POST /register` ({link('registration')}).",
        f"5. Send the user's browser to `/authorize` with PKCE S256 and `resource` ({link('authorize')}).",
        f"6. `POST /token` with the code and the `code_verifier` ({link('token')}).",
        f"7. Call `POST {mcp_path}` with `Authorization: Bearer …`; a **403** `insufficient_scope` names the "
        "scopes to ask for again (step-up).",
        f"8. Refresh at `/token`, and revoke at `/revoke` when the user signs out ({link('revoke')}).",
        "",
        "Try it: `make demo` walks this chain and narrates it; `python manage.py mcp_doctor <URL>` checks any "
        "MCP server's discovery.",
        "",
        "## Endpoints",
        "",
        "| page | method and path | what |",
        "| --- | --- | --- |",
    ]
    for tag in document["tags"]:
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if method != "parameters" and tag["name"] in operation.get("tags", []):
                    lines.append(
                        f"| [{tag['x-displayName']}]({page_name(tag)}) | `{method.upper()} {path}` "
                        f"| {cell(operation['summary'])} |"
                    )
    lines += ["", "## Scopes", "", "| scope | what the user allows |", "| --- | --- |"]
    scopes = document["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]["scopes"]
    lines += [f"| `{name}` | {cell(text)} |" for name, text in scopes.items()]
    return "\n".join(lines).rstrip() + "\n"


def docs_pages(document: dict[str, Any]) -> dict[str, str]:
    """File name → Markdown text, for every page of `docs/`."""
    pages = {INDEX: index_page(document)}
    for tag in document["tags"]:
        pages[page_name(tag)] = tag_page(tag, document)
    return pages
