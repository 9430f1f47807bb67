"""How long browsers keep the favicon (frontpage/root/favicon.ico, which WhiteNoise serves at
/favicon.ico: WHITENOISE_ROOT). It has no hash in its name, so WhiteNoise's default is a minute;
browsers ask for it with every page, and it changes only with a release."""

from __future__ import annotations

from collections.abc import MutableMapping

FAVICON_MAX_AGE = 86400


def add_headers(headers: MutableMapping[str, str], path: str, url: str) -> None:
    """WHITENOISE_ADD_HEADERS_FUNCTION: a day for the favicon, the defaults for everything else."""
    if url == "/favicon.ico":
        headers["Cache-Control"] = f"public, max-age={FAVICON_MAX_AGE}"
