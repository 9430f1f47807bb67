"""The authorization server's own tables, beside django-oauth-toolkit's.

`Client` is DOT's swappable Application model with the few fields an MCP deployment needs
(enable/disable, approval of self-registered clients, last use, and how it authenticates:
private_key_jwt keys, application type); everything else is DOT's. The authentication fields
have the names django-oauth-toolkit's unreleased RFC 7523 support gives them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone
from oauth2_provider.models import AbstractApplication

from .client_documents import jwks_problem, jwks_uri_problem, take_pending
from .client_keys import KEY_TYPES


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

    class AuthMethod(models.TextChoices):
        DEFAULT = "", "By its type: none (public) or its secret (confidential)"
        NONE = "none", "None (public client, PKCE only)"
        SECRET_BASIC = "client_secret_basic", "Client secret, HTTP Basic"
        SECRET_POST = "client_secret_post", "Client secret in the request body"
        PRIVATE_KEY_JWT = "private_key_jwt", "Signed JWT (private_key_jwt, RFC 7523)"

    class ApplicationType(models.TextChoices):
        UNKNOWN = "", "Not given"
        NATIVE = "native", "Native (runs on the user's device)"
        WEB = "web", "Web (runs on a web server)"

    token_endpoint_auth_method = models.CharField(
        max_length=32,
        blank=True,
        default="",
        choices=AuthMethod.choices,
        help_text="How the client proves itself at the token, revocation and introspection endpoints. With "
        "private_key_jwt it signs a short-lived JWT with its private key; give its public keys below.",
    )
    token_endpoint_auth_signing_alg = models.CharField(
        max_length=8,
        blank=True,
        default="",
        choices=[("", "Any of " + ", ".join(KEY_TYPES)), *((alg, alg) for alg in KEY_TYPES)],
        help_text="The one algorithm its assertions must use, if it registered one.",
    )
    client_jwks_uri = models.CharField(
        max_length=500,
        validators=[URLValidator(schemes=["https"])],
        blank=True,
        default="",
        verbose_name="JWKS URL",
        help_text="For private_key_jwt: the https URL where the client publishes its public keys (a JWK Set). "
        "Fetched when saved, and again when the client uses a key this server has not seen.",
    )
    client_jwks = models.TextField(
        blank=True,
        default="",
        verbose_name="JWKS",
        help_text='For private_key_jwt, instead of a URL: the client\'s public keys as a JWK Set ({"keys": [...]}).',
    )
    application_type = models.CharField(
        max_length=8,
        blank=True,
        default="",
        choices=ApplicationType.choices,
        help_text="What the client said it is at registration (OpenID Connect application_type).",
    )

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = "client"
        verbose_name_plural = "clients"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.is_self_registered and settings.NEW_CLIENT_APPROVAL == "manual":
            self.approval = self.Approval.PENDING
        if self.registration_source == self.RegistrationSource.CIMD:
            # django-oauth-toolkit saves a URL client from its document right after fetching it;
            # what the document declared about authentication comes along (client_documents.py).
            declared = take_pending(self.client_id)
            if declared is not None:
                declared.apply_to(self)
        if self.token_endpoint_auth_method == self.AuthMethod.PRIVATE_KEY_JWT:
            self.client_type = self.CLIENT_CONFIDENTIAL
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors: dict = {}
        try:
            super().clean()
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if self.uses_private_key_jwt:
            if bool(self.client_jwks_uri) == bool(self.client_jwks):
                errors.setdefault("client_jwks_uri", []).append(
                    "A private_key_jwt client needs its public keys: a JWKS URL or a pasted JWKS, one of them."
                )
            elif self.client_jwks_uri and (problem := jwks_uri_problem(self.client_jwks_uri)):
                errors.setdefault("client_jwks_uri", []).append(problem)
            elif self.client_jwks and (problem := jwks_problem(self.client_jwks)):
                errors.setdefault("client_jwks", []).append(problem)
        if errors:
            raise ValidationError(errors)

    @property
    def uses_private_key_jwt(self) -> bool:
        return self.token_endpoint_auth_method == self.AuthMethod.PRIVATE_KEY_JWT

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


class UsedClientAssertion(models.Model):
    """A client assertion (RFC 7523) already presented: its jti, kept until the assertion expires.

    The unique key makes one use win when two workers or replicas race with the same assertion."""

    key = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the client id and the jti.")
    client_id = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"Used assertion of {self.client_id}"
