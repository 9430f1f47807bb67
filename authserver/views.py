"""The authorization server's views: django-oauth-toolkit's, subclassed where MCP needs more."""

from __future__ import annotations

import json
from functools import wraps
from urllib.parse import parse_qs, urlsplit

from allauth.account.internal.flows.login import perform_password_login
from allauth.account.models import Login
from allauth.core.exceptions import ImmediateHttpResponse
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as dot_views
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.oauth2_backends import _add_iss_to_redirect
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.signals import app_authorized
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error, InvalidRequestError

from common import audit
from common.documents import cached_document
from common.errors import ErrorPage, OAuthError

from . import client_keys, sso
from .client_documents import refusal_of
from .errors import error_answer
from .models import Client
from .resources import bind_resources
from .security import CONTENT_SECURITY_POLICY
from .server_scopes import server_scopes
from .throttling import throttled
from .validators import request_value_problem

# --- Error page wording (issue 6): a title and what to do, for the errors a person meets most ---
ERROR_PAGE_TEXT: tuple[tuple[str, str, str], ...] = (
    # (start of the description, title, what the person can do)
    (
        "This application is waiting for approval",
        "This application is waiting for approval",
        "The administrator of this server has not approved it yet, so nobody can sign in to it. "
        "Try again later, or ask the administrator to approve it.",
    ),
    (
        "This application has been disabled",
        "This application has been disabled",
        "The administrator of this server has turned it off. Ask them if you think this is a mistake.",
    ),
    (
        "Mismatching redirect URI",
        "This application's return address is not registered",
        "The application asked to send you back to an address it did not register with this server, so you "
        "were not sent there. A genuine application does not do this: tell its developer.",
    ),
    (
        "Invalid redirect URI",
        "This application's return address is not valid",
        "You were not sent back to the application, because the address it gave cannot be trusted.",
    ),
    (
        "Missing redirect URI",
        "This application did not say where to send you back",
        "Start again from the application; if this happens again, tell its developer.",
    ),
    (
        "The client metadata document",
        "This application's description was refused",
        "The application identifies itself with a web address whose document this server cannot accept. "
        "Tell its developer what the message above says.",
    ),
    (
        "Invalid client_id",
        "This application is not registered here",
        "The application is unknown to this server. Start again from the application, which may register itself.",
    ),
)


def error_page_text(description: str) -> dict[str, str]:
    """The title and advice the error page shows for an OAuth error description."""
    for start, title, hint in ERROR_PAGE_TEXT:
        if description.startswith(start):
            return {"title": title, "hint": hint}
    return {}


def oauth_error_page(request: HttpRequest, error: str, description: str, status: int = 400) -> HttpResponse:
    """An error the user has to see because it cannot safely go back to the client (JSON to a
    program)."""
    context = {"error": error, "description": description, "oauth": True, **error_page_text(description)}
    page = ErrorPage(status, context)
    return error_answer(request, OAuthError(error, description, status, page=page))


def unusable_client_description(client_id: str | None) -> str | None:
    """Why an existing client may not sign users in, in plain words; None if it may (or is unknown)."""
    if not client_id:
        return None
    client = Client.objects.filter(client_id=client_id).only("is_enabled", "approval").first()
    if client is None:
        return None
    if not client.is_enabled:
        return "This application has been disabled by the administrator of this server."
    if client.approval != Client.Approval.APPROVED:
        return "This application is waiting for approval by the administrator of this server."
    return None


class AuthorizationView(dot_views.AuthorizationView):
    """DOT's authorization endpoint, with errors a client should hear before its user logs in,
    the RFC 9207 `iss` on every redirect (errors included), and a consent page that says who is
    asking, for what, and where the answer goes."""

    template_name = "authserver/consent.html"

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.oauth2_data = {}
        if request.method == "GET":
            refusal = self.refuse_before_login(request)
            if refusal is not None:
                return refusal
        return super().dispatch(request, *args, **kwargs)

    def refuse_before_login(self, request: HttpRequest) -> HttpResponse | None:
        try:
            _scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        method = request.GET.get("code_challenge_method")
        problem = None if method == "S256" else 'code_challenge_method must be "S256" (PKCE is required)'
        # Values that could not be stored with the code are refused now, not after the consent.
        problem = problem or request_value_problem(request.GET.get("code_challenge", ""), request.GET.get("nonce"))
        if problem:
            return self.error_response(
                OAuthToolkitError(
                    error=InvalidRequestError(description=problem, state=credentials.get("state")),
                    redirect_uri=credentials["redirect_uri"],
                ),
                application=None,
            )
        requested = request.GET.getlist("resource")
        if bind_resources(requested) is None:
            return self.error_response(
                OAuthToolkitError(
                    error=CustomOAuth2Error(
                        error="invalid_target",
                        description=f"This server issues tokens only for {settings.MCP_URL}",
                        state=credentials.get("state"),
                    ),
                    redirect_uri=credentials["redirect_uri"],
                ),
                application=None,
            )
        return None

    def error_response(self, error, application, **kwargs) -> HttpResponse:
        redirect, response = OAuthLibMixin.error_response(self, error, **kwargs)
        if redirect:
            return self.redirect(response["url"], application)
        oauthlib_error = response["error"]
        description = getattr(oauthlib_error, "description", "") or "The authorization request is invalid."
        client_id = self.request.GET.get("client_id") or self.request.POST.get("client_id")
        unusable = unusable_client_description(client_id)
        if unusable and oauthlib_error.error in ("invalid_client_id", "invalid_request", "invalid_client"):
            description = unusable
        elif (refusal := refusal_of(client_id)) and oauthlib_error.error in ("invalid_client_id", "invalid_request"):
            description = refusal
        return oauth_error_page(self.request, oauthlib_error.error, description, oauthlib_error.status_code)

    def redirect(self, redirect_to: str, application) -> HttpResponse:
        # RFC 9207: the issuer goes on error redirects too, not only on success.
        return super().redirect(_add_iss_to_redirect(redirect_to, settings.ISSUER), application)

    def form_valid(self, form):
        client_id = form.cleaned_data.get("client_id")
        if not Client.objects.filter(client_id=client_id).exists():
            return oauth_error_page(self.request, "invalid_request", "The client of this request is unknown.")
        allowed = bool(form.cleaned_data.get("allow"))
        audit.event(
            "consent_granted" if allowed else "consent_denied",
            user_id=self.request.user.pk,
            client_id=client_id,
            scope=form.cleaned_data.get("scope", ""),
        )
        return super().form_valid(form)

    def form_invalid(self, form):
        # A consent POST missing its hidden fields (tampered, or not from our page) has no client
        # to show the consent page for: say so instead of rendering it half empty (or failing).
        return oauth_error_page(
            self.request,
            "invalid_request",
            "The authorization form was incomplete. Start again from the application.",
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        application = kwargs.get("application")
        redirect_uri = kwargs.get("redirect_uri") or ""
        descriptions = get_scopes_backend().get_all_scopes()
        context.update(
            client=application,
            redirect_host=urlsplit(redirect_uri).netloc or urlsplit(redirect_uri).scheme + ":",
            scope_items=[(scope, descriptions.get(scope, scope)) for scope in kwargs.get("scopes", [])],
            resources=bind_resources((kwargs.get("resource") or "").split()) or [],
        )
        return context


@method_decorator(never_cache, name="dispatch")
@method_decorator(throttled("token"), name="post")  # per IP and in total (authserver/throttling.py)
class TokenView(dot_views.TokenView):
    """DOT's token endpoint, in one transaction so that the row locks taken by the validator
    serialise concurrent redemptions of one code or refresh token."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        with transaction.atomic():
            response = super().post(request, *args, **kwargs)
        # Every answer of this endpoint is JSON, but oauthlib leaves the type off some errors
        # (e.g. one raised by the validator, such as invalid_target). (No-store: authserver.security.)
        response["Content-Type"] = "application/json"
        return response

    @method_decorator(sensitive_post_parameters("password", "client_secret"))
    def authorization_flow_token_response(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # DOT's, except that it reads the issued access token back from the database only to
        # send `app_authorized`: that costs a query per grant, so only when someone listens.
        if app_authorized.has_listeners():
            return super().authorization_flow_token_response(request, *args, **kwargs)
        _url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for name, value in headers.items():
            response[name] = value
        return response


class RevokeTokenView(dot_views.RevokeTokenView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        if response.content:  # errors are JSON; oauthlib may leave the type off
            response["Content-Type"] = "application/json"
        return response  # no-store: authserver.security


class AuthorizationServerMetadataView(dot_views.OAuthServerMetadataView):
    """DOT's RFC 8414 document, served from the per-process cache, plus what DOT 3.4 leaves out:
    the signing algorithms of private_key_jwt for each endpoint that accepts it, and the
    authorization server's own scopes (offline_access, SEP-2207) in scopes_supported."""

    @cached_document("authorization-server")
    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        if response.status_code != 200:
            return response
        document = json.loads(response.content)
        return JsonResponse(completed_server_metadata(document))


def completed_server_metadata(document: dict) -> dict:
    document["scopes_supported"] = list(dict.fromkeys([*document.get("scopes_supported", []), *server_scopes()]))
    for endpoint in ("token", "revocation", "introspection"):
        if "private_key_jwt" in document.get(f"{endpoint}_endpoint_auth_methods_supported", []):
            document[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] = client_keys.allowed_algorithms()
    return document


def with_sign_in_csp(view):
    """The sign-in pages' CSP also allows their forms to lead to the configured identity
    providers: Chromium applies `form-action` to the redirect that follows a form's POST, and a
    provider's button posts here and is redirected there. Nowhere else."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if request.method in ("GET", "POST"):  # the answers that can hold a form
            response["Content-Security-Policy"] = sign_in_policy(request)
        return response

    return wrapper


def sign_in_policy(request: HttpRequest) -> str:
    return "; ".join([CONTENT_SECURITY_POLICY, " ".join(["form-action 'self'", *sso.provider_origins(request)])])


@method_decorator(with_sign_in_csp, name="dispatch")
@method_decorator(throttled("login"), name="post")  # attempts per IP and in total; lockout: django-axes
class LoginView(auth_views.LoginView):
    """Django's login, which also says which application the user is signing in to, offers the
    configured identity providers, and asks for the second factor of an account that has one
    (allauth's login stages)."""

    template_name = "authserver/login.html"
    redirect_authenticated_user = False

    def local_login(self) -> bool:
        return settings.LOCAL_LOGIN

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not self.local_login():
            return oauth_error_page(
                request,
                "password_sign_in_off",
                "Signing in with a password is turned off on this server. Use one of the sign-in buttons.",
                status=403,
            )
        return super().post(request, *args, **kwargs)

    def form_valid(self, form) -> HttpResponse:
        # allauth's password sign-in: it records the method (so that enrolling a second factor
        # right after needs no password again) and runs the stages, the MFA prompt among them.
        user = form.get_user()
        login = Login(user=user, redirect_url=self.get_success_url(), email_verification="none")
        try:
            return perform_password_login(self.request, {"username": user.get_username()}, login)
        except ImmediateHttpResponse as stop:
            return stop.response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.pop("site_name", None)  # Django's is the Host header; the context processor names the server
        context["asking_client"] = client_named_in(self.get_redirect_url())
        context["redirect_host"] = registered_redirect_host(context["asking_client"], self.get_redirect_url())
        context["providers"] = sso.configured_providers(self.request)
        context["local_login"] = self.local_login()
        return context

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response


class AdminLoginView(LoginView):
    """The admin's own sign-in page (Django's form and template), through the same stages: an
    administrator with a second factor is asked for it here too. It stays when LOCAL_LOGIN is
    off: it signs in staff only."""

    form_class = AdminAuthenticationForm
    authentication_form = AdminAuthenticationForm
    template_name = "admin/login.html"

    def local_login(self) -> bool:
        return True


def admin_login(request: HttpRequest) -> HttpResponse:
    """What `AdminSite.login` does, with `AdminLoginView` (Django's admin has no setting for it)."""
    if request.method == "GET" and admin.site.has_permission(request):
        return redirect("admin:index")
    context = {
        **admin.site.each_context(request),
        "title": _("Log in"),
        "subtitle": None,
        "app_path": request.get_full_path(),
        "username": request.user.get_username(),
    }
    if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
        context[REDIRECT_FIELD_NAME] = reverse("admin:index")
    request.current_app = admin.site.name
    return AdminLoginView.as_view(extra_context=context)(request)


def registered_redirect_host(client: Client | None, next_url: str) -> str:
    """Where the client will send the user back (shown on the login page), if it registered it."""
    uri = (parse_qs(urlsplit(next_url or "").query).get("redirect_uri") or [""])[0]
    if client is None or not uri or not client.redirect_uri_allowed(uri):
        return ""
    parts = urlsplit(uri)
    return parts.netloc or parts.scheme + ":"


def client_named_in(next_url: str) -> Client | None:
    """The client of an `/authorize` URL the user will return to, if it is registered here."""
    parts = urlsplit(next_url or "")
    if parts.path != "/authorize":
        return None
    client_id = (parse_qs(parts.query).get("client_id") or [""])[0]
    return Client.objects.filter(client_id=client_id).first() if client_id else None
