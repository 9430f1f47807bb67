"""The MCP endpoint itself (Streamable HTTP, one JSON-RPC request per POST), with the tools,
resources and prompts the apps declare and the scope each needs."""

from __future__ import annotations

from typing import Any

from .inputs import Inputs
from .parts import JSON, OAUTH_ERROR, Section, curl, header, json_body

JSON_RPC_RESPONSE = {"$ref": "#/components/schemas/JsonRpcResponse"}
EXAMPLE_CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {
        "name": "whoami",
        "arguments": {},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    },
}


def mcp_endpoint(inputs: Inputs) -> Section:
    description = (
        "The Model Context Protocol endpoint (Streamable HTTP): one JSON-RPC request per POST, with "
        "`Authorization: Bearer <access token>` on every request. It speaks the stateless 2026-07-28 "
        "revision (`server/discover`, `Mcp-Method` and `Mcp-Name` headers, `_meta` on each request) "
        "and the 2025-xx revisions (`initialize`). Every request needs the scope "
        f"`{inputs.baseline_scope}`; some tools, resources and prompts need more, and calling them "
        "without it gets a 403 that names the scope to ask for (step-up)."
    )
    write_scope = next((tool["scope"] for tool in inputs.tools if tool["name"] == inputs.write_tool), "")
    operation = {
        "tags": ["mcp"],
        "summary": "One MCP JSON-RPC request",
        "operationId": "mcp",
        "security": [{"oauth2": [inputs.baseline_scope]}],
        "parameters": [
            header("MCP-Protocol-Version", "e.g. `2026-07-28`, `2025-11-25`, `2025-06-18`."),
            header("Mcp-Method", "2026-07-28: the JSON-RPC method, e.g. `tools/call`.", required=False),
            header("Mcp-Name", "2026-07-28: the tool, prompt or resource named in `params`.", required=False),
        ],
        "requestBody": {"required": True, **json_body({"$ref": "#/components/schemas/JsonRpcRequest"}, EXAMPLE_CALL)},
        "responses": mcp_responses(inputs),
        "x-codeSamples": curl(
            f"curl -s -X POST {inputs.mcp_url}",
            "-H 'Authorization: Bearer <access token>'",
            "-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'",
            "-H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: whoami'",
            '-d \'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami",'
            '"arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
            '"io.modelcontextprotocol/clientCapabilities":{}}}}\'',
        ),
        "x-mcp-tools": inputs.tools,
        "x-mcp-resources": inputs.resources,
        "x-mcp-prompts": inputs.prompts,
        "x-step-up-example": {"tool": inputs.write_tool, "scope": write_scope},
    }
    return Section("mcp", "MCP endpoint", "mcp", description, {inputs.mcp_path: {"post": operation}})


def mcp_responses(inputs: Inputs) -> dict[str, Any]:
    return {
        "200": {
            "description": "The JSON-RPC response: one JSON body for requests that cannot produce "
            "notifications (the list methods, `initialize`, `ping`, tools that never report progress or "
            "log), otherwise a short `text/event-stream` (the tool's progress and log notifications, "
            "then the response). Tool failures are results with `isError: true`. A tool that asks "
            "the person (a note's deletion asks to confirm), the client's model or its roots answers a "
            '2026-07-28 call with `resultType: "input_required"`, its `inputRequests` and a sealed '
            "`requestState`: call again with `inputResponses` and that `requestState` (any server of "
            "the deployment takes it, once, within ten minutes). In a 2025-xx session the question "
            "comes as a request in the middle of the call instead.",
            "content": {JSON: {"schema": JSON_RPC_RESPONSE}, "text/event-stream": {"schema": {"type": "string"}}},
        },
        "202": {"description": "A notification was accepted (no body)."},
        "400": {
            "description": "A JSON-RPC error: parse error, bad `_meta`, headers that disagree with the "
            "body (-32020), a tool that needs a client capability the request did not declare (-32021, "
            "`data.requiredCapabilities`), an unsupported protocol version (-32022), or a "
            "`requestState` that was changed, has expired or was already answered (-32602).",
            "content": {JSON: {"schema": JSON_RPC_RESPONSE}},
        },
        "401": {
            "description": "No token, or a token that is invalid, expired, revoked or for another "
            "resource. Discovery starts here: the challenge names the metadata and the scope.",
            "headers": {
                "WWW-Authenticate": {
                    "schema": {"type": "string"},
                    "examples": {
                        "no token": {"value": inputs.challenge_401},
                        "invalid token": {"value": inputs.challenge_invalid},
                    },
                }
            },
            "content": {JSON: {"schema": OAUTH_ERROR}},
        },
        "403": {
            "description": "The token lacks a scope this request needs (step-up: authorize again with "
            "the scopes of the challenge), or the `Origin`/`Host` is not allowed (DNS rebinding).",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "example": inputs.challenge_403}},
            "content": {JSON: {"schema": OAUTH_ERROR}},
        },
        "405": {"description": "GET (no server stream in the stateless mode) or another method."},
        "413": {"description": "The body is larger than MCP_MAX_BODY_BYTES."},
        "503": {
            "description": "The database is unreachable; retry after `Retry-After` seconds.",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
    }
