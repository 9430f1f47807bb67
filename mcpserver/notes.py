"""The MCP server's real content: the signed-in user's notes, as tools, resources and prompts.

Every query is filtered by the user of the verified access token, so a client sees exactly the
notes of the user who authorized it; writing needs the write scope (enforced by the bearer gate
before the request reaches the SDK).
"""

from __future__ import annotations

from typing import Annotated

from django.db.models import Q
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.types import EmbeddedResource, Resource, TextResourceContents, ToolAnnotations
from pydantic import BaseModel, Field

from . import scopes
from .db import run_db
from .models import Note
from .server import Capabilities, Server, current_principal

NOTE_URI = "notes://{note_id}"
INDEX_URI = "notes://index"
TITLE_MAX = 200
BODY_MAX = 100_000


class NoteSummary(BaseModel):
    id: int
    title: str
    snippet: str = Field(description="The first characters of the note's body")
    updated: str


class SearchResult(BaseModel):
    notes: list[NoteSummary]
    total: int = Field(description="How many of the user's notes match, in all")


class NoteOut(BaseModel):
    id: int
    title: str
    body: str
    uri: str
    created: str
    updated: str


class Deleted(BaseModel):
    id: int
    deleted: bool


class Identity(BaseModel):
    user: str
    client_id: str
    scopes: list[str]


def note_out(note: Note) -> NoteOut:
    return NoteOut(
        id=note.pk,
        title=note.title,
        body=note.body,
        uri=NOTE_URI.format(note_id=note.pk),
        created=note.created.isoformat(),
        updated=note.updated.isoformat(),
    )


def note_markdown(note: Note) -> str:
    return f"# {note.title}\n\n{note.body}\n"


# --- Queries, each run on a database thread for one user -------------------------------------
def _search(user_id: int, query: str, limit: int) -> SearchResult:
    notes = Note.objects.filter(owner_id=user_id)
    for word in query.split():
        notes = notes.filter(Q(title__icontains=word) | Q(body__icontains=word))
    total = notes.count()
    found = [
        NoteSummary(id=n.pk, title=n.title, snippet=n.body[:120], updated=n.updated.isoformat())
        for n in notes.order_by("-updated", "-id")[:limit]
    ]
    return SearchResult(notes=found, total=total)


def _get(user_id: int, note_id: int) -> Note | None:
    return Note.objects.filter(owner_id=user_id, pk=note_id).first()


def _create(user_id: int, title: str, body: str) -> Note:
    return Note.objects.create(owner_id=user_id, title=title, body=body)


def _delete(user_id: int, note_id: int) -> bool:
    deleted, _ = Note.objects.filter(owner_id=user_id, pk=note_id).delete()
    return deleted > 0


def _all(user_id: int) -> list[Note]:
    return list(Note.objects.filter(owner_id=user_id).order_by("-updated", "-id")[:500])


def _ids_starting(user_id: int, prefix: str) -> list[str]:
    ids = Note.objects.filter(owner_id=user_id).order_by("-updated").values_list("pk", flat=True)[:200]
    return [str(pk) for pk in ids if str(pk).startswith(prefix)]


def parse_note_id(value: str | int) -> int:
    try:
        note_id = int(value)
    except (TypeError, ValueError):
        note_id = 0
    if note_id <= 0:
        raise ToolError(f"{value!r} is not a note id")
    return note_id


def register(server: Server, capabilities: Capabilities) -> None:
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
    async def whoami() -> Identity:
        """Who this connection acts for: the signed-in user, the client, and the granted scopes."""
        principal = current_principal()
        return Identity(user=principal.username, client_id=principal.client_id, scopes=sorted(principal.scopes))

    @server.tool(annotations=read_only)
    async def search_notes(
        query: Annotated[str, Field(description="Words that must all appear in the title or body")] = "",
        limit: Annotated[int, Field(ge=1, le=50, description="How many notes to return at most")] = 10,
    ) -> SearchResult:
        """Search the user's notes; an empty query lists the most recently changed ones."""
        return await run_db(_search, current_principal().user_id, query[:200], limit)

    @server.tool(annotations=read_only)
    async def get_note(note_id: int) -> NoteOut:
        """Read one of the user's notes in full."""
        note = await run_db(_get, current_principal().user_id, parse_note_id(note_id))
        if note is None:
            raise ToolError(f"Note {note_id} does not exist")
        return note_out(note)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    async def create_note(
        title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX)],
        body: Annotated[str, Field(max_length=BODY_MAX)] = "",
    ) -> NoteOut:
        """Create a note for the user (needs the mcp:write scope)."""
        if not title.strip():
            raise ToolError("A note needs a title")
        return note_out(await run_db(_create, current_principal().user_id, title.strip(), body))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True))
    async def delete_note(note_id: int) -> Deleted:
        """Delete one of the user's notes for good (needs the mcp:write scope)."""
        note_id = parse_note_id(note_id)
        if not await run_db(_delete, current_principal().user_id, note_id):
            raise ToolError(f"Note {note_id} does not exist")
        return Deleted(id=note_id, deleted=True)

    capabilities.require("tool", "create_note", scopes.WRITE)
    capabilities.require("tool", "delete_note", scopes.WRITE)
    capabilities.quiet_tools |= {"whoami", "search_notes", "get_note", "create_note", "delete_note"}

    @server.resource(NOTE_URI, name="note", title="A note", mime_type="text/markdown")
    async def note_resource(note_id: str) -> str:
        """One of the user's notes, as Markdown."""
        try:
            number = parse_note_id(note_id)
        except ToolError as exc:
            raise ResourceError(str(exc)) from exc
        note = await run_db(_get, current_principal().user_id, number)
        if note is None:
            raise ResourceError(f"Note {note_id} does not exist")
        return note_markdown(note)

    @server.resource(INDEX_URI, name="notes-index", title="All my notes", mime_type="text/markdown")
    async def notes_index() -> str:
        """A Markdown list of the user's notes, newest first."""
        notes = await run_db(_all, current_principal().user_id)
        lines = [f"- [{n.title}]({NOTE_URI.format(note_id=n.pk)})" for n in notes]
        return "# My notes\n\n" + ("\n".join(lines) if lines else "(no notes yet)") + "\n"

    async def listed_notes() -> list[Resource]:
        notes = await run_db(_all, current_principal().user_id)
        return [
            Resource(
                uri=NOTE_URI.format(note_id=n.pk),
                name=f"note-{n.pk}",
                title=n.title,
                description=n.body[:120] or "(empty note)",
                mime_type="text/markdown",
            )
            for n in notes
        ]

    server.dynamic_resources.append(listed_notes)

    @server.prompt(title="Summarize a note")
    async def summarize_note(note_id: str) -> list[UserMessage]:
        """Ask the model to summarize one of the user's notes."""
        note = await run_db(_get, current_principal().user_id, parse_note_id(note_id))
        if note is None:
            raise ValueError(f"Note {note_id} does not exist")
        uri = NOTE_URI.format(note_id=note.pk)
        return [
            UserMessage(
                EmbeddedResource(
                    type="resource",
                    resource=TextResourceContents(uri=uri, mime_type="text/markdown", text=note_markdown(note)),
                )
            ),
            UserMessage("Summarize the note above in three sentences, keeping every date and name."),
        ]

    @server.prompt(title="Draft a new note")
    def draft_note(topic: str) -> str:
        """Ask the model to draft a note on a topic, ready to save with create_note."""
        return (
            f"Draft a short note about {topic}. Give it a clear title and a body of a few paragraphs, "
            "then save it with the create_note tool."
        )

    async def complete_note_id(argument, context) -> list[str]:
        return await run_db(_ids_starting, current_principal().user_id, argument.value or "")

    capabilities.completions[("prompt", "summarize_note")] = complete_note_id
    capabilities.completions[("resource", NOTE_URI)] = complete_note_id
