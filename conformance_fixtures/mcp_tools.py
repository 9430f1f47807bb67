"""The tools, resources and prompts the official MCP conformance suite calls, declared through the
public API (mcpserver.api) like any app's. Installed only when MCP_CONFORMANCE_FIXTURES is on
(config/settings.py; the tests turn it on, production leaves it off).

Names, arguments and texts are the ones the suite's scenarios check (the scenario descriptions
of modelcontextprotocol/conformance, and the reference everything-server of its examples); nothing
here touches user data.
"""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from typing import Any

from mcp.types import (
    AudioContent,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field

from mcpserver.api import Context, UserMessage, mcp_method, mcp_prompt, mcp_resource, mcp_tool

# A 1×1 PNG and a tiny WAV header: the suite checks type and MIME type, not the picture.
PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV_BASE64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="


class Contact(BaseModel):
    username: str = Field(description="Your user name")
    email: str = Field(description="Your e-mail address")


class DefaultsForm(BaseModel):
    """SEP-1034: a default for every primitive type."""

    name: str = Field(default="John Doe", description="User name")
    age: int = Field(default=30, description="User age")
    score: float = Field(default=95.5, description="User score")
    status: str = Field(
        default="active", description="User status", json_schema_extra={"enum": ["active", "inactive", "pending"]}
    )
    verified: bool = Field(default=True, description="Verification status")


class EnumForm(BaseModel):
    """SEP-1330: the five ways an elicitation schema can spell a choice."""

    untitledSingle: str = Field(  # noqa: N815 (field names are the suite's)
        description="Untitled single choice", json_schema_extra={"enum": ["option1", "option2", "option3"]}
    )
    titledSingle: str = Field(  # noqa: N815
        description="Titled single choice",
        json_schema_extra={
            "oneOf": [
                {"const": "value1", "title": "First value"},
                {"const": "value2", "title": "Second value"},
                {"const": "value3", "title": "Third value"},
            ]
        },
    )
    legacyEnum: str = Field(  # noqa: N815
        description="Legacy titled choice",
        json_schema_extra={"enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option one", "Option two", "Option three"]},
    )
    untitledMulti: list[str] = Field(  # noqa: N815
        description="Untitled multiple choice",
        json_schema_extra={"items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
    )
    titledMulti: list[str] = Field(  # noqa: N815
        description="Titled multiple choice",
        json_schema_extra={
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First value"},
                    {"const": "value2", "title": "Second value"},
                    {"const": "value3", "title": "Third value"},
                ]
            }
        },
    )


JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}


async def _log(ctx: Context, message: str) -> None:
    with warnings.catch_warnings():
        # Logging is deprecated from 2026-07-28 on, but the 2025 scenarios still test it.
        warnings.simplefilter("ignore")
        await ctx.info(message)


def _elicited(result) -> str:
    content = result.data.model_dump_json() if result.action == "accept" else "{}"
    return f"action={result.action}, content={content}"


@mcp_tool
def test_simple_text() -> str:
    """Returns a fixed text."""
    return "This is a simple text response for testing."


@mcp_tool
def test_image_content() -> list[ImageContent]:
    """Returns an image."""
    return [ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")]


@mcp_tool
def test_audio_content() -> list[AudioContent]:
    """Returns a sound."""
    return [AudioContent(type="audio", data=WAV_BASE64, mime_type="audio/wav")]


@mcp_tool
def test_embedded_resource() -> list[EmbeddedResource]:
    """Returns an embedded text resource."""
    return [
        EmbeddedResource(
            type="resource",
            resource=TextResourceContents(
                uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
            ),
        )
    ]


@mcp_tool
def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
    """Returns text, an image and a resource together."""
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG_BASE64, mime_type="image/png"),
        EmbeddedResource(
            type="resource",
            resource=TextResourceContents(
                uri="test://mixed-content-resource",
                mime_type="application/json",
                text=json.dumps({"test": "data", "value": 123}),
            ),
        ),
    ]


@mcp_tool
async def test_tool_with_logging(ctx: Context) -> str:
    """Sends three log messages while it runs."""
    for step in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        await _log(ctx, step)
        await asyncio.sleep(0.05)
    return "Tool with logging executed successfully"


@mcp_tool
async def test_tool_with_progress(ctx: Context) -> str:
    """Reports progress 0, 50 and 100 of 100."""
    for done in (0, 50, 100):
        await ctx.report_progress(progress=done, total=100, message=f"{done} of 100")
        await asyncio.sleep(0.05)
    return "Tool with progress executed successfully"


@mcp_tool
def test_error_handling() -> str:
    """Fails on purpose."""
    raise RuntimeError("This tool intentionally returns an error for testing")


@mcp_tool
async def test_sampling(prompt: str, ctx: Context) -> str:
    """Asks the client's model (needs a stateful session)."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
        max_tokens=100,
        related_request_id=ctx.request_id,
    )
    text = result.content.text if result.content.type == "text" else "(no text)"
    return f"LLM response: {text}"


@mcp_tool
async def test_elicitation(message: str, ctx: Context) -> str:
    """Asks the user for a user name and an e-mail address (needs a stateful session)."""
    return "User response: " + _elicited(await ctx.elicit(message=message, schema=Contact))


@mcp_tool
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    """Asks the user with a default for every field (needs a stateful session)."""
    result = await ctx.elicit(message="Please review your details", schema=DefaultsForm)
    return "Elicitation result: " + _elicited(result)


@mcp_tool
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Asks the user to pick from each kind of enum (needs a stateful session)."""
    result = await ctx.elicit(message="Please choose", schema=EnumForm)
    return "Elicitation completed: " + _elicited(result)


@mcp_tool(input_schema=JSON_SCHEMA_2020_12)
def json_schema_2020_12_tool() -> str:
    """Has a JSON Schema 2020-12 input schema."""
    return "json_schema_2020_12_tool"


@mcp_tool
async def test_reconnection(ctx: Context) -> str:
    """Closes its SSE stream mid-call (SEP-1699 polling)."""
    await _log(ctx, "Before disconnect")
    await ctx.close_sse_stream()
    await asyncio.sleep(0.2)
    await _log(ctx, "After reconnect")
    return "Reconnection test completed"


@mcp_resource("test://static-text", name="static-text", mime_type="text/plain")
def static_text() -> str:
    """A fixed text resource."""
    return "This is the content of the static text resource."


@mcp_resource("test://static-binary", name="static-binary", mime_type="image/png")
def static_binary() -> bytes:
    """A fixed binary resource."""
    return base64.b64decode(PNG_BASE64)


@mcp_resource("test://template/{id}/data", name="template-data", mime_type="application/json")
def template_data(id: str) -> str:  # noqa: A002 (the template variable is called id)
    """A resource template."""
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@mcp_resource("test://watched-resource", name="watched-resource", mime_type="text/plain")
def watched_resource() -> str:
    """A resource clients may subscribe to."""
    return "Watched resource content"


@mcp_prompt
def test_simple_prompt() -> list[UserMessage]:
    """A prompt without arguments."""
    return [UserMessage("This is a simple prompt for testing.")]


def no_suggestions(prefix: str) -> list[str]:
    return []


@mcp_prompt(complete={"arg1": no_suggestions, "arg2": no_suggestions})
def test_prompt_with_arguments(arg1: str, arg2: str) -> list[UserMessage]:
    """A prompt with two arguments."""
    return [UserMessage(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]


@mcp_prompt
def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:  # noqa: N803
    """A prompt that embeds a resource."""
    return [
        UserMessage(
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(
                    uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
                ),
            )
        ),
        UserMessage("Please process the embedded resource above."),
    ]


@mcp_prompt
def test_prompt_with_image() -> list[UserMessage]:
    """A prompt with an image."""
    return [
        UserMessage(ImageContent(type="image", data=PNG_BASE64, mime_type="image/png")),
        UserMessage("Please analyze the image above."),
    ]


# MCPServer has no methods of its own for these 2025 ones; they are declared like tools.
@mcp_method("logging/setLevel", SetLevelRequestParams)
async def set_level(params: SetLevelRequestParams) -> EmptyResult:
    return EmptyResult()


@mcp_method("resources/subscribe", SubscribeRequestParams)
async def subscribe(params: SubscribeRequestParams) -> EmptyResult:
    return EmptyResult()


@mcp_method("resources/unsubscribe", UnsubscribeRequestParams)
async def unsubscribe(params: UnsubscribeRequestParams) -> EmptyResult:
    return EmptyResult()
