"""RFC 7662 token introspection, for a resource server deployed apart from this authorization
server (SERVER_ROLE=authorization; see docker-compose.split.yml).

Written here instead of mounting django-oauth-toolkit's IntrospectTokenView, which lets *any*
authenticated client (an anonymous self-registration is enough) or any bearer token with the
`introspection` scope read *any* token's user (tried on DOT 3.4.1: a client registered
anonymously read the `username` of another client's token). Here only the confidential
clients named in settings.INTROSPECTION_CLIENT_IDS, authenticated with their secret or with a
signed assertion (RFC 7523 private_key_jwt, the same rules as at /token: authserver/client_auth.py),
may ask,
and a token is active only under the same rules the co-located resource server applies
(common/tokens.py): live, bound to the served MCP resource, its client usable, its user active.
The endpoint is absent (404) unless introspection clients are configured.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import time
from urllib.parse import unquote_plus

from cachetools import TTLCache
from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher
from django.http import HttpRequest, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import get_access_token_model

from common import audit
from common.errors import OAuthError
from common.tokens import TokenFacts
from common.tokens import refusal as token_refusal

from . import client_auth
from .errors import oauth_answer
from .hashers import upgrade_client_secret
from .models import Client

MAX_TOKEN_LENGTH = 512
CLIENT_NAME = "MCP resource server (token introspection)"

# Client secrets are stored hashed with a deliberately slow hasher (about 0.5 s a check here).
# A resource server introspects on every cache miss, so a secret that verified is remembered
# for a few minutes in this process (as a digest; another process simply checks it again).
CREDENTIAL_MEMO_SECONDS = 300
_verified_credentials: TTLCache[str, bool] = TTLCache(maxsize=64, ttl=CREDENTIAL_MEMO_SECONDS, timer=time.monotonic)


def enabled() -> bool:
    return settings.SERVER_ROLE == "authorization" and bool(settings.INTROSPECTION_CLIENT_IDS)


def presented_credentials(request: HttpRequest) -> tuple[str, str] | None:
    """(client_id, client_secret) from HTTP Basic (RFC 6749 §2.3.1, form-encoded) or the body."""
    authorization = request.headers.get("Authorization", "")
    kind, _, value = authorization.partition(" ")
    if kind.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, colon, secret = decoded.partition(":")
        return (unquote_plus(client_id), unquote_plus(secret)) if colon else None
    if authorization:
        return None  # a bearer token is not a client credential here
    client_id, secret = request.POST.get("client_id"), request.POST.get("client_secret")
    return (client_id, secret) if client_id and secret else None


def secret_matches(client: Client, secret: str) -> bool:
    memo_key = hashlib.sha256(f"{client.client_id}\0{secret}\0{client.client_secret}".encode()).hexdigest()
    if memo_key in _verified_credentials:
        return True
    try:
        identify_hasher(client.client_secret)
        matches = check_password(secret, client.client_secret)
    except ValueError:  # stored unhashed (hash_client_secret off), as django-oauth-toolkit allows
        matches = constant_time_compare(secret, client.client_secret)
    if matches:
        upgrade_client_secret(secret, client.client_secret)
        _verified_credentials[memo_key] = True
    return matches


def authenticated_client(request: HttpRequest) -> Client | None:
    """The allowed introspection client that authenticated this request, or None."""
    credentials = presented_credentials(request)
    if credentials is None or credentials[0] not in settings.INTROSPECTION_CLIENT_IDS:
        return None  # decided before any database work or secret hashing
    client = Client.objects.filter(client_id=credentials[0]).first()
    if client is None or client.client_type != Client.CLIENT_CONFIDENTIAL or not client.is_usable(request):
        return None
    return client if secret_matches(client, credentials[1]) else None


def assertion_client(request: HttpRequest) -> Client:
    """The allowed introspection client that authenticated with a signed assertion, or
    client_auth.AssertionRefused saying which rule failed."""
    assertion = request.POST.get("client_assertion")
    client_id = client_auth.asserted_client_id(
        request.POST.get("client_assertion_type"), assertion, request.POST.get("client_id")
    )
    if client_id not in settings.INTROSPECTION_CLIENT_IDS:
        raise client_auth.AssertionRefused("client", "Only the resource server's own client may introspect")
    client = Client.objects.filter(client_id=client_id).first()
    if client is None or not client.uses_private_key_jwt or not client.is_usable(request):
        raise client_auth.AssertionRefused("method", "This client is not registered for private_key_jwt")
    client_auth.verify(assertion, client)
    return client


def client_refusal(description: str) -> JsonResponse:
    return oauth_answer(
        OAuthError("invalid_client", description, 401, headers={"WWW-Authenticate": 'Basic realm="introspection"'})
    )


def token_claims(token_value: str) -> dict:
    """The RFC 7662 answer for an access token value."""
    if not token_value or len(token_value) > MAX_TOKEN_LENGTH:
        return {"active": False}
    checksum = hashlib.sha256(token_value.encode("utf-8")).hexdigest()
    token = (
        get_access_token_model().objects.select_related("application", "user").filter(token_checksum=checksum).first()
    )
    if token is None:
        return {"active": False}
    facts = TokenFacts(
        expires_at=token.expires.timestamp(),
        audience=tuple(token.resource or ()),
        issuer=settings.ISSUER,
        client_usable=token.application is not None and token.application.is_usable(None),
        user_active=token.user is not None and token.user.is_active,
    )
    if token_refusal(facts, settings.MCP_URL, settings.ISSUER) is not None:
        return {"active": False}
    return {
        "active": True,
        "scope": token.scope,
        "client_id": token.application.client_id,
        "username": token.user.get_username(),
        "sub": str(token.user.pk),
        "aud": list(token.resource),
        "iss": settings.ISSUER,
        "exp": calendar.timegm(token.expires.utctimetuple()),
        "iat": calendar.timegm(token.created.utctimetuple()),
        "token_type": "Bearer",
    }


@csrf_exempt  # called by servers with client credentials, never by a browser with cookies
def introspect(request: HttpRequest) -> JsonResponse:
    """The RFC 7662 endpoint (no-store on every answer: authserver.security)."""
    if not enabled():
        return oauth_answer(OAuthError.for_status(404, f"There is nothing at {request.path}"))
    if request.method != "POST":
        return oauth_answer(OAuthError("invalid_request", "Introspection takes a POST", 405, headers={"Allow": "POST"}))
    if "client_assertion" in request.POST or "client_assertion_type" in request.POST:
        try:
            assertion_client(request)
        except client_auth.AssertionRefused as refused:
            audit.event(
                "client_authentication_failed",
                client_id=request.POST.get("client_id"),
                rule=refused.rule,
                reason=refused.detail or refused.description,
                ip=request.META.get("REMOTE_ADDR"),
            )
            return client_refusal(refused.description)
    elif authenticated_client(request) is None:
        audit.event("introspection_refused", ip=request.META.get("REMOTE_ADDR"), reason="client not authenticated")
        return client_refusal("Only the resource server's own client may introspect")
    token_value = request.POST.get("token")
    if not token_value:
        return oauth_answer(OAuthError("invalid_request", "The token parameter is missing"))
    return JsonResponse(token_claims(token_value))


def ensure_introspection_client() -> str:
    """Create or update the resource server's confidential client from INTROSPECTION_CLIENT_ID
    and INTROSPECTION_CLIENT_SECRET (run by docker/prestart.py); says what it did.

    It is registered for the authorization code grant without any redirect URI, so it can
    authenticate here but never obtain a token.
    """
    client_id, secret = settings.INTROSPECTION_CLIENT_ID, settings.INTROSPECTION_CLIENT_SECRET
    if settings.SERVER_ROLE != "authorization" or not client_id:
        return "no introspection client configured"
    if not secret:
        raise ValueError("INTROSPECTION_CLIENT_SECRET is required with INTROSPECTION_CLIENT_ID")
    client = Client.objects.filter(client_id=client_id).first()
    if client is None:
        Client.objects.create(
            client_id=client_id,
            client_secret=secret,
            name=CLIENT_NAME,
            client_type=Client.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
            redirect_uris="",
            is_verified=True,
        )
        return f"created introspection client {client_id!r}"
    if client.client_type != Client.CLIENT_CONFIDENTIAL or not secret_matches(client, secret):
        client.client_type = Client.CLIENT_CONFIDENTIAL
        client.client_secret = secret
        client.save()
        return f"updated introspection client {client_id!r}"
    return f"introspection client {client_id!r} is up to date"
