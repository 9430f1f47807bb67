"""Deleting a note asks the person to confirm, in every deployment mode, with the official `mcp`
SDK client against real servers:

- 2026-07-28 against two replicas (two gunicorn servers on one database) behind a round-robin
  balancer: the first call answers input_required, the confirmation goes to the other replica,
  which deletes the note; a tampered or replayed `requestState` is refused, by either replica;
- 2025-11-25 in a session (MCP_STATEFUL=1): the server asks mid-call, over the session;
- 2025-11-25 without a session (the default): the client cannot be asked, so the call fails at
  once and says how to confirm in the conversation (`confirm=true`).
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ElicitResult, InputRequiredResult

from tests.conftest import TokenKit
from tests.support.balancer import RoundRobinBalancer
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e

MODERN = "2026-07-28"


@pytest.fixture(scope="module")
def replicas() -> Iterator[RoundRobinBalancer]:
    """Two replicas of the server (one worker each) on one database, behind the balancer."""
    balancer = RoundRobinBalancer()
    public = {"PUBLIC_URL": balancer.url}
    first = LiveServer(env=public, workers=1, name="replica-a").start()
    second = None
    try:
        second = LiveServer(env=public, workers=1, name="replica-b", replica_of=first).start()
        balancer.start([first.url, second.url])
        yield balancer
    finally:
        balancer.stop()
        if second is not None:
            second.stop()
        first.stop()


def writer_token(server) -> str:
    with httpx2.Client(timeout=30) as http:
        return TokenKit(server, http).tokens("mcp:read mcp:write")["access_token"]


class Person:
    """Answers the server's questions as the person at the client would, and remembers them."""

    def __init__(self, action: str = "accept", delete: bool = True) -> None:
        self.action, self.delete = action, delete
        self.asked: list[str] = []

    async def __call__(self, context, params) -> ElicitResult:
        self.asked.append(params.message)
        content = {"delete": self.delete} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)


async def in_session(url: str, token: str, mode: str, person: Person | None, work):
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, elicitation_callback=person) as client,
    ):
        return await work(client)


async def create(client: Client, title: str) -> int:
    created = await client.call_tool("create_note", {"title": title})
    assert created.is_error is False, created
    return created.structured_content["id"]


async def answer_round(client: Client, note_id: int, answers: dict, state: str):
    """The deletion's next round, driven by hand: the answers and the state of the last one."""
    return await client.session.call_tool(
        "delete_note", {"note_id": note_id}, input_responses=answers, request_state=state, allow_input_required=True
    )


async def still_there(client: Client, note_id: int) -> bool:
    found = await client.call_tool("get_note", {"note_id": note_id})
    return not found.is_error


def test_2026_the_confirmation_may_reach_another_replica(replicas: RoundRobinBalancer) -> None:
    token = writer_token(replicas)
    person = Person()

    async def work(client: Client):
        note_id = await create(client, "Holiday plans")
        first = await client.session.call_tool("delete_note", {"note_id": note_id}, allow_input_required=True)
        assert isinstance(first, InputRequiredResult)
        ((key, question),) = first.input_requests.items()
        assert question.method == "elicitation/create"
        assert question.params.message == "Delete the note “Holiday plans” for good?"
        answers = {key: await person(None, question.params)}
        second = await answer_round(client, note_id, answers, first.request_state)
        assert isinstance(second, CallToolResult)
        # Presented again, to whichever replica, the answered state is refused.
        with pytest.raises(MCPError) as replayed:
            await answer_round(client, note_id, answers, first.request_state)
        return note_id, second, replayed.value, await still_there(client, note_id)

    note_id, deleted, replayed, there = anyio.run(in_session, replicas.mcp_url, token, MODERN, person, work)

    assert deleted.is_error is False, deleted
    assert deleted.structured_content == {"id": note_id, "deleted": True}
    assert there is False
    assert (replayed.code, replayed.message) == (-32602, "Invalid or expired requestState")
    # create, ask (round 1), confirm (round 2), replay, get: the balancer alternates, so the two
    # rounds of the deletion were answered by different replicas.
    _create, ask, confirm, _replay, _get = replicas.mcp_calls("tools/call")
    assert ask.backend != confirm.backend
    assert (ask.status, confirm.status) == (200, 200)
    assert {hit.backend for hit in replicas.hits} == set(replicas.backends)


def test_2026_a_tampered_state_is_refused_and_the_sdk_client_drives_the_rounds(replicas: RoundRobinBalancer) -> None:
    token = writer_token(replicas)
    person = Person()

    async def work(client: Client):
        note_id = await create(client, "Shopping")
        first = await client.session.call_tool("delete_note", {"note_id": note_id}, allow_input_required=True)
        ((key, _question),) = first.input_requests.items()
        state = first.request_state
        tampered = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
        with pytest.raises(MCPError) as refused:
            await answer_round(
                client, note_id, {key: ElicitResult(action="accept", content={"delete": True})}, tampered
            )
        kept = await still_there(client, note_id)
        # The SDK client's own loop: it asks `person` and retries, wherever each round lands.
        deleted = await client.call_tool("delete_note", {"note_id": note_id})
        return note_id, refused.value, kept, deleted

    note_id, refused, kept, deleted = anyio.run(in_session, replicas.mcp_url, token, MODERN, person, work)

    assert (refused.code, refused.message) == (-32602, "Invalid or expired requestState")
    assert kept is True
    assert deleted.structured_content == {"id": note_id, "deleted": True}
    assert person.asked == ["Delete the note “Shopping” for good?"]


def test_2025_in_a_session_the_server_asks_mid_call(stateful_stack: LiveServer) -> None:
    token = writer_token(stateful_stack)
    confirms, declines = Person(), Person(action="decline")

    async def delete_one(title: str, person: Person) -> tuple[int, CallToolResult, bool]:
        async def work(client: Client):
            assert client.protocol_version == "2025-11-25"
            note_id = await create(client, title)
            result = await client.call_tool("delete_note", {"note_id": note_id})
            return note_id, result, await still_there(client, note_id)

        return await in_session(stateful_stack.mcp_url, token, "legacy", person, work)

    kept_id, kept, kept_there = anyio.run(delete_one, "Keep", declines)
    gone_id, gone, gone_there = anyio.run(delete_one, "Bin", confirms)

    assert declines.asked == ["Delete the note “Keep” for good?"]
    assert (kept.structured_content, kept_there) == ({"id": kept_id, "deleted": False}, True)
    assert confirms.asked == ["Delete the note “Bin” for good?"]
    assert (gone.structured_content, gone_there) == ({"id": gone_id, "deleted": True}, False)


def test_2025_without_a_session_the_client_confirms_in_the_conversation(stack: LiveServer) -> None:
    token = writer_token(stack)
    person = Person()

    async def work(client: Client):
        assert client.protocol_version == "2025-11-25"
        note_id = await create(client, "Stateless")
        refused = await client.call_tool("delete_note", {"note_id": note_id})
        there = await still_there(client, note_id)
        confirmed = await client.call_tool("delete_note", {"note_id": note_id, "confirm": True})
        return note_id, refused, there, confirmed

    note_id, refused, there, confirmed = anyio.run(in_session, stack.mcp_url, token, "legacy", person, work)

    assert refused.is_error is True
    assert "needs the person's confirmation" in refused.content[0].text
    assert "call delete_note again with confirm=true" in refused.content[0].text
    assert there is True
    assert person.asked == []  # nothing was sent to the client: there is no session to carry it
    assert confirmed.structured_content == {"id": note_id, "deleted": True}
