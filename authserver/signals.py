"""Audit events for what Django and django-axes signal: sign-ins, failed sign-ins, lockouts."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from common import audit


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
    audit.event("login_succeeded", user_id=user.pk, username=user.get_username(), ip=_ip(request))


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
