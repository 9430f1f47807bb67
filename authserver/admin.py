"""The admin for clients: DOT's application admin, with what an MCP operator needs to see."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils import timezone
from oauth2_provider.admin import ApplicationAdmin
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from . import audit
from .models import Client


def disable_and_revoke(client: Client) -> int:
    """Disable `client` and revoke every token it holds; returns how many tokens went."""
    client.is_enabled = False
    client.save(update_fields=["is_enabled", "updated"])
    revoked = (
        get_refresh_token_model()
        .objects.filter(application=client, revoked__isnull=True)
        .update(revoked=timezone.now())
    )
    deleted, _ = get_access_token_model().objects.filter(application=client).delete()
    audit.event("client_disabled", client_id=client.client_id, tokens=revoked + deleted)
    return revoked + deleted


class ClientAdmin(ApplicationAdmin):
    """Registered by DOT itself, through APPLICATION_ADMIN_CLASS."""

    list_display = (
        "name",
        "client_id",
        "client_type",
        "registration_source",
        "approval",
        "is_enabled",
        "last_used_at",
        "live_tokens",
    )
    list_filter = ("registration_source", "approval", "is_enabled", "client_type", "authorization_grant_type")
    search_fields = ("name", "client_id", "redirect_uris")
    readonly_fields = ("registration_source", "cimd_expires_at", "created", "updated", "last_used_at")
    radio_fields = {"client_type": admin.HORIZONTAL}
    actions = ("approve", "quarantine", "disable_and_revoke_tokens")
    ordering = ("-created",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(live_token_count=Count("accesstoken", filter=Q(accesstoken__expires__gt=timezone.now())))
        )

    @admin.display(description="live tokens", ordering="live_token_count")
    def live_tokens(self, client: Client) -> int:
        return client.live_token_count

    @admin.action(description="Approve the selected clients")
    def approve(self, request, queryset) -> None:
        count = queryset.update(approval=Client.Approval.APPROVED)
        self.message_user(request, f"{count} client(s) approved.", messages.SUCCESS)

    @admin.action(description="Quarantine the selected clients")
    def quarantine(self, request, queryset) -> None:
        count = queryset.update(approval=Client.Approval.QUARANTINED)
        self.message_user(request, f"{count} client(s) quarantined.", messages.WARNING)

    @admin.action(description="Disable the selected clients and revoke all their tokens")
    def disable_and_revoke_tokens(self, request, queryset) -> None:
        tokens = sum(disable_and_revoke(client) for client in queryset)
        self.message_user(
            request, f"{queryset.count()} client(s) disabled, {tokens} token(s) revoked.", messages.WARNING
        )
