"""The one place where an error becomes an answer: an `OAuthError` (common/errors.py) becomes its
JSON, an `ErrorPage` the styled page, and `wants_page` decides which of the two a request gets.
Also Django's own error handlers (handler404 and co.): JSON on the machine-facing paths, the
page for people elsewhere."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from common.errors import ErrorPage, OAuthError

# The paths programs call (discovery, token, registration, revocation): errors there are JSON
# whatever the request accepts.
API_PATH = re.compile(r"^/(\.well-known(/.*)?|token/?|register(/.*)?|revoke/?)$")


def is_api_path(path: str) -> bool:
    return bool(API_PATH.match(path))


def wants_page(request: HttpRequest, *, asked: bool = True) -> bool:
    """Whether a request gets the page for a person rather than JSON for a program: never on the
    machine-facing paths; elsewhere when it asks for HTML, as browsers do (`asked=False`: even
    when it does not, for Django's own error handlers, which meet whatever a person typed)."""
    if is_api_path(request.path):
        return False
    return not asked or "text/html" in request.headers.get("Accept", "")


def oauth_answer(error: OAuthError) -> JsonResponse:
    response = JsonResponse(error.body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def page_answer(request: HttpRequest, page: ErrorPage, *, offline: bool = False) -> HttpResponse:
    """The error page; `offline`: rendered without the request's context processors, so without
    touching the database or the session (it also works while the database is down)."""
    if offline:
        context = {
            "site_name": settings.OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_NAME"],
            "public_url": settings.PUBLIC_URL,
            **page.context,
        }
        response = HttpResponse(
            render_to_string("authserver/error.html", context),
            status=page.status,
            content_type="text/html; charset=utf-8",
        )
    else:
        response = render(request, "authserver/error.html", page.context, status=page.status)
    for name, value in page.headers.items():
        response[name] = value
    return response


def error_answer(
    request: HttpRequest, error: OAuthError | ErrorPage, *, asked: bool = True, offline: bool = False
) -> HttpResponse:
    """The answer to an error: an OAuth error as JSON, or its page where the request wants one;
    an error page as the page."""
    if isinstance(error, OAuthError):
        if error.page is None or not wants_page(request, asked=asked):
            return oauth_answer(error)
        error = error.page
    return page_answer(request, error, offline=offline)


class ErrorAnswerMiddleware:
    """Turns an `OAuthError` or `ErrorPage` raised anywhere in a view (also inside a library's
    code, where no response can be returned) into its answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OAuthError | ErrorPage):
            return error_answer(request, exception)
        return None


# --- Django's error handlers (config/urls.py) ------------------------------------------------------


def _handled(request: HttpRequest, status: int, title: str, description: str) -> HttpResponse:
    page = ErrorPage(status, {"error": title, "description": description})
    return error_answer(request, OAuthError.for_status(status, description, page=page), asked=False)


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return _handled(request, 404, "Not found", f"There is nothing at {request.path}")


def server_error(request: HttpRequest) -> HttpResponse:
    return _handled(request, 500, "Something went wrong", "The server could not complete this request. Try again.")


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    return _handled(request, 400, "Bad request", "The server could not understand this request.")


def forbidden(request: HttpRequest, exception=None) -> HttpResponse:
    return _handled(request, 403, "Forbidden", "You may not do this.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _handled(
        request,
        403,
        "Form expired",
        "This form was not accepted because it expired or came from another site. "
        "Go back, reload the page and try again.",
    )
