"""`manage.py rotate_upstream_tokens`: re-encrypt the stored upstream tokens and the MFA
authenticator secrets with the first of UPSTREAM_TOKEN_KEYS (README: rotating the key).

Put the new key first in UPSTREAM_TOKEN_KEYS, keeping the old ones after it; restart; run this;
then remove the old keys."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialToken
from django.core.management.base import BaseCommand
from django.db import transaction

from common.upstream import reencrypt

# The fields of allauth's authenticators that its MFA adapter encrypts (authserver/mfa.py).
AUTHENTICATOR_SECRETS = ("secret", "seed")


class Command(BaseCommand):
    help = "Re-encrypt stored upstream tokens and MFA secrets with the first key of UPSTREAM_TOKEN_KEYS."

    def handle(self, *args, **options) -> None:
        tokens = authenticators = 0
        with transaction.atomic():
            for stored in SocialToken.objects.select_for_update().exclude(token=""):
                stored.token = reencrypt(stored.token)
                stored.token_secret = reencrypt(stored.token_secret)
                stored.save(update_fields=["token", "token_secret"])
                tokens += 1
            for authenticator in Authenticator.objects.select_for_update():
                data = dict(authenticator.data)
                fields = [name for name in AUTHENTICATOR_SECRETS if data.get(name)]
                for name in fields:
                    data[name] = reencrypt(data[name])
                if fields:
                    authenticator.data = data
                    authenticator.save(update_fields=["data"])
                    authenticators += 1
        self.stdout.write(f"Re-encrypted {tokens} upstream token(s) and {authenticators} authenticator secret(s).")
