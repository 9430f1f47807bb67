"""Client authentication with a signed JWT: RFC 7523 §2.2 and §3 (`private_key_jwt`), with the
audience rule of the 7523bis draft.

A client sends `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
and a `client_assertion` it signed with its private key. The assertion is accepted only if:

- it is signed with an algorithm of settings.CLIENT_ASSERTION_ALGORITHMS (RS256, PS256, ES256,
  EdDSA) — the allowlist, never the header's word: `none` and HMAC algorithms (whose "secret"
  would be the client's public key) never verify — and with the algorithm the client registered,
  if it registered one;
- its signature verifies with the client's key named by `kid` (client_keys.py);
- `iss` and `sub` are both the client id;
- `aud` is this server's issuer identifier, or its token endpoint URL, and nothing else;
- `exp` is present, not past, and at most CLIENT_ASSERTION_MAX_LIFETIME seconds ahead; `iat` and
  `nbf`, when present, are not in the future (CLIENT_ASSERTION_LEEWAY seconds of skew allowed);
- its `jti` has not been used before: the first use is recorded in the database (a unique
  constraint, so two workers or replicas racing with one assertion cannot both win) and kept
  until the assertion expires.

Signatures and claims are checked by PyJWT (with `cryptography`); written here is only the policy
above, which no library applies for an authorization server (DOT 3.4 has no RFC 7523).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from . import client_keys
from .models import UsedClientAssertion

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_JTI_LENGTH = 255
REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "jti"]


class AssertionRefused(Exception):
    """The assertion failed `rule`; `description` says so to the client (the OAuth error's
    error_description), `detail` adds what only the audit trail should hear."""

    def __init__(self, rule: str, description: str, detail: str = "") -> None:
        super().__init__(description)
        self.rule = rule
        self.description = description
        self.detail = detail


def token_endpoint_url() -> str:
    return settings.ISSUER + reverse("oauth2_provider:token")


def accepted_audiences() -> list[str]:
    """The issuer identifier (RFC 7523bis), and the token endpoint URL older clients send."""
    return [settings.ISSUER, token_endpoint_url()]


NOT_A_JWT = "The client_assertion is not a signed JWT (RFC 7519)"


def claimed_client_id(assertion: str) -> str | None:
    """The `iss` an assertion claims, read without verifying anything: only to find which
    client's keys to verify it with, when the request names no client_id."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AssertionRefused("format", NOT_A_JWT, str(exc)) from exc
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


def asserted_client_id(assertion_type: str | None, assertion: str | None, named: str | None) -> str:
    """The client an assertion request is for: the client_id it names, which must be the
    assertion's issuer (one client cannot present another's assertion, RFC 7523 §3), or the
    issuer alone when the request names none. AssertionRefused when the request is malformed."""
    if assertion_type != ASSERTION_TYPE or not assertion:
        raise AssertionRefused(
            "client_assertion_type",
            f"A client assertion needs client_assertion_type={ASSERTION_TYPE} and a client_assertion",
        )
    claimed = claimed_client_id(assertion)
    if named and claimed != named:
        raise AssertionRefused("iss", f"The client_assertion was issued by {claimed!r}, not by the client {named}")
    if not (named or claimed):
        raise AssertionRefused("iss", "The client_assertion names no issuer (iss), and the request no client_id")
    return named or claimed


def verify(assertion: str, client) -> dict[str, Any]:
    """The claims of `client`'s assertion, or AssertionRefused naming the rule it fails."""
    algorithm, kid = _header(assertion, client)
    try:
        key = client_keys.key_for(client, kid, algorithm)
    except client_keys.KeyProblem as problem:
        raise AssertionRefused(problem.rule, problem.description, problem.detail) from problem
    claims = _decode(assertion, key, algorithm, client.client_id)
    _check_claims(claims, client.client_id)
    if not record_use(client.client_id, claims["jti"], claims["exp"]):
        raise AssertionRefused(
            "jti", "This client_assertion was used before (its jti is recorded): sign a new one for each request"
        )
    return claims


def _header(assertion: str, client) -> tuple[str, str | None]:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise AssertionRefused("format", NOT_A_JWT, str(exc)) from exc
    algorithm = header.get("alg")
    allowed = client_keys.allowed_algorithms()
    if algorithm not in allowed:
        raise AssertionRefused(
            "alg",
            f"The client_assertion is signed with alg {algorithm!r}; this server accepts only {', '.join(allowed)} "
            "(never none or an HMAC algorithm)",
        )
    registered = client.token_endpoint_auth_signing_alg
    if registered and algorithm != registered:
        raise AssertionRefused(
            "alg",
            f"This client registered token_endpoint_auth_signing_alg {registered}; the assertion uses {algorithm}",
        )
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise AssertionRefused("kid", "The client_assertion's kid must be a string")
    return algorithm, kid


def _decode(assertion: str, key: jwt.PyJWK, algorithm: str, client_id: str) -> dict[str, Any]:
    try:
        return jwt.decode(
            assertion,
            key,
            algorithms=[algorithm],
            issuer=client_id,
            leeway=settings.CLIENT_ASSERTION_LEEWAY,
            # aud is checked below: exactly one accepted value, which PyJWT's any-of match does not say.
            options={"require": REQUIRED_CLAIMS, "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        raise decoding_refusal(exc, client_id) from exc


# PyJWT's refusals (the most specific first): the rule each breaks, and what the client is told.
DECODING_REFUSALS: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (jwt.ExpiredSignatureError, "exp", "The client_assertion has expired (its exp is in the past)"),
    (jwt.ImmatureSignatureError, "iat/nbf", "The client_assertion is not valid yet (its iat or nbf is in the future)"),
    (jwt.InvalidIssuerError, "iss", "The client_assertion's iss must be the client id {client_id}"),
    (jwt.InvalidSignatureError, "signature", "The client_assertion's signature does not verify with the client's key"),
)


def decoding_refusal(exc: jwt.PyJWTError, client_id: str) -> AssertionRefused:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return AssertionRefused(exc.claim, f"The client_assertion has no {exc.claim} claim (RFC 7523 §3)")
    for kind, rule, description in DECODING_REFUSALS:
        if isinstance(exc, kind):
            return AssertionRefused(rule, description.format(client_id=client_id))
    return AssertionRefused("format", f"The client_assertion could not be read: {exc}")


def _check_claims(claims: dict[str, Any], client_id: str) -> None:
    if claims["sub"] != client_id:
        raise AssertionRefused("sub", f"The client_assertion's sub must be the client id {client_id}")
    audience = claims["aud"]
    values = audience if isinstance(audience, list) else [audience]
    if len(values) != 1 or values[0] not in accepted_audiences():
        raise AssertionRefused(
            "aud",
            f"The client_assertion's aud must be this server's issuer {settings.ISSUER} (or its token endpoint "
            f"{token_endpoint_url()}), and nothing else",
        )
    ahead = claims["exp"] - time.time()
    if ahead > settings.CLIENT_ASSERTION_MAX_LIFETIME + settings.CLIENT_ASSERTION_LEEWAY:
        raise AssertionRefused(
            "exp",
            f"The client_assertion's exp is {int(ahead)} seconds ahead; at most "
            f"{settings.CLIENT_ASSERTION_MAX_LIFETIME} are accepted",
        )
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise AssertionRefused(
            "jti", f"The client_assertion's jti must be a string of 1 to {MAX_JTI_LENGTH} characters"
        )


def record_use(client_id: str, jti: str, exp: float) -> bool:
    """Record the first use of (client, jti); False when it was recorded already (a replay).

    The unique constraint decides, so it holds across workers and replicas: of two concurrent
    inserts the second waits for the first to commit and then fails. A record is kept until its
    assertion has expired (with the clock skew), then pruned (prune_clients) or replaced here."""
    key = hashlib.sha256(f"{client_id}\0{jti}".encode()).hexdigest()
    expires = datetime.fromtimestamp(exp, UTC) + timedelta(seconds=settings.CLIENT_ASSERTION_LEEWAY)
    try:
        with transaction.atomic():  # a savepoint: the token request's transaction survives a replay
            UsedClientAssertion.objects.filter(key=key, expires_at__lt=timezone.now()).delete()
            UsedClientAssertion.objects.create(key=key, client_id=client_id[:255], expires_at=expires)
    except IntegrityError:
        return False
    return True
