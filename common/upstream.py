"""A person's access token at the identity provider they signed in with (their "upstream" token),
as tools get it, and how it is kept encrypted at rest.

The authorization server stores the token when the person signs in through a provider and
refreshes it (authserver/upstream.py); the resource server's tools ask for it through
`current_user().upstream_token()` (mcpserver/identity.py). Neither imports the other: the source
is named by the `UPSTREAM_TOKEN_SOURCE` setting and loaded here.

Encryption is `cryptography`'s Fernet (AES-128-CBC with HMAC-SHA256), through MultiFernet so
that keys rotate: `UPSTREAM_TOKEN_KEYS` lists them, the first encrypts, every one decrypts, and
`manage.py rotate_upstream_tokens` re-encrypts the stored tokens with the first.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils.module_loading import import_string


class UpstreamTokenUnavailable(Exception):
    """There is no usable upstream token for this person; the message says why, for the user."""


@dataclass(frozen=True)
class UpstreamToken:
    """A live access token at the provider the person signed in with. Use it to call the
    provider's APIs on their behalf; never hand it to the MCP client."""

    provider: str  # the provider's id: "sso" (OpenID Connect), "github", "google", or an admin-configured one
    access_token: str
    expires_at: datetime | None  # None: the provider did not say (GitHub's OAuth app tokens do not expire)
    userinfo_url: str  # the provider's user-info endpoint (OpenID Connect userinfo, GitHub's /user)

    def __repr__(self) -> str:  # a token must not reach a log by accident
        return f"UpstreamToken(provider={self.provider!r}, expires_at={self.expires_at!r})"

    @property
    def authorization(self) -> str:
        """The `Authorization` header value for the provider's APIs."""
        return f"Bearer {self.access_token}"


class UpstreamTokenSource(Protocol):
    def token_for(self, user_id: int, provider: str | None = None) -> UpstreamToken:
        """The live upstream access token of user `user_id` (of `provider`, or the one they last
        signed in with), refreshed if it expired; raises UpstreamTokenUnavailable."""
        ...


def token_source() -> UpstreamTokenSource:
    path = getattr(settings, "UPSTREAM_TOKEN_SOURCE", "")
    if not path:
        raise UpstreamTokenUnavailable("This server keeps no identity-provider sign-ins, so it has no upstream token.")
    return _load(path)()


@cache
def _load(path: str) -> type:
    return import_string(path)


# --- Encryption at rest ---------------------------------------------------------------------
def _derived_key(secret: str) -> bytes:
    """A Fernet key derived from SECRET_KEY, for deployments that set no UPSTREAM_TOKEN_KEYS."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mcp-django-auth upstream tokens")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


def cipher() -> MultiFernet:
    keys = list(getattr(settings, "UPSTREAM_TOKEN_KEYS", []) or [])
    return _cipher(tuple(keys) or (_derived_key(settings.SECRET_KEY).decode(),))


@cache
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(value: str) -> str:
    return cipher().encrypt(value.encode()).decode() if value else ""


def decrypt(value: str) -> str:
    """The clear text of `value`; raises UpstreamTokenUnavailable when no key opens it (a key was
    removed before the stored tokens were re-encrypted)."""
    if not value:
        return ""
    try:
        return cipher().decrypt(value.encode()).decode()
    except InvalidToken as exc:
        raise UpstreamTokenUnavailable("Your stored sign-in can no longer be read: sign in again.") from exc


def reencrypt(value: str) -> str:
    """`value` encrypted with the first key (MultiFernet.rotate), for key rotation."""
    return cipher().rotate(value.encode()).decode() if value else ""
