"""Sign-in with an upstream identity provider, on django-allauth's `socialaccount`: the rules
allauth leaves to the project, as its two adapters (ACCOUNT_ADAPTER, SOCIALACCOUNT_ADAPTER).

Who gets which account (SECURITY.md, "Account linking"):
1. A provider account already linked signs in to its user.
2. Otherwise, a provider that vouches for an e-mail address (verified) that exactly one local
   account has links to that account, unless it is an administrator's: administrators link a
   provider themselves, signed in (Security › Linked sign-ins), so nobody becomes one by e-mail.
3. Otherwise, if a local account has the address but the provider did not verify it, nothing is
   linked and the person is told why (no account is created beside it either).
4. Otherwise the first sign-in creates the user.
With SSO_ALLOWED_EMAIL_DOMAINS set, every upstream sign-in needs a verified address in one of
those domains. With SSO_STAFF_GROUPS set, every OpenID Connect sign-in makes the user an
administrator exactly when the `groups` claim names one of them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse

from common import audit
from common.errors import ErrorPage

from .errors import page_answer

# The messages allauth adds on sign-in and sign-out: the pages say who is signed in already.
QUIET_MESSAGES = ("account/messages/logged_in.txt", "account/messages/logged_out.txt")


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Local accounts come from administrators; people without one sign in through a provider.
        return False

    def add_message(self, request, level, message_template=None, *args, **kwargs) -> None:
        if message_template in QUIET_MESSAGES:
            return
        super().add_message(request, level, message_template, *args, **kwargs)

    def login(self, request: HttpRequest, user) -> None:
        # A user signing in through a provider comes without the backend that authenticated it;
        # Django's model backend is the one that can load it again on the next request.
        if not hasattr(user, "backend"):
            user.backend = "django.contrib.auth.backends.ModelBackend"
        super().login(request, user)


def verified_emails(sociallogin: SocialLogin) -> list[str]:
    return [address.email.strip().lower() for address in sociallogin.email_addresses if address.verified]


def unverified_emails(sociallogin: SocialLogin) -> list[str]:
    return [address.email.strip().lower() for address in sociallogin.email_addresses if not address.verified]


def users_with_email(email: str):
    """Accounts whose address is `email`: the user's own field, or an address allauth keeps."""
    return get_user_model().objects.filter(Q(email__iexact=email) | Q(emailaddress__email__iexact=email)).distinct()


def in_allowed_domain(email: str) -> bool:
    return email.rpartition("@")[2] in settings.SSO_ALLOWED_EMAIL_DOMAINS


def upstream_groups(sociallogin: SocialLogin) -> set[str]:
    """The `groups` claim, from the user-info answer or the ID token (providers put it in either)."""
    data = sociallogin.account.extra_data or {}
    groups: set[str] = set()
    for part in (data.get("userinfo"), data.get("id_token"), data):
        value = part.get("groups") if isinstance(part, dict) else None
        if isinstance(value, list):
            groups |= {str(group) for group in value}
        elif isinstance(value, str):
            groups.add(value)
    return groups


def refusal(request: HttpRequest, sociallogin: SocialLogin, reason: str, title: str, description: str, hint: str):
    """Stop this sign-in with a page that says why (403), and record it."""
    audit.event("sso_login_refused", provider=sociallogin.account.provider, reason=reason)
    page = ErrorPage(403, {"error": reason, "title": title, "description": description, "hint": hint})
    return ImmediateHttpResponse(page_answer(request, page))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True  # the rules are in pre_social_login

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        if not sociallogin.is_existing:
            self.refuse_unverified_claim(request, sociallogin)
        self.check_email_domain(request, sociallogin)
        if not sociallogin.is_existing:
            self.link_by_email(request, sociallogin)
        if sociallogin.is_existing:
            self.apply_staff_groups(sociallogin.user, sociallogin)

    def check_email_domain(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        if settings.SSO_ALLOWED_EMAIL_DOMAINS and not any(map(in_allowed_domain, verified_emails(sociallogin))):
            raise refusal(
                request,
                sociallogin,
                "email_domain_not_allowed",
                "Your e-mail address is not allowed here",
                f"{sociallogin.provider.name} did not confirm an e-mail address in "
                + ", ".join(settings.SSO_ALLOWED_EMAIL_DOMAINS)
                + ", so you cannot sign in to this server with it.",
                "Sign in with your organisation's account, or ask the administrator of this server to let your "
                "domain in.",
            )

    def refuse_unverified_claim(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """An address the provider did not verify is nobody's proof of owning a local account."""
        name = sociallogin.provider.name
        verified = set(verified_emails(sociallogin))
        for email in unverified_emails(sociallogin):
            if email not in verified and users_with_email(email).exists():
                raise refusal(
                    request,
                    sociallogin,
                    "email_not_verified",
                    "Your e-mail address was not confirmed",
                    f"An account here already uses the address {email}, but {name} did not confirm that the "
                    "address is yours, so your sign-in was not linked to that account.",
                    f"Sign in with your user name and password, then link {name} under Security › Linked sign-ins; or "
                    f"confirm the address at {name} and try again.",
                )

    def link_by_email(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        name = sociallogin.provider.name
        for email in verified_emails(sociallogin):
            users = list(users_with_email(email)[:2])
            if len(users) == 1 and not (users[0].is_staff or users[0].is_superuser):
                sociallogin.connect(request, users[0])
                audit.event(
                    "sso_account_linked", user_id=users[0].pk, provider=sociallogin.account.provider, by="email"
                )
                return
            if users:
                raise refusal(
                    request,
                    sociallogin,
                    "account_not_linked",
                    "Sign in with your password first",
                    f"An account here already uses the address {email}. It was not linked to your {name} "
                    "account automatically.",
                    f"Sign in with your user name and password, then link {name} under Security › Linked sign-ins.",
                )

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form=None):
        user = super().save_user(request, sociallogin, form)
        self.apply_staff_groups(user, sociallogin)
        audit.event("sso_account_created", user_id=user.pk, provider=sociallogin.account.provider)
        return user

    def apply_staff_groups(self, user, sociallogin: SocialLogin) -> None:
        if not settings.SSO_STAFF_GROUPS or sociallogin.provider.id != "openid_connect":
            return
        member = bool(upstream_groups(sociallogin) & set(settings.SSO_STAFF_GROUPS))
        if (user.is_staff, user.is_superuser) != (member, member):
            user.is_staff = user.is_superuser = member
            user.save(update_fields=["is_staff", "is_superuser"])
            audit.event("sso_staff_changed", user_id=user.pk, provider=sociallogin.account.provider, staff=member)


# --- What the sign-in pages need -----------------------------------------------------------------
def configured_providers(request: HttpRequest | None = None) -> list:
    """Every provider with an app (from the environment or the admin's "social applications")."""
    adapter = SocialAccountAdapter(request)
    providers = []
    for app in adapter.list_apps(request):
        providers.append(app.get_provider(request))
    return sorted(providers, key=lambda provider: (provider.id != "openid_connect", provider.name.lower()))


def provider_origins(request: HttpRequest | None = None) -> list[str]:
    """The origins the sign-in buttons' form posts are redirected to: the CSP's form-action."""
    origins = set()
    for provider in configured_providers(request):
        if provider.id == "openid_connect":
            # Its authorization endpoint is in the discovery document, on the issuer's origin.
            parts = urlsplit(provider.app.settings.get("server_url", ""))
        else:  # GitHub's and Google's are fixed in their allauth adapters
            parts = urlsplit(provider.get_oauth2_adapter(request).authorize_url)
        if parts.scheme and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return sorted(origins)


def callback_urls() -> list[tuple[str, str]]:
    """(provider, the callback URL to register there), for the configured providers and the
    built-in ones."""
    oidc = reverse("openid_connect_callback", kwargs={"provider_id": settings.SSO_OIDC_PROVIDER_ID})
    return [
        ("OpenID Connect (SSO_OIDC_*)", settings.PUBLIC_URL + oidc),
        ("GitHub (SSO_GITHUB_*)", settings.PUBLIC_URL + reverse("github_callback")),
        ("Google (SSO_GOOGLE_*)", settings.PUBLIC_URL + reverse("google_callback")),
    ]
