"""The authorization server's own tables, beside django-oauth-toolkit's.

`Client` is DOT's swappable Application model with the few fields an MCP deployment needs
(enable/disable, approval of self-registered clients, last use); everything else is DOT's.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from oauth2_provider.models import AbstractApplication


class Client(AbstractApplication):
    class Approval(models.TextChoices):
        APPROVED = "approved", "Approved"
        PENDING = "pending", "Waiting for approval"
        QUARANTINED = "quarantined", "Quarantined"

    is_enabled = models.BooleanField(
        default=True,
        help_text="A disabled client can neither obtain tokens nor use the ones it holds.",
    )
    approval = models.CharField(
        max_length=16,
        choices=Approval.choices,
        default=Approval.APPROVED,
        help_text="Self-registered and URL-identified clients may wait for an administrator.",
    )
    is_verified = models.BooleanField(
        default=False,
        help_text="Shown to users as a verified client on the consent page.",
    )
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="When this client last obtained a token.")

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = "client"
        verbose_name_plural = "clients"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.is_self_registered and settings.NEW_CLIENT_APPROVAL == "manual":
            self.approval = self.Approval.PENDING
        super().save(*args, **kwargs)

    def is_usable(self, request) -> bool:
        """DOT asks this before issuing and before honouring a token."""
        return self.is_enabled and self.approval == self.Approval.APPROVED

    @property
    def is_self_registered(self) -> bool:
        return self.registration_source != self.RegistrationSource.MANUAL

    @property
    def shows_as_verified(self) -> bool:
        return self.is_verified or not self.is_self_registered


class SelfRegisteredClient(Client):
    """The clients that registered themselves (RFC 7591) or came by URL (CIMD): the same rows as
    `Client`, given their own admin list, where an administrator approves or quarantines them."""

    class Meta:
        proxy = True
        verbose_name = "self-registered client"
        verbose_name_plural = "self-registered clients"


class UsedAuthorizationCode(models.Model):
    """A redeemed authorization code, kept until it would have expired anyway.

    DOT deletes a grant once redeemed, so a replay would look like any unknown code; RFC 6749
    §4.1.2 asks the server to revoke what the first redemption issued, which needs this record.
    """

    code_checksum = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(Client, on_delete=models.CASCADE)
    token_family = models.UUIDField(null=True, blank=True)
    access_token_checksum = models.CharField(max_length=64, blank=True, default="")
    used_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Used code #{self.pk}"


class RateLimitCounter(models.Model):
    """Hits per key and fixed time window, shared by every worker and replica."""

    key = models.CharField(max_length=200)
    window_start = models.BigIntegerField()
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="ratelimit_key_window")]
        indexes = [models.Index(fields=["window_start"])]

    def __str__(self) -> str:
        return f"{self.key}@{self.window_start}: {self.hits}"
