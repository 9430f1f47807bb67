"""Audit events for what Django itself signals: logins and failed logins."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from . import audit


@receiver(user_logged_in)
def record_login(sender, request, user, **kwargs) -> None:
    audit.event("login_succeeded", user_id=user.pk, ip=request.META.get("REMOTE_ADDR") if request else None)


@receiver(user_login_failed)
def record_failed_login(sender, credentials, request=None, **kwargs) -> None:
    # The username is not a secret, the password never reaches the log (Django masks it).
    audit.event(
        "login_failed",
        username=credentials.get("username"),
        ip=request.META.get("REMOTE_ADDR") if request else None,
    )
