"""A short, revocation-aware, per-process cache of accepted access tokens.

With `MCP_TOKEN_CACHE_SECONDS` = N > 0, a token accepted at `/mcp` is accepted again for up to N
seconds without the database lookup (docs/performance.md has what that saves). Only acceptances
are kept, keyed by the token's SHA-256 checksum (never the token), and an entry never outlives
the token's own expiry.

Revocation: every revocation deletes the access-token row (DOT's `revoke()`, refresh rotation,
reuse detection, the admin's "disable and revoke", a user's "revoke" on connected apps), and a
client or user change (disabled, quarantined, deactivated) is a save.

- In the process that makes the change, Django's signals drop the affected entries at once.
- On PostgreSQL (the default N is then 30), triggers announce every such change to every worker
  and replica when it commits (revocations.py), and the cache is used only while this process's
  listener is connected: a revoke is effective everywhere as soon as it is heard.
- On other databases (SQLite: one machine, `make run`) there is no listener, so the cache is off
  unless asked for; then another worker may accept a revoked token for up to N seconds.

A lookup that started before an invalidation does not store its (possibly stale) answer: each
invalidation advances a generation counter that the lookup compares before storing.

The entries live in a `cachetools.TLRUCache` (bounded, least recently used out first), each for
the seconds configured when it was stored.
"""

from __future__ import annotations

import threading
from time import monotonic, time

from cachetools import TLRUCache
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from mcp.server.auth.provider import AccessToken as SDKAccessToken
from oauth2_provider.models import get_access_token_model, get_application_model

from . import token_lookup

MAX_ENTRIES = 10_000


def _deadline(_checksum: str, _token: SDKAccessToken, now: float) -> float:
    return now + ttl()


# checksum -> accepted token; the clock is looked up at each call (tests move it). Used under
# `_lock` only: invalidations come from Django's threads, lookups from the event loop.
_entries: TLRUCache[str, SDKAccessToken] = TLRUCache(MAX_ENTRIES, _deadline, timer=lambda: monotonic())
_lock = threading.Lock()
_generation = 0
_listening = False  # this process hears every revocation (revocations.py)


def ttl() -> float:
    return float(settings.MCP_TOKEN_CACHE_SECONDS)


def set_listening(listening: bool) -> None:
    global _listening
    _listening = listening
    if not listening:
        invalidate()


def listening() -> bool:
    return _listening


def usable() -> bool:
    """On, and on PostgreSQL only while revocations are heard (the triggers can tell us)."""
    if ttl() <= 0:
        return False
    return _listening or not token_lookup.on_postgresql()


def get(checksum: str) -> SDKAccessToken | None:
    """The cached acceptance of a token, if fresh and the token has not expired meanwhile."""
    if not usable():
        return None
    with _lock:
        token = _entries.get(checksum)
        if token is not None and token.expires_at is not None and token.expires_at <= time():
            _entries.pop(checksum, None)
            return None
    return token


def generation() -> int:
    """Read before a lookup; pass to `put` after it."""
    return _generation


def put(checksum: str, verdict: object, started: int) -> None:
    """Remember an acceptance, unless the cache is off or something was revoked meanwhile."""
    if not usable() or not isinstance(verdict, SDKAccessToken):
        return
    with _lock:
        if started == _generation:
            _entries[checksum] = verdict


def invalidate(checksum: str | None = None) -> None:
    """Forget one token (None: every token), and make lookups in flight not store."""
    global _generation
    with _lock:
        _generation += 1
        if checksum is None:
            _entries.clear()
        else:
            _entries.pop(checksum, None)


def _empty() -> bool:
    with _lock:
        return not _entries


def _invalidate_now_and_on_commit(checksum: str | None) -> None:
    if ttl() <= 0 and _empty():
        return  # the cache is off and empty: nothing to forget
    # Now, so that this process refuses the token at once; again after the commit, because a
    # lookup in between still saw the row (the deletion was not committed yet) and may have
    # started before the generation moved.
    invalidate(checksum)
    transaction.on_commit(lambda: invalidate(checksum))


def _access_token_deleted(sender, instance, **kwargs) -> None:
    _invalidate_now_and_on_commit(instance.token_checksum or None)


def _client_or_user_saved(sender, instance, update_fields=None, **kwargs) -> None:
    # A sign-in saves the user's last_login, a token grant the client's last_used_at: neither
    # changes a verdict. Any other save might (disabled, quarantined, deactivated).
    if update_fields is not None and set(update_fields) <= {"last_login", "last_used_at", "updated"}:
        return
    _invalidate_now_and_on_commit(None)


def _client_or_user_deleted(sender, instance, **kwargs) -> None:
    _invalidate_now_and_on_commit(None)


def connect_signals() -> None:
    post_delete.connect(_access_token_deleted, sender=get_access_token_model(), dispatch_uid="token_cache_at")
    for model in (get_application_model(), get_user_model()):
        post_save.connect(_client_or_user_saved, sender=model, dispatch_uid=f"token_cache_save_{model.__name__}")
        post_delete.connect(_client_or_user_deleted, sender=model, dispatch_uid=f"token_cache_del_{model.__name__}")


connect_signals()
