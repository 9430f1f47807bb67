"""Open dynamic client registration (RFC 7591/7592) on django-oauth-toolkit's views, with the
policy an MCP authorization server needs on top: a per-IP throttle shared by all workers, the
redirect URI rules of `authserver.redirects`, tolerance for the extra grant types real MCP
clients ask for, the response fields DOT 3.4 leaves out, and what DOT 3.4 does not register:

- `token_endpoint_auth_method: private_key_jwt` with `jwks_uri` or `jwks` (RFC 7523). DOT is
  handed a confidential registration (it then stores an unusable random secret, never shown), and
  the client row gets its keys in the same transaction; such a client may authenticate only with
  a signed assertion (authserver/validators.py).
- `application_type` (`native` / `web`, OpenID Connect Registration, MCP SEP-837), stored and
  checked against the redirect URIs;
- `offline_access` in `scope` (authserver/server_scopes.py).
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.views import DynamicClientRegistrationManagementView, DynamicClientRegistrationView

from common import audit
from common.errors import OAuthError

from . import throttling
from .client_documents import PRIVATE_KEY_JWT, MetadataProblem, client_authentication
from .errors import oauth_answer
from .models import Client
from .redirects import application_type_problem, redirect_uri_problem
from .server_scopes import server_scopes

AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT)


class OpenRegistrationPermission:
    """MCP clients register anonymously; abuse is contained by the throttle and by pruning."""

    def has_permission(self, request: HttpRequest) -> bool:
        return True


class MetadataError(OAuthError):
    """Client metadata this server will not register (RFC 7591 §3.2.2): a 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error, description, 400)


def normalise_metadata(body: bytes) -> dict[str, Any]:
    """The client metadata this server will register, or MetadataError saying why not.

    Only the authorization code grant (with refresh tokens) exists here, so a client that also
    lists e.g. the device grant gets the code grant alone, as RFC 7591 §3.2.1 allows.

    Checked by hand rather than with the MCP SDK's `OAuthClientMetadata`: its `AnyUrl` rewrites
    redirect URIs (`HTTP://LOCALHOST/cb` becomes `http://localhost/cb`), which must be registered
    exactly as sent and compared exactly; it fills in defaults this server must not store (an
    `application_type` of "native" for a client that named none); and each refusal here is a
    specific RFC 7591 error (`invalid_redirect_uri` or `invalid_client_metadata`) with a sentence
    for the developer, not a pydantic report.
    """
    try:
        data = json.loads(body or b"null")
    except (ValueError, RecursionError) as exc:
        raise MetadataError("invalid_client_metadata", "The request body must be a JSON object") from exc
    if not isinstance(data, dict):
        raise MetadataError("invalid_client_metadata", "The request body must be a JSON object")

    redirect_uris = data.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris:
        raise MetadataError("invalid_redirect_uri", "redirect_uris must be a non-empty array of URIs")
    for uri in redirect_uris:
        problem = redirect_uri_problem(uri)
        if problem:
            raise MetadataError("invalid_redirect_uri", problem)

    _check_grant_and_response_types(data)

    try:
        authentication = client_authentication(data, default="client_secret_basic", methods=AUTH_METHODS)
    except MetadataProblem as problem:
        raise MetadataError("invalid_client_metadata", str(problem)) from problem

    application_type = data.get("application_type")
    problem = application_type_problem(application_type, redirect_uris)
    if problem:
        raise MetadataError("invalid_client_metadata", problem)

    client_name = data.get("client_name", "")
    if not isinstance(client_name, str) or len(client_name) > 255:
        raise MetadataError("invalid_client_metadata", "client_name must be a string of at most 255 characters")

    scope = _registered_scope(data)

    normalised = {
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": authentication.method,
        "client_name": client_name,
    }
    if scope:
        normalised["scope"] = scope
    if application_type:
        normalised["application_type"] = application_type
    if authentication.method == PRIVATE_KEY_JWT:
        if authentication.jwks_uri:
            normalised["jwks_uri"] = authentication.jwks_uri
        else:
            normalised["jwks"] = json.loads(authentication.jwks)
        if authentication.signing_alg:
            normalised["token_endpoint_auth_signing_alg"] = authentication.signing_alg
    return normalised


def _check_grant_and_response_types(data: dict[str, Any]) -> None:
    grant_types = data.get("grant_types", ["authorization_code"])
    if not isinstance(grant_types, list) or not all(isinstance(g, str) for g in grant_types):
        raise MetadataError("invalid_client_metadata", "grant_types must be an array of strings")
    if "authorization_code" not in grant_types:
        raise MetadataError(
            "invalid_client_metadata",
            "Only the authorization_code grant (with refresh_token) can be registered here",
        )
    response_types = data.get("response_types", ["code"])
    if not isinstance(response_types, list) or "code" not in response_types:
        raise MetadataError("invalid_client_metadata", 'response_types must include "code"')


def _registered_scope(data: dict[str, Any]) -> str | None:
    scope = data.get("scope")
    if scope is None:
        return None
    if not isinstance(scope, str):
        raise MetadataError("invalid_client_metadata", "scope must be a space-separated string")
    unknown = sorted(set(scope.split()) - set(get_scopes_backend().get_all_scopes()) - set(server_scopes()))
    if unknown:
        raise MetadataError("invalid_client_metadata", f"Unknown scope(s): {' '.join(unknown)}")
    return scope


def _with_normalised_body(request: HttpRequest, metadata: dict[str, Any]) -> None:
    # DOT's view parses `request.body` itself; hand it the normalised document instead, with a
    # secret method in place of private_key_jwt, which DOT 3.4 does not know (the row is
    # corrected by `_store_extra_metadata` in the same transaction).
    dot_method = metadata["token_endpoint_auth_method"]
    if dot_method == PRIVATE_KEY_JWT:
        dot_method = "client_secret_basic"
    request._body = json.dumps({**metadata, "token_endpoint_auth_method": dot_method}).encode()


def _store_extra_metadata(client_id: str, metadata: dict[str, Any]) -> None:
    """Store what DOT 3.4's registration does not: how the client authenticates, its keys, its type."""
    client = Client.objects.select_for_update().get(client_id=client_id)
    client_authentication(metadata, default="client_secret_basic", methods=AUTH_METHODS).apply_to(client)
    client.application_type = metadata.get("application_type", "")
    client.save()


def _registered_metadata(client: Client) -> dict[str, Any]:
    """The metadata fields of a registration that DOT 3.4 does not report itself."""
    data: dict[str, Any] = {}
    if client.token_endpoint_auth_method:
        data["token_endpoint_auth_method"] = client.token_endpoint_auth_method
    if client.client_jwks_uri:
        data["jwks_uri"] = client.client_jwks_uri
    if client.client_jwks:
        data["jwks"] = json.loads(client.client_jwks)
    if client.token_endpoint_auth_signing_alg:
        data["token_endpoint_auth_signing_alg"] = client.token_endpoint_auth_signing_alg
    if client.application_type:
        data["application_type"] = client.application_type
    return data


def _complete_response(response: HttpResponse, metadata: dict[str, Any], issued_at: int | None) -> HttpResponse:
    """Add what DOT 3.4 leaves out of the RFC 7591 response, and use the public origin."""
    if response.status_code not in (200, 201):
        return response
    data = json.loads(response.content)
    client = Client.objects.get(client_id=data["client_id"])
    data.update(_registered_metadata(client))
    if client.uses_private_key_jwt:
        # The secret DOT generated is never usable by this client (it must sign assertions).
        data.pop("client_secret", None)
    data["grant_types"] = metadata["grant_types"]
    data["response_types"] = metadata["response_types"]
    if metadata.get("scope"):
        data["scope"] = metadata["scope"]
    if issued_at is not None:
        data["client_id_issued_at"] = issued_at
    if "client_secret" in data:
        data["client_secret_expires_at"] = 0
    data["registration_client_uri"] = f"{settings.PUBLIC_URL}/register/{data['client_id']}"
    return JsonResponse(data, status=response.status_code)  # no-store: authserver.security


class RegistrationView(DynamicClientRegistrationView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Per client IP and in total (settings.THROTTLES["register"]).
        verdict = throttling.check("register", throttling.client_ip(request))
        if not verdict.allowed:
            audit.event("registration_throttled", ip=throttling.client_ip(request))
            return throttling.too_many_requests(verdict, throttling.DESCRIPTIONS["register"], request)
        try:
            metadata = normalise_metadata(request.body)
        except MetadataError as error:
            return oauth_answer(error)
        _with_normalised_body(request, metadata)
        with transaction.atomic():
            response = super().post(request, *args, **kwargs)
            if response.status_code == 201:
                _store_extra_metadata(json.loads(response.content)["client_id"], metadata)
        completed = _complete_response(response, metadata, issued_at=int(time.time()))
        if completed.status_code == 201:
            audit.event(
                "client_registered",
                client_id=json.loads(completed.content)["client_id"],
                source="dcr",
                ip=throttling.client_ip(request),
            )
        return completed


class RegistrationManagementView(DynamicClientRegistrationManagementView):
    def get(self, request: HttpRequest, client_id: str, *args, **kwargs) -> HttpResponse:
        response = super().get(request, client_id, *args, **kwargs)
        if response.status_code != 200:
            return response
        data = json.loads(response.content)
        data.update(_registered_metadata(Client.objects.get(client_id=client_id)))
        data["registration_client_uri"] = f"{settings.PUBLIC_URL}/register/{client_id}"
        return JsonResponse(data)  # no-store: authserver.security

    def put(self, request: HttpRequest, client_id: str, *args, **kwargs) -> HttpResponse:
        try:
            metadata = normalise_metadata(request.body)
        except MetadataError as error:
            # Authenticate first, so an anonymous caller learns nothing about the client.
            denied = self._authenticate_registration_request(request, client_id)
            return denied if isinstance(denied, HttpResponse) else oauth_answer(error)
        _with_normalised_body(request, metadata)
        with transaction.atomic():
            response = super().put(request, client_id, *args, **kwargs)
            if response.status_code == 200:
                _store_extra_metadata(client_id, metadata)
        return _complete_response(response, metadata, issued_at=None)
