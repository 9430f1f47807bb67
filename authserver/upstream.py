"""The upstream tokens of people who signed in through an identity provider: stored encrypted when
they sign in, handed to tools (common/upstream.py names this module's source in the
`UPSTREAM_TOKEN_SOURCE` setting), refreshed when they expire.

They live in allauth's own `SocialToken` table, written here with Fernet ciphertext in its
`token` (access token) and `token_secret` (refresh token) columns. allauth itself never writes
there: `SOCIALACCOUNT_STORE_TOKENS` is off, because it would store them in clear.

The refresh request is built by oauthlib (the OAuth library django-oauth-toolkit rests on) and
its answer parsed by the provider's own allauth adapter; the HTTP goes through allauth's
requests session (`SocialAccountAdapter.get_requests_session`), the extension point tests use
for the providers they cannot reach.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import requests
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialLogin, SocialToken
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from oauthlib.oauth2 import WebApplicationClient

from common import audit
from common.upstream import UpstreamToken, UpstreamTokenUnavailable, decrypt, encrypt

logger = logging.getLogger("authserver")

# A token this close to its expiry is refreshed first, so that it does not expire on its way.
EXPIRY_MARGIN = timedelta(seconds=30)
ENDPOINTS_CACHE_SECONDS = 600


def remember(sociallogin: SocialLogin) -> None:
    """Store the upstream token of a completed sign-in (or link), encrypted; keep the refresh
    token already stored when the provider sent none this time (many send it only once)."""
    token = sociallogin.token
    account = sociallogin.account
    if token is None or not token.token or account.pk is None:
        return
    stored = SocialToken.objects.filter(account=account, app=None).first() or SocialToken(account=account)
    stored.token = encrypt(token.token)
    if token.token_secret:
        stored.token_secret = encrypt(token.token_secret)
    stored.expires_at = token.expires_at
    stored.save()


def _provider(provider_id: str):
    adapter = get_adapter()
    try:
        return adapter.get_provider(None, provider_id)
    except SocialApp.DoesNotExist as exc:
        raise UpstreamTokenUnavailable(f"The identity provider {provider_id!r} is no longer configured here.") from exc


def endpoints(provider_id: str) -> dict[str, str]:
    """The provider's token and user-info endpoints (from its discovery document for OpenID
    Connect), remembered for a few minutes."""
    key = f"upstream-endpoints:{provider_id}"
    found = cache.get(key)
    if found is None:
        oauth2 = _provider(provider_id).get_oauth2_adapter(None)
        try:
            found = {
                "token": oauth2.access_token_url,
                "userinfo": getattr(oauth2, "profile_url", "") or getattr(oauth2, "identity_url", ""),
                "basic_auth": "1" if oauth2.basic_auth else "",
            }
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise UpstreamTokenUnavailable(f"The identity provider {provider_id!r} cannot be reached.") from exc
        cache.set(key, found, ENDPOINTS_CACHE_SECONDS)
    return found


def refresh(stored: SocialToken) -> None:
    """Exchange the stored refresh token for a new access token (RFC 6749 §6), in place."""
    provider_id = stored.account.provider
    refresh_token = decrypt(stored.token_secret)
    if not refresh_token:
        raise UpstreamTokenUnavailable("Your sign-in at the identity provider has expired: sign in again.")
    provider = _provider(provider_id)
    app = provider.app
    where = endpoints(provider_id)
    client = WebApplicationClient(app.client_id)
    auth = None
    if where["basic_auth"]:
        auth = requests.auth.HTTPBasicAuth(app.client_id, app.secret)
        body = client.prepare_refresh_body(refresh_token=refresh_token)
    else:
        body = client.prepare_refresh_body(
            refresh_token=refresh_token, client_id=app.client_id, client_secret=app.secret
        )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    try:
        with get_adapter().get_requests_session() as session:
            answer = session.post(where["token"], data=body, headers=headers, auth=auth)
        data = answer.json() if answer.ok else {}
    except (requests.RequestException, ValueError) as exc:
        raise UpstreamTokenUnavailable(f"The identity provider {provider_id!r} cannot be reached.") from exc
    if "access_token" not in data:
        audit.event(
            "upstream_refresh_failed", user_id=stored.account.user_id, provider=provider_id, status=answer.status_code
        )
        raise UpstreamTokenUnavailable("Your sign-in at the identity provider has expired: sign in again.")
    fresh = provider.get_oauth2_adapter(None).parse_token(data)
    stored.token = encrypt(fresh.token)
    if fresh.token_secret:
        stored.token_secret = encrypt(fresh.token_secret)
    stored.expires_at = fresh.expires_at
    stored.save(update_fields=["token", "token_secret", "expires_at"])
    audit.event("upstream_token_refreshed", user_id=stored.account.user_id, provider=provider_id)


def expired(stored: SocialToken) -> bool:
    return stored.expires_at is not None and stored.expires_at <= timezone.now() + EXPIRY_MARGIN


class StoredUpstreamTokens:
    """The `UPSTREAM_TOKEN_SOURCE` of this server: the tokens stored at sign-in."""

    def token_for(self, user_id: int, provider: str | None = None) -> UpstreamToken:
        accounts = SocialAccount.objects.filter(user_id=user_id, user__is_active=True)
        if provider:
            accounts = accounts.filter(provider=provider)
        account = accounts.filter(socialtoken__isnull=False).order_by("-last_login").first()
        if account is None:
            raise UpstreamTokenUnavailable(
                "You did not sign in to this server through an identity provider"
                + (f" ({provider})" if provider else "")
                + ", so there is no token to act for you there."
            )
        with transaction.atomic():
            # One refresh at a time per account: providers that rotate refresh tokens would
            # refuse the second of two parallel refreshes.
            stored = (
                SocialToken.objects.select_for_update()
                .select_related("account")
                .get(pk=SocialToken.objects.filter(account=account).order_by("-pk").values("pk")[:1])
            )
            if expired(stored):
                refresh(stored)
        return UpstreamToken(
            provider=account.provider,
            access_token=decrypt(stored.token),
            expires_at=stored.expires_at,
            userinfo_url=endpoints(account.provider)["userinfo"],
        )
