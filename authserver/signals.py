"""Audit events for what Django, django-axes and django-allauth signal: sign-ins (how, through
which provider), failed sign-ins, lockouts, provider links, MFA enrolment and failures. Also
where a provider sign-in's upstream token is stored (authserver/upstream.py)."""

from __future__ import annotations

from allauth.account.authentication import get_authentication_records
from allauth.account.signals import user_logged_in as allauth_logged_in
from allauth.mfa.signals import authentication_failed, authenticator_added, authenticator_removed
from allauth.socialaccount.signals import social_account_added, social_account_removed
from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from common import audit

from . import upstream


def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None and hasattr(request, "META") else None


def _user_id_of(username: str | None) -> int | None:
    """The id of the account a failed sign-in aimed at, so failures join with the rest of the
    trail by user id; None for a name nobody has."""
    if not username or not isinstance(username, str) or len(username) > 150:
        return None
    model = get_user_model()
    return model._default_manager.filter(**{model.USERNAME_FIELD: username}).values_list("pk", flat=True).first()


@receiver(user_logged_in)
def record_login(sender, request, user, **kwargs) -> None:
    audit.event(
        "login_succeeded",
        user_id=user.pk,
        username=user.get_username(),
        ip=_ip(request),
        **sign_in_method(request, user),
    )


@receiver(user_login_failed)
def record_failed_login(sender, credentials, request=None, **kwargs) -> None:
    # The username is not a secret; Django masks the password in `credentials`, and it is never
    # passed on anyway.
    username = credentials.get("username")
    audit.event(
        "login_failed",
        user_id=_user_id_of(username),
        username=username[:150] if isinstance(username, str) else None,
        ip=_ip(request),
        locked_out=bool(getattr(request, "axes_locked_out", False)),
    )


@receiver(user_locked_out)
def record_lockout(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    audit.event("login_locked_out", user_id=_user_id_of(username), username=username, ip=ip_address)


# --- Sign-in through an identity provider, and MFA (django-allauth) ------------------------------
def sign_in_method(request, user) -> dict[str, str | None]:
    """How this sign-in was made (allauth's record of it in the session): with a password or
    through a provider (which one), and with which second factor, if any."""
    if request is None or not hasattr(request, "session"):
        return {}
    records = get_authentication_records(request, user)
    provider = next((r.get("provider") for r in reversed(records) if r.get("method") == "socialaccount"), None)
    second = next((r.get("type") for r in reversed(records) if r.get("method") == "mfa"), None)
    if provider is None and not any(r.get("method") == "password" for r in records):
        return {"mfa": second} if second else {}
    return {"method": "provider" if provider else "password", "provider": provider, "mfa": second}


@receiver(allauth_logged_in)
def store_upstream_token(sender, request, user, sociallogin=None, **kwargs) -> None:
    if sociallogin is not None:
        upstream.remember(sociallogin)


@receiver(social_account_added)
def record_link(sender, request, sociallogin, **kwargs) -> None:
    upstream.remember(sociallogin)
    if sociallogin.state.get("process") == "connect":
        audit.event("sso_account_linked", user_id=sociallogin.user.pk, provider=sociallogin.account.provider, by="user")


@receiver(social_account_removed)
def record_unlink(sender, request, socialaccount, **kwargs) -> None:
    audit.event("sso_account_unlinked", user_id=socialaccount.user_id, provider=socialaccount.provider)


@receiver(authenticator_added)
def record_mfa_enrolment(sender, request, user, authenticator, **kwargs) -> None:
    audit.event("mfa_enrolled", user_id=user.pk, type=authenticator.type, ip=_ip(request))


@receiver(authenticator_removed)
def record_mfa_removal(sender, request, user, authenticator, **kwargs) -> None:
    audit.event("mfa_removed", user_id=user.pk, type=authenticator.type, ip=_ip(request))


@receiver(authentication_failed)
def record_mfa_failure(sender, request, user, authenticator, reauthentication=False, **kwargs) -> None:
    audit.event(
        "mfa_failed", user_id=user.pk, type=authenticator.type, ip=_ip(request), reauthentication=reauthentication
    )
