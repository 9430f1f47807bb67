"""Create (or update) the demo user and the administrator from the environment, idempotently."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create or update the demo user (DEMO_USERNAME/DEMO_PASSWORD) and the admin (ADMIN_USERNAME/ADMIN_PASSWORD)."

    def handle(self, *args, **options) -> None:
        user_model = get_user_model()
        pairs = [
            ("demo user", settings.DEMO_USERNAME, settings.DEMO_PASSWORD, False),
            ("admin", settings.ADMIN_USERNAME, settings.ADMIN_PASSWORD, True),
        ]
        for label, username, password, is_admin in pairs:
            if not username:
                self.stdout.write(f"No {label} configured; skipped.")
                continue
            if not password:
                raise CommandError(f"The {label} {username!r} has no password: set it in the environment.")
            user, created = user_model.objects.get_or_create(username=username)
            user.is_active = True
            user.is_staff = is_admin
            user.is_superuser = is_admin
            if is_admin and settings.ADMIN_EMAIL:
                user.email = settings.ADMIN_EMAIL
            if created or not user.check_password(password):
                user.set_password(password)
            user.save()
            self.stdout.write(f"{'Created' if created else 'Updated'} {label} {username!r}.")
