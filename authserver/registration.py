"""Open dynamic client registration (RFC 7591/7592) on django-oauth-toolkit's views, with the
policy an MCP authorization server needs on top: a per-IP throttle shared by all workers, the
redirect URI rules of `authserver.redirects`, tolerance for the extra grant types real MCP
clients ask for, and the response fields DOT 3.4 leaves out.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.views import DynamicClientRegistrationManagementView, DynamicClientRegistrationView

from common import audit

from . import throttling
from .redirects import redirect_uri_problem

AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")


class OpenRegistrationPermission:
    """MCP clients register anonymously; abuse is contained by the throttle and by pruning."""

    def has_permission(self, request: HttpRequest) -> bool:
        return True


class MetadataError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def response(self) -> JsonResponse:
        return JsonResponse({"error": self.error, "error_description": self.description}, status=400)


def normalise_metadata(body: bytes) -> dict[str, Any]:
    """The client metadata this server will register, or MetadataError saying why not.

    Only the authorization code grant (with refresh tokens) exists here, so a client that also
    lists e.g. the device grant gets the code grant alone, as RFC 7591 §3.2.1 allows.
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

    auth_method = data.get("token_endpoint_auth_method", "client_secret_basic")
    if auth_method not in AUTH_METHODS:
        raise MetadataError(
            "invalid_client_metadata",
            f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}",
        )

    client_name = data.get("client_name", "")
    if not isinstance(client_name, str) or len(client_name) > 255:
        raise MetadataError("invalid_client_metadata", "client_name must be a string of at most 255 characters")

    scope = data.get("scope")
    if scope is not None:
        if not isinstance(scope, str):
            raise MetadataError("invalid_client_metadata", "scope must be a space-separated string")
        unknown = sorted(set(scope.split()) - set(get_scopes_backend().get_all_scopes()))
        if unknown:
            raise MetadataError("invalid_client_metadata", f"Unknown scope(s): {' '.join(unknown)}")

    normalised = {
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_method,
        "client_name": client_name,
    }
    if scope:
        normalised["scope"] = scope
    return normalised


def _with_normalised_body(request: HttpRequest, metadata: dict[str, Any]) -> None:
    # DOT's view parses `request.body` itself; hand it the normalised document instead.
    request._body = json.dumps(metadata).encode()


def _complete_response(response: HttpResponse, metadata: dict[str, Any], issued_at: int | None) -> HttpResponse:
    """Add what DOT 3.4 leaves out of the RFC 7591 response, and use the public origin."""
    if response.status_code not in (200, 201):
        return response
    data = json.loads(response.content)
    data["token_endpoint_auth_method"] = metadata["token_endpoint_auth_method"]
    data["grant_types"] = metadata["grant_types"]
    data["response_types"] = metadata["response_types"]
    if metadata.get("scope"):
        data["scope"] = metadata["scope"]
    if issued_at is not None:
        data["client_id_issued_at"] = issued_at
    if "client_secret" in data:
        data["client_secret_expires_at"] = 0
    data["registration_client_uri"] = f"{settings.PUBLIC_URL}/register/{data['client_id']}"
    completed = JsonResponse(data, status=response.status_code)
    completed["Cache-Control"] = "no-store"
    return completed


class RegistrationView(DynamicClientRegistrationView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Per client IP and in total (settings.THROTTLES["register"]).
        verdict = throttling.check("register", throttling.client_ip(request))
        if not verdict.allowed:
            audit.event("registration_throttled", ip=throttling.client_ip(request))
            return throttling.too_many_requests(verdict, throttling.DESCRIPTIONS["register"])
        try:
            metadata = normalise_metadata(request.body)
        except MetadataError as error:
            return error.response()
        _with_normalised_body(request, metadata)
        response = super().post(request, *args, **kwargs)
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
        data["registration_client_uri"] = f"{settings.PUBLIC_URL}/register/{client_id}"
        completed = JsonResponse(data)
        completed["Cache-Control"] = "no-store"
        return completed

    def put(self, request: HttpRequest, client_id: str, *args, **kwargs) -> HttpResponse:
        try:
            metadata = normalise_metadata(request.body)
        except MetadataError as error:
            # Authenticate first, so an anonymous caller learns nothing about the client.
            denied = self._authenticate_registration_request(request, client_id)
            return denied if isinstance(denied, HttpResponse) else error.response()
        _with_normalised_body(request, metadata)
        response = super().put(request, client_id, *args, **kwargs)
        return _complete_response(response, metadata, issued_at=None)
