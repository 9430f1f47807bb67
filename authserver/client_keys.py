"""Clients' public keys (a JWK Set, RFC 7517) for private_key_jwt client authentication.

A client's keys are either stored with it (`client_jwks`: pasted by an administrator, sent at
registration, or inline in its metadata document) or published at its `client_jwks_uri`. A
published set is fetched through the same replaceable, SSRF-safe fetcher as client metadata
documents (settings.CLIENT_DOCUMENT_FETCHER: https only, public addresses only, size cap,
timeout) and kept in the shared cache for the max-age the fetcher reports, so every worker and
replica uses one copy. An assertion naming a key id the cached set lacks refetches it once
(the client rotated its keys), and at most once per CLIENT_JWKS_REFETCH_SECONDS.

Keys are parsed and used by PyJWT (with `cryptography`); nothing here checks a signature.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string
from jwt import PyJWK
from jwt.exceptions import PyJWKError
from oauth2_provider.cimd import CIMDError
from oauth2_provider.settings import oauth2_settings

logger = logging.getLogger("authserver")

# Which key type (and curve) each allowed algorithm needs.
KEY_TYPES: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),
}
# Members that only a private (or symmetric) key has: a JWKS holding them has leaked its secret.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
CACHE_PREFIX = "authserver:client-jwks:"


class KeyProblem(Exception):
    """No key could be found or fetched; `rule` names what failed (for the audit trail)."""

    def __init__(self, rule: str, description: str, detail: str = "") -> None:
        super().__init__(description)
        self.rule = rule
        self.description = description
        self.detail = detail  # for the audit trail only (e.g. why a fetch failed)


def allowed_algorithms() -> list[str]:
    return [alg for alg in settings.CLIENT_ASSERTION_ALGORITHMS if alg in KEY_TYPES]


def _problem_with_key(key: Any) -> str | None:
    if not isinstance(key, dict):
        return "is not a JSON object"
    if PRIVATE_MEMBERS & key.keys():
        return "holds private key material: publish public keys only"
    if key.get("kty") not in {"RSA", "EC", "OKP"}:
        return f"has kty {key.get('kty')!r}; only RSA, EC and OKP (Ed25519) keys can verify client assertions"
    if "alg" in key and key["alg"] not in allowed_algorithms():
        return f"has alg {key['alg']!r}; allowed: {', '.join(allowed_algorithms())}"
    if "kid" in key and not isinstance(key["kid"], str):
        return "has a kid that is not a string"
    try:
        PyJWK(key, algorithm=key.get("alg") or _default_algorithm(key))
    except (PyJWKError, ValueError, TypeError, KeyError) as exc:
        return f"is not a valid public key ({exc})"
    return None


def _default_algorithm(key: dict) -> str | None:
    for algorithm, (kty, crv) in KEY_TYPES.items():
        if key.get("kty") == kty and (crv is None or key.get("crv") == crv):
            return algorithm
    return None


def signing_keys(jwks: Any) -> list[dict]:
    """The signature-verification keys of a JWKS (a JSON object or its text).

    Raises ValueError, with a message for a person, when the set is malformed, holds private key
    material, has no usable signing key, or repeats a key id. Keys marked for encryption
    (`"use": "enc"`) are left out rather than refused.
    """
    if isinstance(jwks, str):
        try:
            jwks = json.loads(jwks)
        except ValueError as exc:
            raise ValueError("The JWKS is not valid JSON") from exc
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError('A JWKS is a JSON object with a "keys" array (RFC 7517 §5)')
    keys = []
    for number, key in enumerate(jwks["keys"], start=1):
        if isinstance(key, dict) and key.get("use", "sig") != "sig":
            continue
        problem = _problem_with_key(key)
        if problem:
            raise ValueError(f"Key #{number} of the JWKS {problem}")
        keys.append(key)
    if not keys:
        raise ValueError("The JWKS has no signing key")
    kids = [key["kid"] for key in keys if "kid" in key]
    if len(kids) != len(set(kids)):
        raise ValueError("Two keys of the JWKS have the same kid")
    return keys


def select_key(keys: list[dict], kid: str | None, algorithm: str) -> PyJWK | None:
    """The key of `keys` that verifies `algorithm` under `kid`; None when there is none.

    Without a kid, the one key usable with the algorithm is taken; when several are, the
    assertion must say which (KeyProblem)."""
    kty, crv = KEY_TYPES[algorithm]
    usable = [
        key
        for key in keys
        if key.get("kty") == kty and (crv is None or key.get("crv") == crv) and key.get("alg", algorithm) == algorithm
    ]
    if kid is not None:
        usable = [key for key in usable if key.get("kid") == kid]
    elif len(usable) > 1:
        raise KeyProblem(
            "kid", "The client's JWKS has several keys for this algorithm: the assertion must name one (kid)"
        )
    if not usable:
        return None
    return PyJWK(usable[0], algorithm=algorithm)


# --- Published key sets: fetched through the one egress point, cached in the shared cache ---------------
def _cache_key(kind: str, uri: str) -> str:
    return CACHE_PREFIX + kind + ":" + hashlib.sha256(uri.encode("utf-8")).hexdigest()


def document_fetcher():
    """The fetcher every client document comes through (metadata documents and JWKS alike)."""
    return import_string(settings.CLIENT_DOCUMENT_FETCHER)()


def _fetch(uri: str) -> tuple[list[dict], int]:
    document, max_age = document_fetcher().fetch(uri)
    return signing_keys(document), max_age


def jwks_uri_check(uri: str) -> str | None:
    """Fetch the JWKS at `uri` now (an administrator saving a client): what is wrong with it, or None."""
    try:
        keys, max_age = _fetch(uri)
    except (CIMDError, ValueError) as exc:
        return f"{unreachable_description(uri)}. Fetching it said: {exc}"
    cache.set(_cache_key("keys", uri), keys, max(1, int(max_age)))
    cache.delete(_cache_key("failed", uri))
    return None


def fetch_keys(uri: str) -> list[dict]:
    """Fetch the JWKS at `uri` and keep it in the shared cache for the max-age the fetcher reports."""
    failed = cache.get(_cache_key("failed", uri))
    if failed:
        raise KeyProblem("jwks_uri", unreachable_description(uri), detail=f"fetched recently and failed: {failed}")
    try:
        keys, max_age = _fetch(uri)
    except (CIMDError, ValueError) as exc:
        # Not retried for a while: every retry would be an outbound request on a client's behalf.
        cache.set(_cache_key("failed", uri), str(exc)[:200], settings.CLIENT_JWKS_REFETCH_SECONDS)
        raise KeyProblem("jwks_uri", unreachable_description(uri), detail=str(exc)) from exc
    cache.set(_cache_key("keys", uri), keys, max(1, int(max_age)))
    return keys


def unreachable_description(uri: str) -> str:
    return (
        f"The client's JWKS at {uri} could not be used: it must be served over https from a public address, "
        f"as a JSON Web Key Set of at most {oauth2_settings.CIMD_MAX_DOCUMENT_SIZE} bytes with a signing key"
    )


def key_for(client, kid: str | None, algorithm: str) -> PyJWK:
    """The client's public key for an assertion's `kid` and algorithm, or KeyProblem saying why not."""
    if client.client_jwks:
        try:
            keys = signing_keys(client.client_jwks)
        except ValueError as exc:
            raise KeyProblem("jwks", f"The client's registered JWKS cannot be used: {exc}") from exc
        key = select_key(keys, kid, algorithm)
        if key is None:
            raise KeyProblem("kid", unknown_key_description(kid, algorithm, "registered JWKS"))
        return key
    uri = client.client_jwks_uri
    if not uri:
        raise KeyProblem("jwks", "The client has no public keys registered (jwks or jwks_uri)")
    keys = cache.get(_cache_key("keys", uri))
    fetched_now = keys is None
    if fetched_now:
        keys = fetch_keys(uri)
    key = select_key(keys, kid, algorithm)
    if key is not None:
        return key
    # An unknown key id: the client may have rotated its keys. Refetch once, and not more often
    # than the floor, so that made-up key ids cannot turn this server into a request cannon.
    if fetched_now or not refetch_allowed(uri):
        raise KeyProblem("kid", unknown_key_description(kid, algorithm, f"JWKS at {uri}"))
    logger.info("refetching the JWKS at %s for an unknown key id", uri)
    key = select_key(fetch_keys(uri), kid, algorithm)
    if key is None:
        raise KeyProblem("kid", unknown_key_description(kid, algorithm, f"JWKS at {uri} (fetched again)"))
    return key


def refetch_allowed(url: str) -> bool:
    """Whether a document may be fetched again now for an unknown key id (once per floor, shared
    by every worker and replica)."""
    return cache.add(_cache_key("refetched", url), True, settings.CLIENT_JWKS_REFETCH_SECONDS)


def unknown_key_description(kid: str | None, algorithm: str, where: str) -> str:
    named = f"with kid {kid!r} " if kid is not None else ""
    return f"No {algorithm} key {named}in the client's {where}"
