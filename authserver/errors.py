"""Error pages: JSON on the machine-facing paths, a styled page for people elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .middleware import is_api_path, json_error


def _page(request: HttpRequest, status: int, title: str, description: str) -> HttpResponse:
    if is_api_path(request.path):
        return json_error(status, description)
    return render(request, "authserver/error.html", {"error": title, "description": description}, status=status)


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return _page(request, 404, "Not found", f"There is nothing at {request.path}")


def server_error(request: HttpRequest) -> HttpResponse:
    return _page(request, 500, "Something went wrong", "The server could not complete this request. Try again.")


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    return _page(request, 400, "Bad request", "The server could not understand this request.")


def forbidden(request: HttpRequest, exception=None) -> HttpResponse:
    return _page(request, 403, "Forbidden", "You may not do this.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _page(
        request,
        403,
        "Form expired",
        "This form was not accepted because it expired or came from another site. "
        "Go back, reload the page and try again.",
    )
