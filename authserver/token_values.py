"""Access and refresh token values (django-oauth-toolkit's ACCESS_TOKEN_GENERATOR, and the refresh
grant's lean path): 30 characters of A-Z, a-z and 0-9, the shape oauthlib's `generate_token` gives
them, from one read of the operating system's random source. oauthlib's draws from it once per
character, 60 reads per grant, which cost about a millisecond of CPU per grant here."""

from __future__ import annotations

import secrets

from oauthlib.common import UNICODE_ASCII_CHARACTER_SET as ALPHABET

LENGTH = 30  # about 178 bits
# Bytes at or above this are dropped, so that every character is equally likely (248 = 4 × 62).
UNBIASED_BELOW = 256 - 256 % len(ALPHABET)


def new_token(request=None, refresh_token: bool = False) -> str:
    """A new token value (the signature oauthlib calls token generators with)."""
    chars: list[str] = []
    while len(chars) < LENGTH:
        chars += [ALPHABET[byte % len(ALPHABET)] for byte in secrets.token_bytes(2 * LENGTH) if byte < UNBIASED_BELOW]
    return "".join(chars[:LENGTH])
