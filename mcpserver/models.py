"""What the MCP server itself keeps in the database (the apps' data lives in their own apps)."""

from __future__ import annotations

from django.db import models


class SpentRequestState(models.Model):
    """A 2026-07-28 `requestState` minted by `ask_user`/`ask_model`/`list_roots` that has been
    answered: presented again, to any replica, it is refused (mcpserver/asking.py). Kept until the
    state would have expired anyway."""

    nonce = models.CharField(max_length=43, primary_key=True)
    expires = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.nonce
