"""Errors on the machine-facing paths come back as OAuth-style JSON, never as an HTML page.

Django answers some errors itself before any view runs (404 for an unknown path, 405 for a
wrong method, 400 for an oversized body); on the discovery and OAuth endpoints clients expect
JSON even then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from common.documents import open_to_every_origin
from common.errors import OAuthError

from .errors import is_api_path, oauth_answer

logger = logging.getLogger("authserver")


class ApiErrorsAsJsonMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not is_api_path(request.path):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return discovery_open_to_browsers(request, response)
        description = {
            404: f"There is nothing at {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(response.status_code, "The request could not be processed")
        kept = ("Allow", "WWW-Authenticate", "Retry-After", "Access-Control-Allow-Origin")
        headers = {header: response[header] for header in kept if header in response}
        return discovery_open_to_browsers(
            request, oauth_answer(OAuthError.for_status(response.status_code, description, headers=headers))
        )

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        logger.error("Unhandled error on %s", request.path, exc_info=exception)
        return oauth_answer(OAuthError.for_status(500, "The server could not process this request"))


def discovery_open_to_browsers(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Any web page may read the errors of the discovery paths too, as their documents."""
    return open_to_every_origin(response) if request.path.startswith("/.well-known/") else response
