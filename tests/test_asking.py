"""Tools that ask (mcpserver/asking.py: `ask_user`, `ask_model`, `list_roots`) through the real
/mcp application, in-process: the 2026-07-28 rounds and their sealed, expiring, single-use
`requestState`; the capability checks; a client that cannot be asked; tool input schemas as
written; and the routing headers as the bearer gate and the SDK read them.

The 2025-xx session path (`MCP_STATEFUL=1`) and two replicas are end-to-end tests
(tests/test_asking_e2e.py)."""

from __future__ import annotations

import base64
import json
import time
from typing import Annotated

import pytest
from django.contrib.auth import get_user_model
from pydantic import BaseModel, Field

from mcpserver import api
from mcpserver.testing import LEGACY, MODERN, McpError, McpTestClient, ToolFailed, declarations_undone

ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN}


class Name(BaseModel):
    name: str = Field(description="Your name")


class Colour(BaseModel):
    colour: str = Field(description="Your favourite colour")


class Can(BaseModel):
    elicitation: bool
    sampling: bool
    roots: bool


@pytest.fixture
def ada(transactional_db):
    return get_user_model().objects.create_user("ada", password="ada-password-123")


@pytest.fixture
def quiz():
    """An app of the test's own whose tools and prompt ask; `effects` counts what they did."""
    effects: list[str] = []
    with declarations_undone():

        @api.mcp_tool
        async def quiz_two_questions() -> str:
            """Asks for a name, then a colour."""
            name = await api.ask_user("What is your name?", Name)
            if name.action != "accept":
                return "no name"
            colour = await api.ask_user(f"{name.data.name}, your favourite colour?", Colour)
            effects.append("answered")
            return f"{name.data.name} likes {colour.data.colour if colour.action == 'accept' else 'nothing'}"

        @api.mcp_tool
        async def quiz_model_and_roots() -> str:
            """Asks the client's model, then for its roots."""
            reply = await api.ask_model("Name a colour", max_tokens=10)
            roots = await api.list_roots()
            return f"{reply.content.text} / {', '.join(str(root.uri) for root in roots)}"

        @api.mcp_tool
        async def quiz_swallowing() -> str:
            """Catches every Exception around the question."""
            try:
                await api.ask_user("Sure?", Name)
            except Exception:  # noqa: BLE001 (the point: the question still reaches the client)
                return "swallowed"
            return "asked"

        @api.mcp_tool
        async def quiz_can() -> Can:
            """What the client can be asked."""
            return Can(**{what: api.client_can(what) for what in ("elicitation", "sampling", "roots")})

        @api.mcp_prompt
        async def quiz_prompt() -> str:
            """A prompt that asks what to write about."""
            answer = await api.ask_user("About what?", Name)
            return f"Write about {answer.data.name}"

        @api.mcp_tool(
            input_schema={
                "type": "object",
                "$defs": {"who": {"$anchor": "who", "type": "string", "minLength": 2}},
                "properties": {"kind": {"enum": ["person", "pet"]}, "name": {"$ref": "#who"}},
                "if": {"properties": {"kind": {"const": "pet"}}},
                "then": {"required": ["name"]},
                "allOf": [{"required": ["kind"]}],
                "additionalProperties": False,
            }
        )
        def quiz_schema(kind: str, name: str = "") -> str:
            """Has an input schema of its own."""
            return f"{kind}:{name}"

        @api.mcp_tool
        def quiz_region(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
            """Has a parameter 2026-07-28 clients send as the Mcp-Param-Region header too."""
            return region

        yield effects


def answers(**by_method):
    """An `answer` for McpTestClient: each question answered by the function of its method."""

    def answer(question: dict) -> dict:
        return by_method[question["method"].replace("/", "_")](question.get("params", {}))

    return answer


NAME_AND_COLOUR = answers(
    elicitation_create=lambda params: {
        "action": "accept",
        "content": {"name": "Ada"} if "name" in params["requestedSchema"]["properties"] else {"colour": "green"},
    }
)


def call_params(name: str, **extra) -> dict:
    capabilities = extra.pop("capabilities", {"elicitation": {}})
    return {
        "name": name,
        "arguments": {},
        "_meta": {**ENVELOPE, "io.modelcontextprotocol/clientCapabilities": capabilities},
        **extra,
    }


def post(mcp: McpTestClient, params: dict, method: str = "tools/call", headers: dict | None = None):
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    sent = {
        "Authorization": f"Bearer {mcp.token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
        "Mcp-Name": params.get("name", ""),
        **(headers or {}),
    }
    return mcp.http.post("/mcp", content=json.dumps(body), headers=sent)


def test_each_round_asks_one_question_and_the_state_keeps_the_earlier_answers(ada, quiz) -> None:
    with McpTestClient(ada, protocol=MODERN, answer=NAME_AND_COLOUR) as mcp:
        assert mcp.call_tool("quiz_two_questions") == {"result": "Ada likes green"}
    first, second = mcp.rounds
    assert list(first["inputRequests"]) == ["user-1"]
    assert first["inputRequests"]["user-1"]["method"] == "elicitation/create"
    assert first["inputRequests"]["user-1"]["params"]["message"] == "What is your name?"
    # Round two sends only the second answer: the first comes back from the state.
    assert list(second["inputRequests"]) == ["user-2"]
    assert second["inputRequests"]["user-2"]["params"]["message"] == "Ada, your favourite colour?"
    assert first["requestState"] != second["requestState"]
    assert "Ada" not in second["requestState"]  # sealed: the client cannot read the answers in it
    assert quiz == ["answered"]


def test_model_and_roots_are_asked_like_the_person(ada, quiz) -> None:
    answer = answers(
        sampling_createMessage=lambda params: {
            "role": "assistant",
            "content": {"type": "text", "text": "teal"},
            "model": "test-model",
        },
        roots_list=lambda params: {"roots": [{"uri": "file:///home/ada/work", "name": "work"}]},
    )
    with McpTestClient(ada, protocol=MODERN, answer=answer) as mcp:
        assert mcp.call_tool("quiz_model_and_roots") == {"result": "teal / file:///home/ada/work"}
    asked = [list(round_["inputRequests"].values())[0] for round_ in mcp.rounds]
    assert [question["method"] for question in asked] == ["sampling/createMessage", "roots/list"]
    assert asked[0]["params"]["messages"][0]["content"]["text"] == "Name a colour"
    assert asked[0]["params"]["maxTokens"] == 10


def test_a_prompt_asks_too(ada, quiz) -> None:
    with McpTestClient(ada, protocol=MODERN, answer=NAME_AND_COLOUR) as mcp:
        (message,) = mcp.get_prompt("quiz_prompt")
    assert message["content"]["text"] == "Write about Ada"
    assert len(mcp.rounds) == 1


def test_a_tool_catching_every_exception_still_asks(ada, quiz) -> None:
    with McpTestClient(ada, protocol=MODERN, answer=NAME_AND_COLOUR) as mcp:
        assert mcp.call_tool("quiz_swallowing") == {"result": "asked"}
    assert len(mcp.rounds) == 1


def round_one(mcp: McpTestClient, tool: str = "quiz_two_questions") -> dict:
    answer = post(mcp, call_params(tool))
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["resultType"] == "input_required"
    return result


def test_a_tampered_state_is_refused(ada, quiz) -> None:
    with McpTestClient(ada, protocol=MODERN) as mcp:
        first = round_one(mcp)
        state = first["requestState"]
        flipped = state[:-3] + ("A" if state[-3] != "A" else "B") + state[-2:]
        for forged in (state + "-TAMPERED", flipped, "v1.", "not-a-state"):
            answer = post(
                mcp,
                call_params(
                    "quiz_two_questions",
                    inputResponses={"user-1": {"action": "accept", "content": {"name": "Mallory"}}},
                    requestState=forged,
                ),
            )
            assert answer.status_code == 400, forged
            assert answer.json()["error"] == {
                "code": -32602,
                "message": "Invalid or expired requestState",
                "data": {"reason": "invalid_request_state"},
            }
    assert quiz == []


def test_a_state_answered_once_is_refused_the_second_time(ada, quiz) -> None:
    with McpTestClient(ada, protocol=MODERN) as mcp:
        first = round_one(mcp)
        retry = call_params(
            "quiz_two_questions",
            inputResponses={"user-1": {"action": "accept", "content": {"name": "Ada"}}},
            requestState=first["requestState"],
        )
        assert post(mcp, retry).json()["result"]["resultType"] == "input_required"
        replayed = post(mcp, retry)
    assert replayed.status_code == 400
    assert replayed.json()["error"]["message"] == "Invalid or expired requestState"


def test_a_state_is_bound_to_its_user_and_its_tool(ada, quiz) -> None:
    grace = get_user_model().objects.create_user("grace")
    with McpTestClient(ada, protocol=MODERN) as mine, McpTestClient(grace, protocol=MODERN) as theirs:
        first = round_one(mine)
        stolen = call_params(
            "quiz_two_questions",
            inputResponses={"user-1": {"action": "accept", "content": {"name": "Grace"}}},
            requestState=first["requestState"],
        )
        assert post(theirs, stolen).status_code == 400
        elsewhere = {**stolen, "name": "quiz_swallowing"}
        assert post(mine, elsewhere).json()["error"]["message"] == "Invalid or expired requestState"
        # Neither attempt spent it: its owner can still answer it.
        assert post(mine, stolen).json()["result"]["resultType"] == "input_required"


def test_a_state_expires(ada, quiz, monkeypatch) -> None:
    import mcpserver.server

    monkeypatch.setattr(mcpserver.server, "REQUEST_STATE_TTL", 1.0)
    with McpTestClient(ada, protocol=MODERN) as mcp:
        first = round_one(mcp)
        time.sleep(1.5)
        late = post(
            mcp,
            call_params(
                "quiz_two_questions",
                inputResponses={"user-1": {"action": "accept", "content": {"name": "Ada"}}},
                requestState=first["requestState"],
            ),
        )
    assert late.status_code == 400
    assert late.json()["error"]["message"] == "Invalid or expired requestState"


def test_an_answer_to_a_question_never_asked_does_not_count(ada, quiz) -> None:
    with McpTestClient(ada, protocol=MODERN) as mcp:
        unasked = post(
            mcp,
            call_params(
                "quiz_two_questions", inputResponses={"user-1": {"action": "accept", "content": {"name": "X"}}}
            ),
        )
    result = unasked.json()["result"]
    assert result["resultType"] == "input_required"
    assert list(result["inputRequests"]) == ["user-1"]


def test_a_client_without_the_capability_gets_32021_and_400(ada, quiz) -> None:
    with McpTestClient(ada, protocol=MODERN) as mcp:
        answer = post(mcp, call_params("quiz_two_questions", capabilities={"sampling": {}}))
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == -32021
        assert error["data"] == {"requiredCapabilities": {"elicitation": {"form": {}}}}
        roots = post(mcp, call_params("quiz_model_and_roots", capabilities={"elicitation": {}}))
        assert roots.json()["error"]["data"] == {"requiredCapabilities": {"sampling": {}}}
    assert quiz == []


def test_a_2025_client_without_a_session_is_told_at_once(ada, quiz) -> None:
    with McpTestClient(ada, protocol=LEGACY) as mcp:
        with pytest.raises(McpError) as refused:
            mcp.call_tool("quiz_two_questions")
        assert refused.value.code == -32600
        assert refused.value.message.startswith("This needs the client's elicitation, and it cannot be asked:")
        assert "MCP_STATEFUL=1" in refused.value.message
        assert mcp.call_tool("quiz_can") == {"elicitation": False, "sampling": False, "roots": False}
    with McpTestClient(ada, protocol=MODERN, capabilities={"elicitation": {}, "roots": {}}) as mcp:
        assert mcp.call_tool("quiz_can") == {"elicitation": True, "sampling": False, "roots": True}


def test_asking_outside_a_call_says_where_it_works() -> None:
    import asyncio

    with pytest.raises(RuntimeError, match=r"ask_user\(\) works inside an async tool or prompt"):
        asyncio.run(api.ask_user("Hello?", Name))


# --- Input schemas as written -------------------------------------------------------------------


def test_an_input_schema_of_its_own_is_listed_as_written_and_enforced(ada, quiz) -> None:
    with McpTestClient(ada, protocol=MODERN) as mcp:
        (listed,) = [tool for tool in mcp.list_tools() if tool["name"] == "quiz_schema"]
        assert listed["inputSchema"]["$defs"]["who"]["$anchor"] == "who"
        assert listed["inputSchema"]["if"] == {"properties": {"kind": {"const": "pet"}}}
        assert listed["inputSchema"]["allOf"] == [{"required": ["kind"]}]
        assert mcp.call_tool("quiz_schema", {"kind": "pet", "name": "Rex"}) == {"result": "pet:Rex"}
        assert mcp.call_tool("quiz_schema", {"kind": "person"}) == {"result": "person:"}
        for arguments, problem in (
            ({"kind": "pet"}, "'name' is a required property"),
            ({"kind": "pet", "name": "R"}, "at name: 'R' is too short"),
            ({"kind": "robot"}, "at kind: 'robot' is not one of"),
            ({"kind": "person", "extra": 1}, "Additional properties are not allowed"),
        ):
            with pytest.raises(ToolFailed, match=problem):
                mcp.call_tool("quiz_schema", arguments)


def test_a_schema_clients_cannot_use_stops_the_server() -> None:
    from mcpserver.checks import check_registry
    from mcpserver.registry import Declaration, Registry

    def tool() -> str:
        return ""

    for schema, problem in (
        ({"type": "array"}, "must be a JSON object schema"),
        ({"type": "object", "properties": {"n": {"type": 3}}}, "is not valid under any of the given schemas"),
        ({"type": "object", "properties": {"r": {"type": "object", "x-mcp-header": "R"}}}, "x-mcp-header"),
    ):
        source = Registry()
        source.declarations.append(Declaration("tool", "t", "mcp:read", tool, "here.py:1", input_schema=schema))
        (error,) = check_registry(source=source)
        assert error.id == "mcp.E007"
        assert problem in error.msg


# --- Routing headers: what the gate decides by is what the SDK holds the body to -----------------


def test_whitespace_around_the_routing_headers_is_not_part_of_them(ada) -> None:
    with McpTestClient(ada, protocol=MODERN) as mcp:
        answer = post(
            mcp,
            call_params("whoami"),
            headers={"Mcp-Name": "  whoami\t", "Mcp-Method": " tools/call ", "MCP-Protocol-Version": MODERN + " "},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["structuredContent"]["user"] == "ada"


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("eu-west", 200),
        (" eu-west ", 200),
        ("=?base64?" + base64.b64encode(b"eu-west").decode() + "?=", 200),
        ("us-east", 400),
        (None, 400),
    ],
)
def test_an_x_mcp_header_parameter_is_held_to_its_header(ada, quiz, header: str | None, status: int) -> None:
    with McpTestClient(ada, protocol=MODERN) as mcp:
        params = call_params("quiz_region")
        params["arguments"] = {"region": "eu-west"}
        answer = post(mcp, params, headers={"Mcp-Param-Region": header} if header is not None else {})
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json()["result"]["structuredContent"] == {"result": "eu-west"}
    else:
        assert answer.json()["error"]["code"] == -32020


@pytest.mark.parametrize(
    "mcp_name",
    [
        " delete_note ",
        "=?base64?" + base64.b64encode(b"delete_note").decode() + "?=",
        "whoami",
        "=?base64?!!not base64!!?=",
        "",
        "=?base64?" + base64.b64encode(b"whoami").decode() + "?=",
    ],
)
def test_no_spelling_of_mcp_name_lets_a_read_token_delete(ada, mcp_name: str) -> None:
    with McpTestClient(ada, scopes=["mcp:read", "mcp:write"]) as writer:
        note = writer.call_tool("create_note", {"title": "Precious"})
    with McpTestClient(ada, scopes=["mcp:read"], protocol=MODERN) as reader:
        params = call_params("delete_note")
        params["arguments"] = {"note_id": note["id"], "confirm": True}
        answer = post(reader, params, headers={"Mcp-Name": mcp_name})
        # Refused by the gate (403: the name it read needs mcp:write) or by the SDK (400: the
        # header does not match the body), never run.
        assert answer.status_code in (400, 403), answer.text
        if answer.status_code == 400:
            assert answer.json()["error"]["code"] == -32020
        assert reader.call_tool("get_note", {"note_id": note["id"]})["title"] == "Precious"


def test_a_duplicated_mcp_name_is_refused(ada) -> None:
    with McpTestClient(ada, scopes=["mcp:read"], protocol=MODERN) as mcp:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call_params("whoami")}
        headers = [
            ("authorization", f"Bearer {mcp.token}"),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", "whoami"),
            ("mcp-name", "delete_note"),
        ]
        answer = mcp.http.post("/mcp", content=json.dumps(body), headers=headers)
    assert answer.status_code in (400, 403)
