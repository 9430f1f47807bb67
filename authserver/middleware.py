"""Errors on the machine-facing paths come back as OAuth-style JSON, never as an HTML page.

Django answers some errors itself before any view runs (404 for an unknown path, 405 for a
wrong method, 400 for an oversized body); on the discovery and OAuth endpoints clients expect
JSON even then.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("authserver")

API_PATH = re.compile(r"^/(\.well-known(/.*)?|token/?|register(/.*)?|revoke/?)$")

ERROR_CODES = {
    400: "invalid_request",
    401: "invalid_client",
    403: "access_denied",
    404: "not_found",
    405: "invalid_request",
    413: "invalid_request",
    415: "invalid_request",
    429: "too_many_requests",
}


def is_api_path(path: str) -> bool:
    return bool(API_PATH.match(path))


def json_error(status: int, description: str) -> JsonResponse:
    return JsonResponse(
        {
            "error": ERROR_CODES.get(status, "server_error" if status >= 500 else "invalid_request"),
            "error_description": description,
        },
        status=status,
    )


class ApiErrorsAsJsonMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not is_api_path(request.path):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            if request.path.startswith("/.well-known/"):
                response.setdefault("Access-Control-Allow-Origin", "*")
            return response
        description = {
            404: f"There is nothing at {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(response.status_code, "The request could not be processed")
        replacement = json_error(response.status_code, description)
        for header in ("Allow", "WWW-Authenticate", "Retry-After", "Access-Control-Allow-Origin"):
            if header in response:
                replacement[header] = response[header]
        if request.path.startswith("/.well-known/"):
            replacement["Access-Control-Allow-Origin"] = "*"
        return replacement

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        logger.error("Unhandled error on %s", request.path, exc_info=exception)
        return json_error(500, "The server could not process this request")
