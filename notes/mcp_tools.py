"""The notes of the signed-in user, as MCP tools, resources and prompts: the example app, built on
the public API (mcpserver.api) alone.

Every query is filtered by the user of the verified access token, so a client sees exactly the
notes of the user who authorized it. Reading needs the baseline scope, writing `mcp:write`.
"""

from __future__ import annotations

from typing import Annotated

from django.db.models import Q
from pydantic import BaseModel, Field

from mcpserver.api import (
    BASELINE_SCOPE,
    CannotAsk,
    EmbeddedResource,
    Resource,
    ResourceError,
    TextResourceContents,
    ToolAnnotations,
    ToolError,
    UserMessage,
    ask_user,
    current_user,
    declare_scope,
    mcp_prompt,
    mcp_resource,
    mcp_tool,
    run_sync,
)

from .models import Note

# The baseline scope, in the words of what it shows here.
READ = declare_scope(BASELINE_SCOPE, "See your notes, and list the server's tools, resources and prompts")
WRITE = declare_scope("mcp:write", "Create, change and delete your notes", implies=[READ])

NOTE_URI = "notes://{note_id}"
INDEX_URI = "notes://index"
TITLE_MAX = 200
BODY_MAX = 100_000
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


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


def my_notes():
    return Note.objects.filter(owner_id=current_user().id)


def parse_note_id(value: str | int) -> int:
    try:
        note_id = int(value)
    except (TypeError, ValueError):
        note_id = 0
    if note_id <= 0:
        raise ToolError(f"{value!r} is not a note id")
    return note_id


def my_note(value: str | int) -> Note | None:
    return my_notes().filter(pk=parse_note_id(value)).first()


@mcp_tool(annotations=READ_ONLY)
def search_notes(
    query: Annotated[str, Field(description="Words that must all appear in the title or body")] = "",
    limit: Annotated[int, Field(ge=1, le=50, description="How many notes to return at most")] = 10,
) -> SearchResult:
    """Search the user's notes; an empty query lists the most recently changed ones."""
    notes = my_notes()
    for word in query[:200].split():
        notes = notes.filter(Q(title__icontains=word) | Q(body__icontains=word))
    found = [
        NoteSummary(id=n.pk, title=n.title, snippet=n.body[:120], updated=n.updated.isoformat())
        for n in notes.order_by("-updated", "-id")[:limit]
    ]
    return SearchResult(notes=found, total=notes.count())


@mcp_tool(annotations=READ_ONLY)
def get_note(note_id: int) -> NoteOut:
    """Read one of the user's notes in full."""
    note = my_note(note_id)
    if note is None:
        raise ToolError(f"Note {note_id} does not exist")
    return note_out(note)


@mcp_tool(scope=WRITE, annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
def create_note(
    title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX)],
    body: Annotated[str, Field(max_length=BODY_MAX)] = "",
) -> NoteOut:
    """Create a note for the user (needs the mcp:write scope)."""
    if not title.strip():
        raise ToolError("A note needs a title")
    return note_out(Note.objects.create(owner_id=current_user().id, title=title.strip(), body=body))


class ConfirmDeletion(BaseModel):
    """The form the person is shown before a note is deleted."""

    delete: bool = Field(title="Delete it", description="Yes, delete this note for good")


CONFIRM_FALLBACK = (
    "Only for clients that cannot ask the person themselves (MCP 2025-xx without a session): set it "
    "to true once the person agreed, in the conversation, to delete this very note. A client that "
    "can be asked is asked, whatever this says."
)


@mcp_tool(scope=WRITE, annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True))
async def delete_note(note_id: int, confirm: Annotated[bool, Field(description=CONFIRM_FALLBACK)] = False) -> Deleted:
    """Delete one of the user's notes for good, once the person confirms (needs the mcp:write scope)."""
    note = await run_sync(my_note, note_id)
    if note is None:
        raise ToolError(f"Note {note_id} does not exist")
    try:
        answer = await ask_user(f"Delete the note “{note.title}” for good?", ConfirmDeletion)
    except CannotAsk as cannot:
        if not confirm:
            raise ToolError(
                f"Deleting a note needs the person's confirmation, and this client cannot ask them "
                f"({cannot.reason}). Ask them, then call delete_note again with confirm=true."
            ) from cannot
    else:
        if answer.action != "accept" or not answer.data.delete:
            return Deleted(id=note.pk, deleted=False)
    if not await run_sync(delete_mine, note.pk):
        raise ToolError(f"Note {note.pk} does not exist")
    return Deleted(id=note.pk, deleted=True)


def delete_mine(note_id: int) -> int:
    deleted, _ = my_notes().filter(pk=note_id).delete()
    return deleted


def note_ids_starting(prefix: str) -> list[str]:
    ids = my_notes().order_by("-updated").values_list("pk", flat=True)[:200]
    return [str(pk) for pk in ids if str(pk).startswith(prefix)]


def listed_notes() -> list[Resource]:
    return [
        Resource(
            uri=NOTE_URI.format(note_id=n.pk),
            name=f"note-{n.pk}",
            title=n.title,
            description=n.body[:120] or "(empty note)",
            mime_type="text/markdown",
        )
        for n in my_notes().order_by("-updated", "-id")[:500]
    ]


@mcp_resource(
    NOTE_URI,
    name="note",
    title="A note",
    mime_type="text/markdown",
    complete={"note_id": note_ids_starting},
    instances=listed_notes,
)
def note_resource(note_id: str) -> str:
    """One of the user's notes, as Markdown."""
    try:
        note = my_note(note_id)
    except ToolError as exc:
        raise ResourceError(str(exc)) from exc
    if note is None:
        raise ResourceError(f"Note {note_id} does not exist")
    return note_markdown(note)


@mcp_resource(INDEX_URI, name="notes-index", title="All my notes", mime_type="text/markdown")
def notes_index() -> str:
    """A Markdown list of the user's notes, newest first."""
    notes = my_notes().order_by("-updated", "-id")[:500]
    lines = [f"- [{n.title}]({NOTE_URI.format(note_id=n.pk)})" for n in notes]
    return "# My notes\n\n" + ("\n".join(lines) if lines else "(no notes yet)") + "\n"


@mcp_prompt(title="Summarize a note", complete={"note_id": note_ids_starting})
def summarize_note(note_id: str) -> list[UserMessage]:
    """Ask the model to summarize one of the user's notes."""
    note = my_note(note_id)
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


@mcp_prompt(title="Draft a new note")
def draft_note(topic: str) -> str:
    """Ask the model to draft a note on a topic, ready to save with create_note."""
    return (
        f"Draft a short note about {topic}. Give it a clear title and a body of a few paragraphs, "
        "then save it with the create_note tool."
    )
