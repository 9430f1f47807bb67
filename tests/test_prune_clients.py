"""`manage.py prune_clients`: self-registered and URL-identified clients that never obtained a
token go after N days; pre-registered and used clients stay; expired tokens are cleared."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from authserver.models import Client
from tests.support.inprocess import make_client

pytestmark = pytest.mark.django_db


def aged(client: Client, days: int) -> Client:
    Client.objects.filter(pk=client.pk).update(created=timezone.now() - timedelta(days=days))
    return client


def test_prunes_only_old_never_used_self_registered_clients() -> None:
    old_unused_dcr = aged(make_client(name="old unused dcr"), 10)
    old_unused_cimd = aged(
        make_client(
            name="old unused cimd", source=Client.RegistrationSource.CIMD, client_id="https://a.example/c.json"
        ),
        10,
    )
    recent_unused = aged(make_client(name="recent unused"), 2)
    old_used = aged(make_client(name="old used", last_used_at=timezone.now() - timedelta(days=9)), 10)
    old_manual = aged(make_client(name="old manual", source=Client.RegistrationSource.MANUAL), 400)

    out = StringIO()
    call_command("prune_clients", "--days", "7", stdout=out)

    remaining = set(Client.objects.values_list("name", flat=True))
    assert remaining == {recent_unused.name, old_used.name, old_manual.name}
    assert old_unused_dcr.name not in remaining and old_unused_cimd.name not in remaining
    assert out.getvalue().startswith("Pruned 2 unused client(s)")


def test_clears_expired_tokens_but_keeps_live_ones() -> None:
    user = get_user_model().objects.create_user("alice", password="alice-password-123")
    app = make_client(last_used_at=timezone.now())
    now = timezone.now()
    live = AccessToken.objects.create(
        user=user,
        application=app,
        token="",
        token_checksum="a" * 64,
        expires=now + timedelta(hours=1),
        scope="mcp:read",
    )
    dead = AccessToken.objects.create(
        user=user,
        application=app,
        token="",
        token_checksum="b" * 64,
        expires=now - timedelta(days=60),
        scope="mcp:read",
    )
    RefreshToken.objects.create(
        user=user,
        application=app,
        token="",
        token_checksum="c" * 64,
        access_token=dead,
        revoked=now - timedelta(days=60),
    )

    call_command("prune_clients", stdout=StringIO())

    assert set(AccessToken.objects.values_list("pk", flat=True)) == {live.pk}
    assert not RefreshToken.objects.exists()
