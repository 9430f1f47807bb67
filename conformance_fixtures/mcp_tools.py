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
from typing import Annotated, Any

from mcp.types import (
    AudioContent,
    CreateMessageRequest,
    CreateMessageRequestParams,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequest,
    ListRootsRequest,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field

from mcpserver.api import (
    Context,
    InputRequiredResult,
    UserMessage,
    ask_model,
    ask_user,
    client_can,
    list_roots,
    mcp_method,
    mcp_prompt,
    mcp_resource,
    mcp_tool,
)

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


class Name(BaseModel):
    name: str


class Colour(BaseModel):
    color: str


class Confirmation(BaseModel):
    ok: bool


class PromptContext(BaseModel):
    context: str


# SEP-1613 / SEP-2106: the 2020-12 keywords a derived schema never has (composition, conditionals,
# $anchor) must reach tools/list as written.
JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
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


# The tools that ask go through the public API's ask_user/ask_model/list_roots: in a 2025-xx
# session the request goes to the client mid-call; on 2026-07-28 the call answers input_required.
@mcp_tool
async def test_sampling(prompt: str) -> str:
    """Asks the client's model."""
    reply = await ask_model(prompt, max_tokens=100)
    return f"LLM response: {reply.content.text if reply.content.type == 'text' else '(no text)'}"


@mcp_tool
async def test_elicitation(message: str) -> str:
    """Asks the user for a user name and an e-mail address."""
    return "User response: " + _elicited(await ask_user(message, Contact))


@mcp_tool
async def test_elicitation_sep1034_defaults() -> str:
    """Asks the user with a default for every field."""
    return "Elicitation result: " + _elicited(await ask_user("Please review your details", DefaultsForm))


@mcp_tool
async def test_elicitation_sep1330_enums() -> str:
    """Asks the user to pick from each kind of enum."""
    return "Elicitation completed: " + _elicited(await ask_user("Please choose", EnumForm))


@mcp_tool
async def test_missing_capability() -> str:
    """Needs the client's sampling capability: without it, -32021 and HTTP 400 (SEP-2575)."""
    await ask_model("Say hello", max_tokens=20)
    return "Client declared sampling capability; proceeding."


REGION = Field(description="Sent as the Mcp-Param-Region header too", json_schema_extra={"x-mcp-header": "Region"})


@mcp_tool
def test_x_mcp_header(region: Annotated[str, REGION] = "<none>") -> str:
    """Has a parameter a 2026-07-28 client mirrors into a header (SEP-2243)."""
    return f"region={region}"


# --- SEP-2322 multi-round-trip requests (2026-07-28) ---------------------------------------------


def _name_question(message: str = "What is your name?") -> ElicitRequest:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def _model_question(text: str, max_tokens: int) -> CreateMessageRequest:
    messages = [SamplingMessage(role="user", content=TextContent(type="text", text=text))]
    return CreateMessageRequest(params=CreateMessageRequestParams(messages=messages, max_tokens=max_tokens))


@mcp_tool
async def test_input_required_result_elicitation(ctx: Context) -> str | InputRequiredResult:
    """Asks for a name. Written with the SDK's InputRequiredResult rather than ask_user: the suite
    also sends the answer without any requestState, which ask_user does not take."""
    answer = (ctx.input_responses or {}).get("user_name")
    if isinstance(answer, ElicitResult) and answer.action == "accept" and answer.content:
        return f"Hello, {answer.content.get('name', 'stranger')}!"
    return InputRequiredResult(input_requests={"user_name": _name_question()})


@mcp_tool
async def test_input_required_result_sampling() -> str:
    """Asks the client's model."""
    reply = await ask_model("What is the capital of France?", max_tokens=100, key="capital_question")
    return f"Model said: {reply.content.text if reply.content.type == 'text' else '?'}"


@mcp_tool
async def test_input_required_result_list_roots() -> str:
    """Asks for the client's roots."""
    return f"Client exposed {len(await list_roots(key='client_roots'))} root(s)."


async def _confirmed() -> str:
    answer = await ask_user("Please confirm", Confirmation, key="confirm")
    return f"state-ok: confirmation {answer.action}"


@mcp_tool
async def test_input_required_result_request_state() -> str:
    """Asks for a confirmation; the answer comes back with the state."""
    return await _confirmed()


@mcp_tool
async def test_input_required_result_multiple_inputs(ctx: Context) -> str | InputRequiredResult:
    """Asks the user, the model and for the roots in one round (ask_user and the others ask one
    question per round, so this one is written with the SDK's InputRequiredResult)."""
    if {"user_name", "greeting", "client_roots"} <= set(ctx.input_responses or {}):
        return "All inputs received."
    questions: dict[str, InputRequest] = {
        "user_name": _name_question(),
        "greeting": _model_question("Generate a greeting", 50),
        "client_roots": ListRootsRequest(),
    }
    return InputRequiredResult(input_requests=questions, request_state="multiple-inputs")


@mcp_tool
async def test_input_required_result_multi_round() -> str:
    """Asks two questions, one per round; the first answer travels in the state."""
    name = await ask_user("Step 1: What is your name?", Name, key="step1")
    color = await ask_user("Step 2: What is your favorite color?", Colour, key="step2")
    return f"{_value(name, 'name')} likes {_value(color, 'color')}."


@mcp_tool
async def test_input_required_result_tampered_state() -> str:
    """Asks for a confirmation; the SDK refuses a state that was changed on the way."""
    return await _confirmed()


@mcp_tool
async def test_input_required_result_capabilities() -> InputRequiredResult:
    """Asks only what the client declared it can answer."""
    questions: dict[str, InputRequest] = {}
    if client_can("sampling"):
        questions["sample"] = _model_question("Say hello", 50)
    if client_can("elicitation"):
        questions["ask"] = _name_question()
    return InputRequiredResult(input_requests=questions, request_state="capability-gated")


def _value(answer, field: str) -> str:
    return getattr(answer.data, field) if answer.action == "accept" else "(no answer)"


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
async def test_input_required_result_prompt() -> list[UserMessage]:
    """A prompt that asks the user what to use (SEP-2322 beyond tools/call)."""
    answer = await ask_user("What context should the prompt use?", PromptContext, key="user_context")
    return [UserMessage(f"Use the following context: {_value(answer, 'context')}")]


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
