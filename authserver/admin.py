"""The admin for clients: DOT's application admin, with what an MCP operator needs.

- "Clients" lists every client (name, client id, type, how it registered, redirect URIs, status,
  last use, live tokens) with filters and search. Its "add client" form starts from presets for
  the well-known MCP clients and explains every redirect URI it refuses.
- "Self-registered clients" lists those that registered themselves (RFC 7591) or came by URL
  (CIMD): the queue where an administrator approves or quarantines them (NEW_CLIENT_APPROVAL).
- Both can disable clients and revoke all their tokens at once, after a confirmation page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from allauth.socialaccount.models import SocialAccount
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from oauth2_provider.admin import ApplicationAdmin
from oauth2_provider.forms import ApplicationForm
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from common import audit

from . import client_keys, sso
from .models import Client, SelfRegisteredClient
from .presets import PRESETS, PRESETS_BY_KEY, Preset
from .redirects import redirect_uri_advice, split_redirect_uris

SELF_REGISTERED = (Client.RegistrationSource.DCR, Client.RegistrationSource.CIMD)
# How each registration source reads in the lists (DOT's labels name the protocol, not the actor).
REGISTERED_BY = {
    Client.RegistrationSource.MANUAL: "Administrator",
    Client.RegistrationSource.DCR: "Itself (DCR)",
    Client.RegistrationSource.CIMD: "Its URL (CIMD)",
}


# --- Presets: the well-known MCP clients (authserver/presets.py, shared with the front page) -----
def preset_of(request: HttpRequest) -> Preset | None:
    return PRESETS_BY_KEY.get(request.GET.get("preset", ""))


# --- Tokens ------------------------------------------------------------------------------------------
def _count(queryset: QuerySet) -> Coalesce:
    counted = queryset.order_by().values("application").annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def live_token_count() -> Coalesce:
    """Per client: users' unexpired access tokens plus refresh tokens not revoked (one subquery
    each, so the two counts do not multiply each other as two joins would). A self-registered
    client's registration access token (RFC 7592, no user) is not counted: it only manages the
    registration, though disabling the client revokes it too."""
    now = timezone.now()
    access = get_access_token_model().objects.filter(application=OuterRef("pk"), expires__gt=now, user__isnull=False)
    refresh = get_refresh_token_model().objects.filter(application=OuterRef("pk"), revoked__isnull=True)
    return _count(access) + _count(refresh)


def live_tokens_of(client: Client) -> int:
    now = timezone.now()
    return (
        get_access_token_model().objects.filter(application=client, expires__gt=now, user__isnull=False).count()
        + get_refresh_token_model().objects.filter(application=client, revoked__isnull=True).count()
    )


def disable_and_revoke(client: Client) -> int:
    """Disable `client` and revoke every token it holds; returns how many live tokens went."""
    with transaction.atomic():
        live = live_tokens_of(client)
        client.is_enabled = False
        client.save(update_fields=["is_enabled", "updated"])
        get_refresh_token_model().objects.filter(application=client, revoked__isnull=True).update(
            revoked=timezone.now()
        )
        get_access_token_model().objects.filter(application=client).delete()
        get_grant_model().objects.filter(application=client).delete()  # codes not yet redeemed
    audit.event("client_disabled", client_id=client.client_id, tokens=live)
    return live


# --- The form ------------------------------------------------------------------------------------------
class ClientForm(ApplicationForm):
    """DOT's application form, with redirect URIs one per line and checked by the rules of
    `authserver.redirects`, each refusal saying which rule and why."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("redirect_uris")
        if field is not None:
            field.widget = forms.Textarea(
                attrs={"rows": 5, "cols": 80, "spellcheck": "false", "class": "vLargeTextField"}
            )
            field.help_text = (
                "One per line: where the application receives the user's answer. https on any host; "
                "http only on 127.0.0.1 or localhost (any port); an app scheme such as cursor:// only if "
                "PRIVATE_REDIRECT_SCHEMES allows it."
            )
            if self.instance.pk and not self.is_bound:
                self.initial["redirect_uris"] = "\n".join(split_redirect_uris(self.instance.redirect_uris))
            elif isinstance(self.initial.get("redirect_uris"), str):
                self.initial["redirect_uris"] = "\n".join(split_redirect_uris(self.initial["redirect_uris"]))

    def clean_redirect_uris(self) -> str:
        uris = split_redirect_uris(self.cleaned_data.get("redirect_uris", ""))
        if not uris:
            raise ValidationError(
                "Enter at least one redirect URI: without one, no user can be sent back to the application."
            )
        problems = [advice for uri in uris if (advice := redirect_uri_advice(uri))]
        if problems:
            raise ValidationError(problems)
        return " ".join(uris)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("token_endpoint_auth_method") != Client.AuthMethod.PRIVATE_KEY_JWT:
            # Keys are kept only for a client that signs with them (a preset may have filled a URL in).
            data.update(client_jwks_uri="", client_jwks="", token_endpoint_auth_signing_alg="")
            return data
        uri, jwks = data.get("client_jwks_uri"), data.get("client_jwks")
        if uri and not jwks and "client_jwks_uri" not in self._errors:
            # Checked now, through the same fetcher the token endpoint uses, so that a typo shows here.
            problem = client_keys.jwks_uri_check(uri)
            if problem:
                self.add_error("client_jwks_uri", problem)
        return data

    def _update_errors(self, errors: ValidationError) -> None:
        # The model's own checks (DOT's Application.clean) run after the form's and would repeat,
        # less clearly, a refusal `clean_redirect_uris` already explained (or call the field empty,
        # since a refused value never reaches the instance). Keep the form's message alone.
        if hasattr(errors, "error_dict"):
            kept = {name: errs for name, errs in errors.error_dict.items() if name not in self._errors}
            if not kept:
                return
            errors = ValidationError(kept)
        super()._update_errors(errors)


# --- List filters ----------------------------------------------------------------------------------------
class ChoiceFilter(admin.SimpleListFilter):
    """A list filter written as a table: each choice's value, its label, and the rows it keeps
    (a function, so that "now" is the time of the request)."""

    choices_table: dict[str, tuple[str, Callable[[], Q]]] = {}

    def lookups(self, request, model_admin):
        return [(value, label) for value, (label, _rows) in self.choices_table.items()]

    def queryset(self, request, queryset):
        chosen = self.choices_table.get(self.value() or "")
        return queryset if chosen is None else queryset.filter(chosen[1]())


def used_since(days: int) -> Q:
    return Q(last_used_at__gte=timezone.now() - timedelta(days=days))


class StatusFilter(ChoiceFilter):
    title = "status"
    parameter_name = "status"
    choices_table = {
        "active": ("Active", lambda: Q(is_enabled=True, approval=Client.Approval.APPROVED)),
        "disabled": ("Disabled", lambda: Q(is_enabled=False)),
        "pending": ("Waiting for approval", lambda: Q(approval=Client.Approval.PENDING)),
        "quarantined": ("Quarantined", lambda: Q(approval=Client.Approval.QUARANTINED)),
    }


class LastUsedFilter(ChoiceFilter):
    title = "last used"
    parameter_name = "used"
    choices_table = {
        "7d": ("In the last 7 days", lambda: used_since(7)),
        "30d": ("In the last 30 days", lambda: used_since(30)),
        "old": ("Over 30 days ago", lambda: Q(last_used_at__lt=timezone.now() - timedelta(days=30))),
        "never": ("Never", lambda: Q(last_used_at__isnull=True)),
    }


# --- The two lists ----------------------------------------------------------------------------------------
def status_of(client: Client) -> tuple[str, str]:
    """(CSS modifier, words) of a client's status."""
    if not client.is_enabled:
        return "disabled", "Disabled"
    if client.approval == Client.Approval.PENDING:
        return "pending", "Waiting for approval"
    if client.approval == Client.Approval.QUARANTINED:
        return "quarantined", "Quarantined"
    return "active", "Active"


class ClientAdmin(ApplicationAdmin):
    """Every client; registered by DOT itself, through APPLICATION_ADMIN_CLASS."""

    form = ClientForm
    change_form_template = "admin/authserver/client/change_form.html"
    change_list_template = "admin/authserver/client/change_list.html"
    list_display = (
        "display_name",
        "client_id_code",
        "client_type",
        "registered_by",
        "redirect_uri_list",
        "status",
        "last_used",
        "live_tokens",
    )
    list_display_links = ("display_name",)
    list_filter = (StatusFilter, "registration_source", "client_type", LastUsedFilter)
    search_fields = ("name", "client_id", "redirect_uris")
    search_help_text = "Search by name, client ID or redirect URI."
    readonly_fields = (
        "registration_source",
        "cimd_expires_at",
        "created",
        "updated",
        "last_used",
        "live_tokens",
        "redirect_uri_list",
    )
    radio_fields = {"client_type": admin.HORIZONTAL, "authorization_grant_type": admin.VERTICAL}
    actions = ("disable_and_revoke_tokens", "enable_clients")
    ordering = ("-created",)
    list_per_page = 50
    view_on_site = False  # DOT's own client pages are not served here

    class Media:
        js = ("authserver/client_form.js",)

    # --- what is shown -------------------------------------------------------------------------------
    def base_queryset(self) -> QuerySet:
        return self.model._default_manager.annotate(live_token_count=live_token_count())

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # As ModelAdmin.get_queryset, with the annotations added before the ordering that uses them.
        queryset = self.base_queryset()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    @admin.display(description="name", ordering="name")
    def display_name(self, client: Client) -> str:
        return client.name or "(no name)"

    @admin.display(description="client ID", ordering="client_id")
    def client_id_code(self, client: Client) -> str:
        return format_html('<code class="client-id" title="{}">{}</code>', client.client_id, client.client_id)

    @admin.display(description="registered by", ordering="registration_source")
    def registered_by(self, client: Client) -> str:
        return REGISTERED_BY.get(client.registration_source, client.registration_source)

    @admin.display(description="redirect URIs")
    def redirect_uri_list(self, client: Client) -> str:
        uris = split_redirect_uris(client.redirect_uris)
        if not uris:
            return "–"
        return format_html(
            '<ul class="uri-list">{}</ul>', format_html_join("", "<li><code>{}</code></li>", ((u,) for u in uris))
        )

    @admin.display(description="status", ordering="is_enabled")
    def status(self, client: Client) -> str:
        modifier, words = status_of(client)
        return format_html('<span class="client-status client-status-{}">{}</span>', modifier, words)

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, client: Client) -> str:
        if client.last_used_at is None:
            return "never"
        return format_html(
            '<time datetime="{}">{}</time>',
            client.last_used_at.isoformat(),
            client.last_used_at.strftime("%d %b %Y, %H:%M UTC"),
        )

    @admin.display(description="tokens", ordering="live_token_count")
    def live_tokens(self, client: Client) -> int:
        count = getattr(client, "live_token_count", None)
        return live_tokens_of(client) if count is None else count

    def get_fieldsets(self, request: HttpRequest, obj: Client | None = None):
        if obj is not None and obj.is_self_registered:
            return SELF_REGISTERED_FIELDSETS
        fieldsets = [
            (
                None,
                {
                    "fields": ("name", "client_id", "redirect_uris", "client_type"),
                    "description": "Public clients (apps on the user's computer) have no secret and always "
                    "use PKCE; confidential clients (web services) also prove themselves with a secret.",
                },
            ),
            (
                "Client secret (confidential clients only)",
                {
                    "fields": ("client_secret", "hash_client_secret"),
                    "description": "Copy the secret before you save: it is stored hashed and cannot be shown again.",
                },
            ),
            (
                "How it authenticates",
                {
                    "fields": (
                        "token_endpoint_auth_method",
                        "client_jwks_uri",
                        "client_jwks",
                        "token_endpoint_auth_signing_alg",
                    ),
                    "description": "A client that signs with private_key_jwt (RFC 7523) proves itself with a "
                    "short-lived JWT signed by its private key instead of a secret; give its public keys as a "
                    "JWKS URL or paste its JWKS. Such a client is confidential and may use nothing else.",
                },
            ),
            ("Status", {"fields": ("is_enabled",)}),
            (
                "Advanced",
                {
                    "classes": ("collapse",),
                    "fields": (
                        "authorization_grant_type",
                        "skip_authorization",
                        "allowed_origins",
                        "post_logout_redirect_uris",
                        "algorithm",
                        "user",
                    ),
                },
            ),
        ]
        if obj is not None:
            fieldsets.insert(
                4, ("Activity", {"fields": ("registration_source", "created", "updated", "last_used", "live_tokens")})
            )
        return fieldsets

    def save_model(self, request: HttpRequest, obj: Client, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            for field in ("approval", "is_enabled", "is_verified"):
                if field in form.changed_data:
                    audit.event(
                        "client_changed_by_admin",
                        client_id=obj.client_id,
                        user_id=request.user.pk,
                        field=field,
                        value=getattr(obj, field),
                    )

    def get_readonly_fields(self, request: HttpRequest, obj: Client | None = None):
        if obj is not None and obj.is_self_registered:
            return SELF_REGISTERED_READONLY
        return self.readonly_fields

    # --- adding from a preset ---------------------------------------------------------------------------
    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("authorization_grant_type", Client.GRANT_AUTHORIZATION_CODE)
        initial.setdefault("client_type", Client.CLIENT_PUBLIC)
        preset = preset_of(request)
        if preset is not None:
            initial.update(
                name=preset.name,
                redirect_uris="\n".join(preset.redirect_uris),
                client_type=preset.client_type,
                client_jwks_uri=preset.jwks_uri,
            )
        return initial

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "presets": PRESETS, "preset": preset_of(request)}
        return super().add_view(request, form_url, extra_context)

    def response_add(self, request: HttpRequest, obj: Client, post_url_continue: str | None = None) -> HttpResponse:
        preset = preset_of(request)
        next_step = preset.next_step if preset else "Configure the application with this client ID."
        secret = (
            " Its secret is the one shown on the form (stored hashed, it cannot be shown again)."
            if obj.client_type == Client.CLIENT_CONFIDENTIAL
            else ""
        )
        self.message_user(
            request,
            format_html(
                '{} is registered with the client ID <code class="new-client-id">{}</code>. {}{}',
                obj.name or "The client",
                obj.client_id,
                next_step,
                secret,
            ),
            messages.SUCCESS,
        )
        audit.event("client_added_by_admin", client_id=obj.client_id, user_id=request.user.pk)
        return super().response_add(request, obj, post_url_continue)

    # --- changelist -------------------------------------------------------------------------------------
    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        waiting = Client.objects.filter(
            registration_source__in=SELF_REGISTERED, approval=Client.Approval.PENDING
        ).count()
        extra_context = {
            **(extra_context or {}),
            "waiting_for_approval": waiting,
            "approval_setting": settings.NEW_CLIENT_APPROVAL,
        }
        return super().changelist_view(request, extra_context)

    # --- disable and revoke -------------------------------------------------------------------------------
    def get_urls(self):
        return [
            path(
                "<path:object_id>/disable/",
                self.admin_site.admin_view(self.disable_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_disable",
            ),
            *super().get_urls(),
        ]

    def disable_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page's "Disable and revoke all tokens" button, with its confirmation."""
        client = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, client):
            raise PermissionDenied
        if request.method == "POST":
            tokens = disable_and_revoke(client)
            self.message_user(request, f"{client} is disabled; {tokens} live token(s) revoked.", messages.WARNING)
            return HttpResponseRedirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[client.pk])
            )
        return self._confirm_disable(request, [client], single=True)

    def _confirm_disable(self, request: HttpRequest, clients: list[Client], single: bool = False) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Disable and revoke all tokens?",
            "opts": self.opts,
            "clients": [(client, live_tokens_of(client)) for client in clients],
            "single": single,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/authserver/client/disable_confirmation.html", context)

    @admin.action(description="Disable the selected clients and revoke all their tokens", permissions=["change"])
    def disable_and_revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        clients = list(queryset)
        if request.POST.get("confirm") != "yes":
            return self._confirm_disable(request, clients)
        tokens = sum(disable_and_revoke(client) for client in clients)
        self.message_user(
            request, f"{len(clients)} client(s) disabled, {tokens} live token(s) revoked.", messages.WARNING
        )
        return None

    @admin.action(description="Enable the selected clients", permissions=["change"])
    def enable_clients(self, request: HttpRequest, queryset: QuerySet) -> None:
        clients = list(queryset.filter(is_enabled=False))
        for client in clients:
            client.is_enabled = True
            client.save(update_fields=["is_enabled", "updated"])
            audit.event("client_enabled", client_id=client.client_id, user_id=request.user.pk)
        self.message_user(
            request,
            f"{len(clients)} client(s) enabled. Their users must sign in again: revoked tokens stay revoked.",
            messages.SUCCESS,
        )


# What a self-registered client claims about itself, shown read-only.
SELF_REGISTERED_CLAIMS = (
    "name",
    "client_id",
    "registration_source",
    "redirect_uri_list",
    "client_type",
    "application_type",
    "token_endpoint_auth_method",
    "client_jwks_uri",
)
SELF_REGISTERED_READONLY = (*SELF_REGISTERED_CLAIMS, "cimd_expires_at", "created", "last_used", "live_tokens")
SELF_REGISTERED_FIELDSETS = [
    (
        None,
        {
            "fields": SELF_REGISTERED_CLAIMS,
            "description": "This client registered itself: its name and addresses are what it claims, "
            "unchecked. Approve it only if you expect it.",
        },
    ),
    ("Review", {"fields": ("approval", "is_enabled", "is_verified")}),
    ("Activity", {"fields": ("created", "last_used", "live_tokens", "cimd_expires_at")}),
]


@admin.register(SelfRegisteredClient)
class SelfRegisteredClientAdmin(ClientAdmin):
    """The review queue: clients that registered themselves or came by URL, waiting ones first."""

    change_list_template = "admin/authserver/selfregisteredclient/change_list.html"
    list_display = (
        "display_name",
        "client_id_code",
        "registered_by",
        "redirect_uri_list",
        "status",
        "created",
        "last_used",
        "live_tokens",
    )
    list_filter = (StatusFilter, "registration_source", "is_verified", LastUsedFilter)
    actions = ("approve", "quarantine", "disable_and_revoke_tokens", "enable_clients")

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        return ("waiting_first", "-created")  # an annotation, which the `ordering` attribute may not name

    def base_queryset(self) -> QuerySet:
        return (
            super()
            .base_queryset()
            .filter(registration_source__in=SELF_REGISTERED)
            .annotate(waiting_first=Case(When(approval=Client.Approval.PENDING, then=Value(0)), default=Value(1)))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # they register themselves; administrators add clients under "Clients"

    def _set_approval(self, request: HttpRequest, queryset: QuerySet, approval: str, event: str) -> int:
        clients = list(queryset.exclude(approval=approval))
        for client in clients:
            client.approval = approval
            client.save(update_fields=["approval", "updated"])
            audit.event(event, client_id=client.client_id, user_id=request.user.pk)
        return len(clients)

    @admin.action(description="Approve the selected clients", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = self._set_approval(request, queryset, Client.Approval.APPROVED, "client_approved")
        self.message_user(request, f"{count} client(s) approved: users can now sign in to them.", messages.SUCCESS)

    @admin.action(description="Quarantine the selected clients", permissions=["change"])
    def quarantine(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = self._set_approval(request, queryset, Client.Approval.QUARANTINED, "client_quarantined")
        self.message_user(
            request,
            f"{count} client(s) quarantined: they get no new tokens and their tokens are refused until approved.",
            messages.WARNING,
        )


admin.site.site_header = f"{settings.OAUTH2_PROVIDER['OAUTH2_PROTECTED_RESOURCE_NAME']} · administration"
admin.site.site_title = settings.OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_NAME"]
admin.site.index_title = "Clients, tokens and users"
# The lists of clients are wide (redirect URIs, status, tokens): they get the whole width, and the
# home page lists every model anyway.
admin.site.enable_nav_sidebar = False


# --- Users: how each one signs in (password, identity providers, second factor) ---------------------
class ProviderSignInInline(admin.TabularInline):
    """The identity-provider accounts linked to a user (delete one to unlink it)."""

    model = SocialAccount
    fields = ("provider", "uid", "last_login", "date_joined")
    readonly_fields = fields
    extra = 0
    verbose_name = "identity provider sign-in"
    verbose_name_plural = "Signs in with these identity providers"

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def provider_names() -> dict[str, str]:
    """Provider id (as SocialAccount.provider holds it) → the name people see."""
    return {provider.app.provider_id or provider.id: provider.name for provider in sso.configured_providers()}


class UserAdmin(DjangoUserAdmin):
    """Django's user admin, which also says how each user signs in. Deactivating a user ("active"
    off) stops their tokens at once: every token check requires an active user."""

    inlines = [*DjangoUserAdmin.inlines, ProviderSignInInline]
    list_display = (*DjangoUserAdmin.list_display, "is_active", "signs_in_with")
    list_filter = (*DjangoUserAdmin.list_filter, "socialaccount__provider")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("socialaccount_set", "authenticator_set")

    @admin.display(description="Signs in with")
    def signs_in_with(self, user) -> str:
        names = provider_names()
        ways = [names.get(account.provider, account.provider) for account in user.socialaccount_set.all()]
        if user.has_usable_password():
            factors = {authenticator.type for authenticator in user.authenticator_set.all()} & {"totp", "webauthn"}
            ways.insert(0, "password + second factor" if factors else "password")
        return ", ".join(ways) or "nothing (no password, no provider)"


if admin.site.is_registered(get_user_model()):
    admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserAdmin)
