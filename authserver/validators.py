"""django-oauth-toolkit's request validator, extended (through OAUTH2_VALIDATOR_CLASS) with what
an MCP authorization server needs and DOT 3.4 does not do by itself:

- every grant and token is bound to a resource this server serves (RFC 8707), never unbound;
- concurrent redemptions of one code or one refresh token are serialised, so at most one wins;
- a replayed code revokes what its first redemption issued (RFC 6749 §4.1.2);
- a refresh token replayed just after a concurrent rotation is refused without revoking the
  family, a later replay revokes it (RFC 9700 §4.14.2);
- clients authenticate with a signed JWT (RFC 7523 private_key_jwt, `authserver.client_auth`)
  at the token and revocation endpoints, and a client registered for it may use nothing else;
- the authorization server's own scopes (`offline_access`) are accepted and dropped
  (`authserver.server_scopes`);
- security events go to the audit log.

The token view runs in a transaction (see `authserver.views.TokenView`), which the row locks
below rely on. Each grant costs a fixed, small number of SQL statements (docs/performance.md lists
them, tests/test_performance_paths.py counts them): the row a grant redeems is read once, locked,
with the rows it needs joined in, and kept on the oauthlib request for the validator methods that
DOT would have each run their own query for.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from datetime import datetime, timedelta

from cachetools import TTLCache
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from oauth2_provider import cimd
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749 import errors

from common import audit

from . import client_auth, client_keys
from .client_documents import refusal_of, resolving
from .hashers import upgrade_client_secret
from .models import Client, UsedAuthorizationCode
from .resources import bind_resources, canonical_resource
from .server_scopes import strip_from_scope_string, without_server_scopes


def checksum(value: str) -> str:
    """The SHA-256 hex digest DOT stores instead of a token (hashed storage)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def invalid_target(request, resources) -> errors.CustomOAuth2Error:
    served = ", ".join(sorted({settings.MCP_URL}))
    return errors.CustomOAuth2Error(
        error="invalid_target",
        description=f"This server issues tokens only for {served}, not for {' '.join(resources)}",
        request=request,
    )


# RFC 7636 §4.2: an S256 challenge is 43 characters of base64url; the spec allows up to 128 of
# the unreserved set. Anything else would only fail later, in the database (DOT's column is 128).
PKCE_CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
MAX_NONCE_LENGTH = 255  # DOT's column


def request_value_problem(code_challenge: str | None, nonce: str | None) -> str | None:
    """Why an authorization request's PKCE challenge or nonce cannot be stored; None if they can."""
    if code_challenge is not None and not PKCE_CHALLENGE.fullmatch(code_challenge):
        return "code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' or '~' (RFC 7636)"
    if nonce is not None and len(nonce) > MAX_NONCE_LENGTH:
        return f"nonce must be at most {MAX_NONCE_LENGTH} characters"
    return None


# "Last used" is shown to people at a minute's precision; writing it on every grant would add a
# row write (and its lock) to the hottest path of a busy client for no one's benefit.
LAST_USED_PRECISION = timedelta(minutes=1)
# The clients whose use this process recorded within LAST_USED_PRECISION (self-registered
# clients come and go: bounded, least recently used out first).
_last_noted_lock = threading.Lock()
_last_noted: TTLCache[str, bool] = TTLCache(maxsize=10_000, ttl=LAST_USED_PRECISION.total_seconds())


def client_use_due(client_id: str) -> datetime | None:
    """The time to record as a client's last use, if this process has not recorded one within
    LAST_USED_PRECISION (then it counts as recorded); None otherwise. (Called on Django's threads
    and on the lean refresh path's event loop, hence the lock.)"""
    with _last_noted_lock:
        if client_id in _last_noted:
            return None
        _last_noted[client_id] = True
    return timezone.now()


def note_client_use(client) -> None:
    now = client_use_due(client.client_id)
    if now is not None:
        Client.objects.filter(pk=client.pk).update(last_used_at=now)


def _refresh_event(event: str, client, token, reason: str) -> None:
    audit.event(event, client_id=getattr(client, "client_id", None), user_id=token.user_id, reason=reason)


def assertion_presented(request) -> bool:
    """Whether the request carries RFC 7523 client assertion parameters (either of them)."""
    return bool(getattr(request, "client_assertion", None) or getattr(request, "client_assertion_type", None))


def refused(request, rule: str, description: str, client_id: str | None, detail: str = "") -> errors.InvalidClientError:
    """The invalid_client error (401) for a failed client authentication, with its audit line."""
    audit.event("client_authentication_failed", client_id=client_id, rule=rule, reason=detail or description)
    return errors.InvalidClientError(description=description, request=request)


class MCPOAuth2Validator(OAuth2Validator):
    def _load_application(self, client_id, request):
        # DOT may fetch a URL client's document here and save its row (authserver/client_documents.py).
        with resolving():
            return super()._load_application(client_id, request)

    # --- Client authentication: private_key_jwt (RFC 7523) beside DOT's secrets ----------------
    def _check_secret(self, provided_secret, stored_secret):
        if not super()._check_secret(provided_secret, stored_secret):
            return False
        upgrade_client_secret(provided_secret, stored_secret)  # a slow hash from before: now a fast one
        return True

    def client_authentication_required(self, request, *args, **kwargs):
        if assertion_presented(request):
            return True
        client_id = getattr(request, "client_id", None)
        if client_id and self._load_application(client_id, request) is not None and request.client.uses_private_key_jwt:
            return True
        return super().client_authentication_required(request, *args, **kwargs)

    def authenticate_client(self, request, *args, **kwargs):
        if assertion_presented(request):
            return self._authenticate_with_assertion(request)
        client_id = getattr(request, "client_id", None)
        client = self._load_application(client_id, request) if client_id else None
        if client is not None and client.uses_private_key_jwt:
            raise refused(
                request,
                "method",
                "This client authenticates with private_key_jwt: send client_assertion_type="
                f"{client_auth.ASSERTION_TYPE} and a client_assertion signed with its key",
                client_id,
            )
        if client is None and (refusal := refusal_of(client_id)):
            raise refused(request, "document", refusal, client_id)
        return super().authenticate_client(request, *args, **kwargs)

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        if self._load_application(client_id, request) is None and (refusal := refusal_of(client_id)):
            raise refused(request, "document", refusal, client_id)
        return super().authenticate_client_id(client_id, request, *args, **kwargs)

    def _authenticate_with_assertion(self, request) -> bool:
        assertion_type = getattr(request, "client_assertion_type", None)
        assertion = getattr(request, "client_assertion", None)
        named = getattr(request, "client_id", None)
        if {"client_assertion", "client_assertion_type"} & set(request.duplicate_params):
            raise refused(request, "duplicate", "client_assertion must be sent once", named)
        if self._extract_basic_auth(request) or getattr(request, "client_secret", None):
            raise refused(request, "one_method", "Authenticate with one method only: the assertion or a secret", named)
        try:
            client_id = client_auth.asserted_client_id(assertion_type, assertion, named)
        except client_auth.AssertionRefused as refusal:
            raise refused(request, refusal.rule, refusal.description, named) from refusal
        client = self._load_application(client_id, request)
        if client is None:
            description = refusal_of(client_id) or f"The client_assertion names no client known here ({client_id!r})"
            raise refused(request, "client", description, client_id)
        if not client.uses_private_key_jwt:
            raise refused(request, "method", "This client is not registered for private_key_jwt", client_id)
        try:
            client = self._verified(assertion, client, request)
        except client_auth.AssertionRefused as refusal:
            raise refused(request, refusal.rule, refusal.description, client_id, refusal.detail) from refusal
        request.client = client
        request.client_id = client.client_id
        return True

    def _verified(self, assertion: str, client, request):
        """The client, once its assertion verifies (with its keys fetched again if need be)."""
        try:
            client_auth.verify(assertion, client)
        except client_auth.AssertionRefused as refusal:
            rotated = self._document_with_new_keys(client, request) if refusal.rule == "kid" else None
            if rotated is None:
                raise
            client_auth.verify(assertion, rotated)
            return rotated
        return client

    def _document_with_new_keys(self, client, request):
        """A URL client with its keys inline in its document, fetched again because an assertion
        names a key it lacks (key rotation; once per CLIENT_JWKS_REFETCH_SECONDS). None when
        there is nothing to refetch, it is too soon, or the fetch failed."""
        if client.registration_source != Client.RegistrationSource.CIMD or not client.client_jwks:
            return None
        if not client_keys.refetch_allowed(client.client_id):
            return None
        client.cimd_expires_at = timezone.now() - timedelta(seconds=1)
        with resolving():
            refreshed = cimd.refresh_if_stale(client, request)
        return refreshed if refreshed is not client and refreshed.uses_private_key_jwt else None

    # --- The authorization server's own scopes (offline_access): accepted, then dropped ----------
    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        kept = without_server_scopes(scopes)
        if len(kept) != len(scopes):
            # oauthlib hands this same list on (the consent page, the code): drop them from it.
            scopes[:] = kept or self.get_default_scopes(client_id, request)
        return super().validate_scopes(client_id, scopes, client, request, *args, **kwargs)

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        # The last hook before oauthlib compares a refresh request's `scope` with the grant's.
        if getattr(request, "scope", None):
            request.scope = strip_from_scope_string(request.scope)
        return super().get_original_scopes(refresh_token, request, *args, **kwargs)

    # --- RFC 8707 -------------------------------------------------------------------------------
    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        problem = request_value_problem(getattr(request, "code_challenge", None), getattr(request, "nonce", None))
        if problem:
            raise errors.InvalidRequestError(description=problem, request=request)
        requested = list(getattr(request, "resource", None) or [])
        bound = bind_resources(requested)
        if bound is None:
            raise invalid_target(request, requested)
        request.resource = bound
        super().save_authorization_code(client_id, code, request, *args, **kwargs)

    def _check_and_set_request_resource(self, request):
        # DOT's method (private, hence the ~=3.4.1 pin) narrows to the grant's resources and
        # inherits them on refresh; canonicalise first so that `…/MCP/`-style spellings match,
        # and refuse anything this server does not serve.
        requested = [value for key, value in (getattr(request, "decoded_body", None) or []) if key == "resource"]
        if not requested and isinstance(getattr(request, "resource", None), str):
            requested = [request.resource]
        if requested:
            canonical = [canonical_resource(value) for value in requested]
            if None in canonical:
                raise invalid_target(request, requested)
            request.resource = list(dict.fromkeys(canonical))
        else:
            request.resource = []
        grant = self._grant(request.code, request) if request.grant_type == "authorization_code" else None
        if grant is not None:
            self._narrow_to_grant(request, grant)
        else:
            super()._check_and_set_request_resource(request)
        bound = bind_resources(request.resource)
        if bound is None:
            raise invalid_target(request, request.resource)
        request.resource = bound

    def _narrow_to_grant(self, request, grant) -> None:
        """DOT's resource narrowing for a code exchange, on the grant validate_code read (DOT
        would read it again): the token may name fewer resources than the grant, never others."""
        self._validate_resource_uris(request, request.resource)
        granted = grant.resource or []
        if request.resource and granted:
            for resource in request.resource:
                if resource not in granted:
                    raise errors.CustomOAuth2Error(
                        error="invalid_target",
                        description=f"The requested resource '{resource}' is not allowed. Token request cannot "
                        "escalate resource permissions beyond the original authorization grant",
                        request=request,
                    )
        elif granted:
            self._validate_resource_uris(request, granted)
            request.resource = granted

    # --- Authorization codes: one redemption, replay revokes ---------------------------------
    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        # One statement: the grant, locked (concurrent redemptions of one code run one at a time,
        # the later ones find it gone), with its user. DOT's own validate_code, the PKCE and
        # redirect URI checks and the resource narrowing would each read it again.
        grant = (
            get_grant_model()
            .objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(code=code, application=client)
            .first()
        )
        if grant is None:
            self._revoke_after_code_replay(code, client)
            return False
        request.redeemed_grant = grant
        # What DOT's validate_code does with the row it reads.
        if grant.is_expired():
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        return True

    def _grant(self, code: str, request):
        """The grant validate_code read for this request (None before it ran)."""
        grant = getattr(request, "redeemed_grant", None)
        return grant if grant is not None and grant.code == code else None

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, *args, **kwargs):
        request = args[0] if args else kwargs.get("request")
        grant = self._grant(code, request) if request is not None else None
        if grant is None:
            return super().confirm_redirect_uri(client_id, code, redirect_uri, client, *args, **kwargs)
        return grant.redirect_uri_allowed(redirect_uri)

    def get_code_challenge(self, code, request):
        grant = self._grant(code, request)
        return (grant.code_challenge or None) if grant else super().get_code_challenge(code, request)

    def get_code_challenge_method(self, code, request):
        grant = self._grant(code, request)
        return (grant.code_challenge_method or None) if grant else super().get_code_challenge_method(code, request)

    def _revoke_after_code_replay(self, code: str, client) -> None:
        used = UsedAuthorizationCode.objects.filter(code_checksum=checksum(code), application=client).first()
        if used is None:
            return
        if used.token_family:
            get_refresh_token_model().revoke_family(used.token_family)
        if used.access_token_checksum:
            get_access_token_model().objects.filter(token_checksum=used.access_token_checksum).delete()
        audit.event("code_replayed", client_id=client.client_id, reason="tokens issued from it revoked")

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
        UsedAuthorizationCode.objects.create(
            code_checksum=checksum(code),
            application=request.client,
            token_family=getattr(request, "issued_token_family", None),
            access_token_checksum=getattr(request, "issued_access_token_checksum", ""),
        )

    # --- Refresh tokens: serialised rotation, reuse detection with a race leeway -------------
    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        refresh_model = get_refresh_token_model()
        # One statement: every row with this checksum locked, so that concurrent rotations of one
        # token run one at a time and the later ones see it rotated; the live row first, with its
        # access token and user (DOT would read each again).
        rows = list(
            refresh_model.objects.select_for_update(of=("self",))
            .select_related("access_token", "user")
            .filter(token_checksum=checksum(refresh_token))
            .order_by(F("revoked").desc(nulls_first=True))[:1]
        )
        token = rows[0] if rows else None
        if token is not None and token.revoked is None:
            return self._live_refresh_token(token, refresh_token, client, request)
        leeway = settings.REFRESH_TOKEN_REUSE_LEEWAY
        if (
            token is not None
            and leeway > 0
            and token.revoked > timezone.now() - timedelta(seconds=leeway)
            and get_access_token_model().objects.filter(source_refresh_token=token).exists()
        ):
            _refresh_event(
                "refresh_race_refused", client, token, "rotated a moment ago by a concurrent request; family kept"
            )
            return False
        # Unknown or revoked: DOT decides (a rotated token presented again revokes its family).
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        if not valid and token is not None:
            _refresh_event(
                "refresh_reuse_detected", client, token, "rotated refresh token presented again; token family revoked"
            )
        return valid

    @staticmethod
    def _live_refresh_token(token, refresh_token: str, client, request) -> bool:
        """What DOT's validate_refresh_token decides for a token that is not revoked, on the row
        read above: it needs its access token, within REFRESH_TOKEN_EXPIRE_SECONDS of that
        token's expiry, and to belong to the client."""
        if token.access_token is None:
            return False
        expire_delta = refresh_token_expire_timedelta()
        if expire_delta and token.access_token.expires + expire_delta <= timezone.now():
            return False
        request.user = token.user
        request.refresh_token = refresh_token
        request.refresh_token_instance = token
        request.rotating_locked_token = token  # locked and live: _save_bearer_token rotates it
        return token.application_id == client.pk

    def _save_bearer_token(self, token, request, *args, **kwargs):
        previous = getattr(request, "rotating_locked_token", None)
        if (
            previous is None
            or previous is not getattr(request, "refresh_token_instance", None)
            or not self.rotate_refresh_token(request)
            or "scope" not in token
            or not token.get("refresh_token")
        ):
            return super()._save_bearer_token(token, request, *args, **kwargs)
        # DOT's rotation, on the row validate_refresh_token locked: DOT would lock and read it
        # again, look for an access token it already minted (a live token has none: rotation
        # revokes it in the same transaction) and revoke it through the ORM's delete collector.
        self._check_and_set_request_resource(request)
        expires = timezone.now() + timedelta(
            seconds=token.get("expires_in", oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
        )
        self._revoke_rotated(previous)
        request.refresh_token_instance = None
        access_token = self._create_access_token(expires, request, token, source_refresh_token=previous)
        self._create_refresh_token(request, token["refresh_token"], access_token, previous)

    @staticmethod
    def _revoke_rotated(previous) -> None:
        """RefreshToken.revoke() in two statements: the refresh token marked revoked (its link to
        the access token cleared), the access token deleted. Nothing else refers to the access
        token once the link is cleared, so the delete needs none of the collector's lookups."""
        now = timezone.now()
        get_refresh_token_model().objects.filter(pk=previous.pk).update(revoked=now, updated=now, access_token=None)
        if previous.access_token_id:
            table = connection.ops.quote_name(get_access_token_model()._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {table} WHERE id = %s", [previous.access_token_id])  # noqa: S608

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        created = super()._create_refresh_token(request, refresh_token_code, access_token, previous_refresh_token)
        # Remembered with a redeemed code, so that a replay of it can revoke the family.
        request.issued_token_family = created.token_family
        return created

    # --- Issuance bookkeeping --------------------------------------------------------------------
    def save_bearer_token(self, token, request, *args, **kwargs):
        # DOT wraps _save_bearer_token in a savepoint of its own; the token view's transaction
        # (views.TokenView) holds the whole grant, and a failure inside must undo all of it:
        # savepoint=False marks that transaction for rollback instead.
        with transaction.atomic(savepoint=False):
            result = self._save_bearer_token(token, request, *args, **kwargs)
        access = token.get("access_token")
        if access:
            request.issued_access_token_checksum = checksum(access)
        note_client_use(request.client)
        audit.event(
            "token_refreshed" if request.grant_type == "refresh_token" else "token_issued",
            client_id=request.client.client_id,
            user_id=getattr(request.user, "pk", None),
            scope=token.get("scope", ""),
            resource=" ".join(getattr(request, "resource", []) or []),
        )
        return result

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        # Whose token it is, for the audit trail (looked up before DOT deletes it).
        lookup = {"token_checksum": checksum(token), "application_id": getattr(request.client, "pk", None)}
        user_id = (
            get_access_token_model().objects.filter(**lookup).values_list("user_id", flat=True).first()
            or get_refresh_token_model().objects.filter(**lookup).values_list("user_id", flat=True).first()
        )
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        audit.event(
            "token_revoked",
            client_id=getattr(request.client, "client_id", None),
            user_id=user_id,
            token_type_hint=token_type_hint,
        )
