"""Delete self-registered and URL-identified clients that never obtained a token, and expired
tokens, codes, client assertion records and rate-limit counters."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone
from oauth2_provider.models import clear_expired

from authserver import throttling
from authserver.models import Client, UsedAuthorizationCode, UsedClientAssertion


class Command(BaseCommand):
    help = "Prune never-used self-registered clients (older than N days) and expired tokens."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=settings.PRUNE_UNUSED_CLIENTS_DAYS,
            help="Prune clients registered more than this many days ago that never obtained a token.",
        )

    def handle(self, *args, days: int, **options) -> None:
        cutoff = timezone.now() - timedelta(days=days)
        unused = Client.objects.filter(
            registration_source__in=[Client.RegistrationSource.DCR, Client.RegistrationSource.CIMD],
            last_used_at__isnull=True,
            created__lt=cutoff,
        )
        pruned = unused.count()
        unused.delete()
        clear_expired()
        codes, _ = UsedAuthorizationCode.objects.filter(used_at__lt=timezone.now() - timedelta(days=1)).delete()
        assertions, _ = UsedClientAssertion.objects.filter(expires_at__lt=timezone.now()).delete()
        counters = throttling.prune_counters()
        self.stdout.write(
            f"Pruned {pruned} unused client(s), {codes} used code record(s), {assertions} used assertion record(s), "
            f"{counters} rate-limit counter(s); expired tokens cleared."
        )
