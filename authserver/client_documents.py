"""How a client says it will authenticate at the token endpoint, in a Client ID Metadata Document
(CIMD, a URL client id) or an RFC 7591 registration, and the CIMD fetcher that admits
`private_key_jwt` documents.

django-oauth-toolkit 3.4 builds URL clients from their documents itself (`oauth2_provider.cimd`)
and admits only `token_endpoint_auth_method: "none"`. Its documented way to apply site policy is
the fetcher (`CIMD_METADATA_FETCHER`), so `ClientDocumentFetcher` is that fetcher:

1. it fetches through settings.CLIENT_DOCUMENT_FETCHER (DOT's SSRF-safe fetcher unless replaced:
   the one egress point, also used for client JWKS);
2. it applies this server's rule: `none`, or `private_key_jwt` with exactly one of `jwks_uri`
   and `jwks` (a valid JWKS); shared-secret methods are refused (the CIMD draft forbids them);
3. it hands DOT the document with the method DOT accepts, and keeps what the document declared
   for the client row DOT is about to save (`Client.save` takes it, in the same call, within the
   validator's `resolving()` span), so the row is never saved without it.

A refused document is remembered in the shared cache for DOT's failure backoff, so that the
authorization page and the token endpoint can say why the client is unknown.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import cache
from oauth2_provider.cimd import CIMDError
from oauth2_provider.models import AbstractApplication
from oauth2_provider.settings import oauth2_settings

from common import audit

from . import client_keys

PRIVATE_KEY_JWT = "private_key_jwt"
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
URL_CLIENT_METHODS = ("none", PRIVATE_KEY_JWT)
MAX_JWKS_URI_LENGTH = 500
REFUSED_PREFIX = "authserver:client-document-refused:"


class MetadataProblem(ValueError):
    """Client metadata this server will not register; the message says why, for the developer."""


@dataclass(frozen=True)
class ClientAuthentication:
    """How a client authenticates at the token endpoint, with its keys for private_key_jwt."""

    method: str
    jwks_uri: str = ""
    jwks: str = ""  # JSON text of the JWKS
    signing_alg: str = ""

    def apply_to(self, client) -> None:
        client.token_endpoint_auth_method = self.method
        client.client_jwks_uri = self.jwks_uri
        client.client_jwks = self.jwks
        client.token_endpoint_auth_signing_alg = self.signing_alg
        if self.method == PRIVATE_KEY_JWT:
            client.client_type = AbstractApplication.CLIENT_CONFIDENTIAL  # it does authenticate


def client_authentication(metadata: dict[str, Any], default: str, methods: tuple[str, ...]) -> ClientAuthentication:
    """The authentication that client `metadata` (RFC 7591 names) declares, or MetadataProblem."""
    method = metadata.get("token_endpoint_auth_method", default)
    if method in SECRET_METHODS and method not in methods:
        raise MetadataProblem(
            f"token_endpoint_auth_method {method} needs a shared secret, which a client identified by its "
            f"metadata document cannot have: use {' or '.join(methods)}"
        )
    if method not in methods:
        raise MetadataProblem(f"token_endpoint_auth_method must be one of {', '.join(methods)}, not {method!r}")
    if method != PRIVATE_KEY_JWT:
        return ClientAuthentication(method)
    jwks_uri, jwks = metadata.get("jwks_uri"), metadata.get("jwks")
    if (jwks_uri is None) == (jwks is None):
        raise MetadataProblem(
            "token_endpoint_auth_method private_key_jwt needs the client's public keys: jwks_uri or jwks, "
            "exactly one of them (RFC 7591 §2)"
        )
    signing_alg = metadata.get("token_endpoint_auth_signing_alg", "")
    allowed = client_keys.allowed_algorithms()
    if signing_alg and signing_alg not in allowed:
        raise MetadataProblem(f"token_endpoint_auth_signing_alg must be one of {', '.join(allowed)}")
    if jwks_uri is not None:
        problem = jwks_uri_problem(jwks_uri)
        if problem:
            raise MetadataProblem(problem)
        return ClientAuthentication(method, jwks_uri=jwks_uri, signing_alg=signing_alg)
    if not isinstance(jwks, dict):
        raise MetadataProblem('jwks must be a JSON Web Key Set object ({"keys": [...]})')
    try:
        client_keys.signing_keys(jwks)
    except ValueError as exc:
        raise MetadataProblem(f"jwks: {exc}") from exc
    return ClientAuthentication(method, jwks=json.dumps(jwks), signing_alg=signing_alg)


def jwks_uri_problem(uri: Any) -> str | None:
    """Why `uri` cannot be a client's JWKS URL (checked again by the fetcher when used); None if it can."""
    if not isinstance(uri, str) or len(uri) > MAX_JWKS_URI_LENGTH:
        return f"jwks_uri must be an https URL of at most {MAX_JWKS_URI_LENGTH} characters"
    parts = urlsplit(uri)
    if parts.scheme != "https" or not parts.hostname or parts.fragment or parts.username or parts.password:
        return f"jwks_uri must be an https URL with a host, without a fragment or user info, not {uri!r}"
    return None


# --- URL clients (CIMD) ----------------------------------------------------------------------------
# What the documents fetched while the validator resolves a URL client declared, by client id, for
# the Client row DOT saves next in the same call. Outside `resolving()` there is none.
_pending: ContextVar[dict[str, ClientAuthentication] | None] = ContextVar("pending_client_documents", default=None)


@contextmanager
def resolving() -> Iterator[None]:
    """The span in which django-oauth-toolkit may fetch a URL client's document and save its row
    (the validator's `_load_application`); nothing declared leaks out of it."""
    token = _pending.set({})
    try:
        yield
    finally:
        _pending.reset(token)


def take_pending(client_id: str) -> ClientAuthentication | None:
    """What the document of `client_id`, fetched in this span, declared (once; None otherwise)."""
    pending = _pending.get()
    return pending.pop(client_id, None) if pending is not None else None


def _refused_key(client_id: str) -> str:
    return REFUSED_PREFIX + hashlib.sha256(client_id.encode("utf-8")).hexdigest()


def refusal_of(client_id: str | None) -> str | None:
    """Why the metadata document of URL client `client_id` was refused lately, in a sentence for
    its developer; None if it was not."""
    if not client_id or not client_id.startswith("https://"):
        return None
    reason = cache.get(_refused_key(client_id))
    return f"The client metadata document at {client_id} was refused: {reason}" if reason else None


class ClientDocumentFetcher:
    """django-oauth-toolkit's CIMD_METADATA_FETCHER, with this server's document policy."""

    def fetch(self, client_id: str) -> tuple[dict[str, Any], int]:
        document, max_age = client_keys.document_fetcher().fetch(client_id)
        if not isinstance(document, dict):
            raise CIMDError("client_id document must be a JSON object")
        if "client_secret" in document or "client_secret_expires_at" in document:
            self.refuse(client_id, "a client metadata document must not carry a client_secret")
        try:
            authentication = client_authentication(document, default="none", methods=URL_CLIENT_METHODS)
        except MetadataProblem as problem:
            self.refuse(client_id, str(problem))
        pending = _pending.get()
        if pending is None:
            # Resolved outside the validator: the row could not be marked, so only what DOT
            # itself admits (public clients) may pass.
            if authentication.method != "none":
                raise CIMDError(f"{authentication.method} documents are resolved only by the token validator")
        else:
            pending[client_id] = authentication
        return {**document, "token_endpoint_auth_method": "none"}, max_age

    @staticmethod
    def refuse(client_id: str, reason: str) -> None:
        cache.set(_refused_key(client_id), reason, oauth2_settings.CIMD_FAILURE_BACKOFF_SECONDS)
        audit.event("client_document_refused", client_id=client_id, reason=reason)
        raise CIMDError(reason)


def jwks_problem(jwks: str) -> str | None:
    """Why a pasted JWKS cannot verify client assertions; None if it can."""
    try:
        client_keys.signing_keys(jwks)
    except ValueError as exc:
        return str(exc)
    return None
