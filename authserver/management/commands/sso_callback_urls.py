"""`manage.py sso_callback_urls`: the callback (redirect) URL to register at each identity
provider, and which providers are configured. `make run` and the container print it at start."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from authserver import sso


class Command(BaseCommand):
    help = "Print the callback URLs to register at the identity providers (SSO_OIDC_*, SSO_GITHUB_*, SSO_GOOGLE_*)."

    def handle(self, *args, **options) -> None:
        names = [provider.name for provider in sso.configured_providers()]
        configured = ", ".join(names) if names else "none yet (README: Sign in with your identity provider)"
        self.stdout.write(f"Sign in with an identity provider: {configured}. The callback URL to register there:")
        for provider, url in sso.callback_urls():
            self.stdout.write(f"    {provider}: {url}")
