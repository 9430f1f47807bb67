"""The Note model moved from the `mcpserver` app to the `notes` app: a database migrated before the
move keeps its notes (the table is taken over and renamed, never recreated)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE_THE_MOVE = [("mcpserver", "0002_revocation_notifications"), ("notes", None)]


def migrate(targets: list[tuple[str, str | None]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def tables() -> set[str]:
    return set(connection.introspection.table_names())


@pytest.mark.django_db(transaction=True)
def test_notes_written_before_the_move_are_kept() -> None:
    owner = get_user_model().objects.create_user("keeper")
    migrate(BEFORE_THE_MOVE)
    try:
        assert "mcpserver_note" in tables() and "notes_note" not in tables()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO mcpserver_note (title, body, created, updated, owner_id) VALUES (%s, %s, %s, %s, %s)",
                ["Kept", "across the move", "2026-01-02 03:04:05+00:00", "2026-01-02 03:04:05+00:00", owner.pk],
            )
    finally:
        migrate(latest())

    from notes.models import Note

    assert "notes_note" in tables() and "mcpserver_note" not in tables()
    (kept,) = Note.objects.filter(owner=owner)
    assert (kept.title, kept.body) == ("Kept", "across the move")
    index_names = set(connection.introspection.get_constraints(connection.cursor(), "notes_note"))
    assert "notes_owner_updated" in index_names
    added = Note.objects.create(owner=owner, title="After the move")  # the id sequence goes on
    assert added.pk > kept.pk
