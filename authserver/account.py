"""The signed-in user's own page: the applications they connected, and a way to disconnect them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Max, Min
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.scopes import get_scopes_backend

from common import audit

from .models import Client


@dataclass
class Connection:
    client: Client
    scopes: list[str]
    resources: list[str]
    granted_at: datetime | None
    last_used_at: datetime | None

    @property
    def scope_items(self) -> list[tuple[str, str]]:
        """Each scope with what it lets the application do, in plain words."""
        descriptions = get_scopes_backend().get_all_scopes()
        return [(scope, descriptions.get(scope, scope)) for scope in self.scopes]


def connections_of(user) -> list[Connection]:
    """Every client holding a live token of `user`, with what it may do."""
    access_model = get_access_token_model()
    refresh_model = get_refresh_token_model()
    now = timezone.now()
    live_access = access_model.objects.filter(user=user, expires__gt=now, application__isnull=False)
    live_refresh = refresh_model.objects.filter(user=user, revoked__isnull=True)
    client_ids = set(live_access.values_list("application_id", flat=True)) | set(
        live_refresh.values_list("application_id", flat=True)
    )
    result = []
    for client in Client.objects.filter(pk__in=client_ids).order_by("name", "client_id"):
        tokens = list(live_access.filter(application=client).values_list("scope", "resource"))
        tokens += [
            (scope, resource)
            for scope, resource in refresh_model.objects.filter(
                user=user, application=client, revoked__isnull=True, access_token__isnull=False
            ).values_list("access_token__scope", "resource")
        ]
        scopes = sorted({scope for text, _ in tokens for scope in (text or "").split()})
        resources = sorted({r for _, bound in tokens for r in (bound or [])})
        times = live_refresh.filter(application=client).aggregate(first=Min("created"), last=Max("updated"))
        access_times = live_access.filter(application=client).aggregate(first=Min("created"), last=Max("created"))
        granted = min([t for t in (times["first"], access_times["first"]) if t], default=None)
        last = max([t for t in (times["last"], access_times["last"]) if t], default=None)
        result.append(Connection(client, scopes, resources, granted, last))
    return result


def revoke_connection(user, client: Client) -> int:
    """Revoke every token `client` holds for `user`; returns how many tokens went."""
    access_model = get_access_token_model()
    refresh_model = get_refresh_token_model()
    with transaction.atomic():
        families = set(
            refresh_model.objects.filter(user=user, application=client, revoked__isnull=True)
            .exclude(token_family=None)
            .values_list("token_family", flat=True)
        )
        revoked = refresh_model.objects.filter(user=user, application=client, revoked__isnull=True).update(
            revoked=timezone.now()
        )
        for family in families:
            refresh_model.revoke_family(family)
        deleted, _ = access_model.objects.filter(user=user, application=client).delete()
    return revoked + deleted


@login_required
def connected_apps(request: HttpRequest) -> HttpResponse:
    return render(request, "authserver/apps.html", {"connections": connections_of(request.user)})


@login_required
@require_POST
def revoke_app(request: HttpRequest, client_pk: int) -> HttpResponse:
    client = get_object_or_404(Client, pk=client_pk)
    count = revoke_connection(request.user, client)
    audit.event("grant_revoked_by_user", user_id=request.user.pk, client_id=client.client_id, tokens=count)
    name = client.name or client.client_id
    if count:
        messages.success(request, f"{name} can no longer access your account.")
    else:
        messages.info(request, f"{name} had no access to your account.")
    return redirect("account-apps")
