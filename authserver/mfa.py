"""MFA for local accounts (django-allauth's `mfa`): administrators enrol before they reach the
admin (MFA_REQUIRED_FOR_STAFF), and the authenticator secrets are encrypted at rest like the
upstream tokens (common/upstream.py), through allauth's MFA adapter's hooks for exactly that."""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from common.upstream import decrypt, encrypt

SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt(encrypted_text)


def must_enrol(user) -> bool:
    """A local administrator (one with a password) without a second factor, while
    MFA_REQUIRED_FOR_STAFF is on. People who sign in through a provider only have theirs there."""
    return (
        settings.MFA_REQUIRED_FOR_STAFF
        and user.is_authenticated
        and user.is_staff
        and user.has_usable_password()
        and not is_mfa_enabled(user, SECOND_FACTORS)
    )


class StaffMfaMiddleware:
    """Sends an administrator without a second factor to enrol one before any admin page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        admin_root = reverse("admin:index")
        if request.path.startswith(admin_root) and request.path not in self.open_paths() and must_enrol(request.user):
            messages.warning(
                request,
                "Administrators of this server need a second factor. Set up an authenticator app (or a "
                "security key) to continue to the admin.",
            )
            return HttpResponseRedirect(reverse("mfa_index"))
        return self.get_response(request)

    @staticmethod
    def open_paths() -> tuple[str, ...]:
        return (reverse("admin:login"), reverse("admin:logout"))
