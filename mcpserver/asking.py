"""Asking the person (elicitation), the client's model (sampling) or the client's roots from inside
a tool or prompt, with one call that works on both protocol generations (`mcpserver.api`).

- **2026-07-28** (any deployment): multi-round-trip requests. A question without an answer ends
  this round: the call returns an `InputRequiredResult` with the question and a `requestState`,
  and the client calls again with the answer. The function then runs again from the start, and
  each question it asks again is answered from the retry (or, for questions of earlier rounds,
  from the state). The MCP SDK seals the state (`mcp.server.request_state`: AES-GCM under a key
  derived from SECRET_KEY, so any worker or replica opens it; bound to the user and client of the
  token, to the tool and its arguments, and to this server; expiring after REQUEST_STATE_TTL), so
  a tampered or foreign state is refused with -32602 before the function runs.
- **2025-xx in a session** (`MCP_STATEFUL=1`): the SDK sends the request to the client in the
  middle of the call and waits for the answer.
- **2025-xx without a session** (the default, stateless): nothing can reach the client before the
  answer, so the call fails at once with `CannotAsk` (never a hang), as it does when the client
  did not declare the capability (-32021, HTTP 400 on 2026-07-28).

Single use: the SDK's seal limits a state to one user, one call and ten minutes, not to one use.
A state minted here is also spent when it is answered (a row in the database, which every
replica shares), so presenting it a second time, to any replica, is refused like a tampered one:
the final round of a tool that changes something cannot be replayed to do it twice.

Written here rather than taken from the SDK's `Resolve(...)` parameters because those declare
each question in the function's signature; a tool here asks where its code needs the answer
(after it found the note it will delete, say). The wire is the SDK's throughout: its request and
result types, its sealing, its capability error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

from django.db import IntegrityError
from django.utils import timezone
from mcp.server.elicitation import (
    AcceptedElicitation,
    CancelledElicitation,
    DeclinedElicitation,
    ElicitationResult,
    render_elicitation_schema,
)
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp.types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    ClientCapabilities,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitationCapability,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    FormElicitationCapability,
    InputRequest,
    InputRequiredResult,
    ListRootsRequest,
    ListRootsResult,
    MissingRequiredClientCapabilityErrorData,
    Root,
    RootsCapability,
    SamplingCapability,
    SamplingMessage,
    TextContent,
)
from mcp.types.version import is_version_at_least
from pydantic import BaseModel, ValidationError

from .db import run_sync

F = TypeVar("F", bound=BaseModel)
What = Literal["elicitation", "sampling", "roots"]

# How long a question may wait for its answer: the SDK's seal expires then, and so does the
# record that its state was spent.
REQUEST_STATE_TTL = 600.0
_STATE_FORMAT = "mcpserver.ask/1"
_MODERN = "2026-07-28"


class CannotAsk(MCPError):
    """The client cannot be asked: it did not declare the capability (-32021), or it speaks a
    2025-xx revision to a server that cannot reach it before the answer (no session). Uncaught,
    the client gets it as the call's JSON-RPC error; a tool may catch it to fall back. `reason`
    says why in a few words."""

    def __init__(self, code: int, what: What, reason: str, data: Any = None) -> None:
        message = f"This needs the client's {what}, and it cannot be asked: {reason}"
        super().__init__(code=code, message=message, data=data)
        self.what, self.reason = what, reason


def missing_capability(what: What) -> CannotAsk:
    required = {
        "elicitation": ClientCapabilities(elicitation=ElicitationCapability(form=FormElicitationCapability())),
        "sampling": ClientCapabilities(sampling=SamplingCapability()),
        "roots": ClientCapabilities(roots=RootsCapability()),
    }[what]
    data = MissingRequiredClientCapabilityErrorData(required_capabilities=required).model_dump(
        by_alias=True, mode="json", exclude_none=True
    )
    reason = f"the client did not declare the {what} capability"
    return CannotAsk(MISSING_REQUIRED_CLIENT_CAPABILITY, what, reason, data)


def no_back_channel(what: What) -> CannotAsk:
    # The SDK's NoBackChannelError is this same INVALID_REQUEST; ours says what to change.
    reason = (
        "the client speaks MCP 2025-xx, which this server can ask only within a session "
        "(MCP_STATEFUL=1); a client speaking MCP 2026-07-28 can be asked on any server"
    )
    return CannotAsk(INVALID_REQUEST, what, reason)


def declared(capabilities: ClientCapabilities | None, what: What) -> bool:
    """Whether the client declared `what` (a bare `elicitation: {}` means form elicitation)."""
    if capabilities is None:
        return False
    if what == "elicitation":
        elicitation = capabilities.elicitation
        return elicitation is not None and (elicitation.form is not None or elicitation.url is None)
    return (capabilities.sampling if what == "sampling" else capabilities.roots) is not None


class _Question(BaseException):
    """Ends a round whose question has no answer yet. A BaseException, so that a tool's own
    `except Exception` cannot swallow it."""

    def __init__(self, key: str, request: InputRequest, digest: str) -> None:
        super().__init__(key)
        self.key, self.request, self.digest = key, request, digest


@dataclass
class _Call:
    """One call of a function that may ask: its context, what earlier rounds were answered."""

    context: Context
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)  # key → {"d": digest, "r": answer}
    asked: dict[str, str] = field(default_factory=dict)  # last round's question: key → digest
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)  # what the next round's state carries
    count: int = 0
    _modern: bool | None = None

    @property
    def modern(self) -> bool:
        """Whether the client speaks 2026-07-28 (asked by input_required) or 2025-xx."""
        if self._modern is None:
            self._modern = _is_modern(self.context)
        return self._modern

    def next_key(self, kind: str) -> str:
        self.count += 1
        return f"{kind}-{self.count}"

    async def resume(self) -> None:
        """Take up the answers of earlier rounds from a state this module minted, spending it."""
        state = _parse_state(self.context.request_state) if self.modern else None
        if state is not None:
            await run_sync(_spend, state["n"])
            self.answered, self.asked = state["a"], state["q"]

    def state(self, question: _Question) -> str:
        nonce = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        payload = {"f": _STATE_FORMAT, "n": nonce, "a": self.kept, "q": {question.key: question.digest}}
        return json.dumps(payload, separators=(",", ":"))


_current: ContextVar[_Call | None] = ContextVar("mcp_asking_call", default=None)


async def answering(context: Context, function: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """Run an async tool or prompt so that it may ask: its result, or the InputRequiredResult of
    the question it could not get answered this round. (Every async tool's call passes here, so
    nothing is worked out before a question is actually asked.)"""
    call = _Call(context)
    if context.request_state is not None:
        await call.resume()
    token = _current.set(call)
    try:
        return await function(*args, **kwargs)
    except _Question as question:
        return InputRequiredResult(input_requests={question.key: question.request}, request_state=call.state(question))
    finally:
        _current.reset(token)


def _is_modern(context: Context) -> bool:
    version = context.protocol_version
    return version is not None and is_version_at_least(version, _MODERN)


def _parse_state(text: str) -> dict[str, Any] | None:
    """Our state, or None for a state some other code of the function minted itself. The SDK has
    verified its seal, so whatever parses as ours is ours."""
    try:
        state = json.loads(text)
    except ValueError:
        return None
    if not (isinstance(state, dict) and state.get("f") == _STATE_FORMAT and isinstance(state.get("n"), str)):
        return None
    if not (isinstance(state.get("a"), dict) and isinstance(state.get("q"), dict)):
        return None
    return state


def _spend(nonce: str) -> None:
    """Record that the state `nonce` has been answered; refuse it if it was before."""
    from .models import SpentRequestState

    now = timezone.now()
    SpentRequestState.objects.filter(expires__lt=now).delete()
    try:
        SpentRequestState.objects.create(nonce=nonce, expires=now + timedelta(seconds=REQUEST_STATE_TTL + 60))
    except IntegrityError:
        # The frozen answer the SDK gives a state that fails its seal: a replay learns no more.
        raise MCPError(
            code=INVALID_PARAMS, message="Invalid or expired requestState", data={"reason": "invalid_request_state"}
        ) from None


def _digest(request: InputRequest) -> str:
    """Pins an answer to the exact question shown (reworded question, new answer)."""
    params = request.params.model_dump(mode="json", by_alias=True, exclude_none=True) if request.params else None
    rendered = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(rendered.encode()).digest()[:16]).decode().rstrip("=")


def _calling(name: str) -> _Call:
    call = _current.get()
    if call is None:
        raise RuntimeError(f"{name}() works inside an async tool or prompt (async def), while it is called")
    return call


async def _ask(call: _Call, what: What, key: str, request: InputRequest, read: Callable[[dict[str, Any]], Any]) -> Any:
    """The answer to `request`: from an earlier round, from this retry, or from the client now."""
    context = call.context
    if not call.modern:
        if not context.session.can_send_request:
            raise no_back_channel(what)
        if not declared(context.client_capabilities, what):
            raise missing_capability(what)
        return await _ask_in_session(context, request, read)

    digest = _digest(request)
    earlier = call.answered.get(key)
    if earlier is not None and earlier.get("d") == digest:
        try:
            answer = read(earlier["r"])
        except (ValidationError, ToolError, KeyError, TypeError):
            answer = None  # recorded under another form: ask again
        if answer is not None:
            call.kept[key] = earlier
            return answer
    if not declared(context.client_capabilities, what):
        raise missing_capability(what)
    # Only an answer to the question this server asked in the last round counts.
    given = (context.input_responses or {}).get(key) if call.asked.get(key) == digest else None
    if given is None:
        raise _Question(key, request, digest)
    wire = given.model_dump(mode="json", by_alias=True, exclude_none=True)
    answer = read(wire)
    call.kept[key] = {"d": digest, "r": wire}
    return answer


# What the client answers to each kind of question.
_ANSWERS: dict[type, type[BaseModel]] = {
    ElicitRequest: ElicitResult,
    CreateMessageRequest: CreateMessageResult,
    ListRootsRequest: ListRootsResult,
}


async def _ask_in_session(context: Context, request: InputRequest, read: Callable[[dict[str, Any]], Any]) -> Any:
    result = await context.session.send_request(
        request, _ANSWERS[type(request)], metadata=ServerMessageMetadata(related_request_id=context.request_id)
    )
    return read(result.model_dump(mode="json", by_alias=True, exclude_none=True))


async def ask_user(message: str, form: type[F], *, key: str | None = None) -> ElicitationResult[F]:
    """Ask the person a question with a form (a pydantic model of flat fields: text, numbers,
    booleans, choices). Returns `AcceptedElicitation` (its `.data` is the filled form),
    `DeclinedElicitation` or `CancelledElicitation`; `.action` says which.

    Raises `CannotAsk` when the client cannot be asked. On 2026-07-28 the function runs again from
    the start with the answer, so ask before changing anything. `key` names the question on the
    wire (default: its position in the call)."""
    call = _calling("ask_user")
    request = ElicitRequest(
        params=ElicitRequestFormParams(message=message, requested_schema=render_elicitation_schema(form))
    )

    def read(wire: dict[str, Any]) -> ElicitationResult[F]:
        result = ElicitResult.model_validate(wire)
        if result.action == "decline":
            return DeclinedElicitation()
        if result.action == "cancel":
            return CancelledElicitation()
        try:
            return AcceptedElicitation(data=form.model_validate(result.content or {}))
        except ValidationError as exc:
            raise ToolError("The answer does not fit the form that was asked") from exc

    return await _ask(call, "elicitation", key or call.next_key("user"), request, read)


async def ask_model(
    prompt: str | list[SamplingMessage],
    *,
    max_tokens: int = 1000,
    system_prompt: str | None = None,
    key: str | None = None,
) -> CreateMessageResult:
    """Ask the client's language model (sampling): a prompt, or the messages of a conversation.
    Returns the model's reply (`.content`, `.model`). Raises `CannotAsk` as `ask_user` does."""
    call = _calling("ask_model")
    messages = (
        [SamplingMessage(role="user", content=TextContent(type="text", text=prompt))]
        if isinstance(prompt, str)
        else prompt
    )
    request = CreateMessageRequest(
        params=CreateMessageRequestParams(messages=messages, max_tokens=max_tokens, system_prompt=system_prompt)
    )
    return await _ask(call, "sampling", key or call.next_key("model"), request, CreateMessageResult.model_validate)


async def list_roots(*, key: str | None = None) -> list[Root]:
    """The client's roots: the folders or files the person shared with it. Raises `CannotAsk` as
    `ask_user` does."""
    call = _calling("list_roots")

    def read(wire: dict[str, Any]) -> list[Root]:
        return ListRootsResult.model_validate(wire).roots

    return await _ask(call, "roots", key or call.next_key("roots"), ListRootsRequest(), read)


def client_can(what: What) -> bool:
    """Whether the client of the call being handled can be asked for `what` ("elicitation",
    "sampling" or "roots"): it declared the capability, and the deployment can reach it."""
    call = _calling("client_can")
    if not call.modern and not call.context.session.can_send_request:
        return False
    return declared(call.context.client_capabilities, what)
