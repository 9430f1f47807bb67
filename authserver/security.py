"""Cross-cutting protections of the Django side (every path but `/mcp`):

- `SecurityHeadersMiddleware`: a Content-Security-Policy (our own origin only, no inline code,
  no framing), and `Cache-Control: no-store` on the pages and endpoints that carry credentials
  (sign-in, consent, token, registration, introspection) and on every refusal of the moment (429,
  503): the one place that sets it. (Django's SecurityMiddleware sets Referrer-Policy and
  X-Content-Type-Options, from SECURE_REFERRER_POLICY and SECURE_CONTENT_TYPE_NOSNIFF.)
- `RequestLimitsMiddleware`: oversized bodies and header sections, JSON nested too deep and NUL
  characters are refused before anything parses or stores them (413/431/400); a library's
  `SuspiciousOperation`, a body Django cannot parse (malformed multipart, a charset that does
  not decode it), or a value the database cannot store, is a 400, never a 500.
- `DatabaseOutageMiddleware`: while the database is unreachable, requests get a 503 with
  `Retry-After` (JSON on the machine-facing paths, a page for people) instead of a 500; the
  connection is dropped, so the first request after the database is back succeeds.

Written by hand: Django 5.2 has no CSP support (it arrived in 6.0, which needs Python 3.12), and
the policy here is one fixed header, which needs none of django-csp's nonce machinery.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.signals import got_request_exception
from django.db import DataError, InterfaceError, OperationalError, connections
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError

from common.errors import NO_STORE, ErrorPage, OAuthError
from common.limits import header_problem

from . import errors

logger = logging.getLogger("authserver")

# Our own origin only; no inline script or style (the templates have none, a test checks); no
# plugins; no <base> rewriting; never framed (clickjacking of the consent page). There is no
# form-action: the consent form's answer is a redirect to the client's own redirect URI, which
# browsers would hold against form-action.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

# Paths whose answers carry credentials, codes, or a form bound to a sign-in: never stored by
# a browser or a proxy (RFC 6749 §5.1 asks it of token responses).
NO_STORE_PREFIXES = (
    "/authorize",
    "/token",
    "/revoke",
    "/register",
    "/introspect",
    "/accounts/",
    "/account/",
    "/admin/",
)
# Refusals that hold for a moment only (Retry-After): a stored copy would outlive them.
NO_STORE_STATUSES = (429, 503)

DATABASE_ERRORS = (OperationalError, InterfaceError)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.path.startswith(NO_STORE_PREFIXES) or response.status_code in NO_STORE_STATUSES:
            response["Cache-Control"] = NO_STORE
            response["Pragma"] = "no-cache"
        return response


_STRUCTURE = b'[]{}"\\'
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in _STRUCTURE)
_SQUARE = bytes.maketrans(b"{}", b"[]")


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether a JSON text nests arrays/objects deeper than `limit`, found without parsing it
    (a parser may be what the nesting breaks).

    Only bytes operations that run in C: keep the brackets outside strings, then remove the
    innermost pairs `limit` times; a run of more than `limit` openers, or a pair still left at
    the end, is deeper than `limit`. A megabyte costs a few milliseconds.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    text = body.translate(_SQUARE, _NOT_STRUCTURE)
    if b'"' in text:
        # Escapes first (an escaped backslash, then an escaped quote), then what is inside quotes.
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"").replace(b"\\", b"")
        text = b"".join(text.split(b'"')[::2])
    too_deep = b"[" * (limit + 1)
    for _ in range(limit):
        if too_deep in text:
            return True
        reduced = text.replace(b"[]", b"")
        if len(reduced) == len(text):
            return False  # nothing nested left (or not JSON: its parser will say so)
        text = reduced
    return b"[]" in text


def is_json(request: HttpRequest) -> bool:
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _meta_headers(meta: dict) -> Iterable[tuple[str, str]]:
    for key, value in meta.items():
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            yield key, str(value)


def request_refused(request: HttpRequest, status: int, title: str, description: str) -> HttpResponse:
    """A refusal of these middlewares, as JSON or as a page (errors.wants_page), rendered without
    touching the database or the session (so it also works while the database is down)."""
    page = ErrorPage(status, {"title": title, "error": title, "description": description})
    error = OAuthError.for_status(status, description, page=page)
    return errors.error_answer(request, error, offline=True)


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = header_problem(_meta_headers(request.META))
        if problem:
            return request_refused(request, 431, "Request headers too large", problem)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return request_refused(request, 400, "Bad request", "Content-Length is not a number")
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return request_refused(
                request,
                413,
                "Request too large",
                f"The request body exceeds {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes",
            )
        if length and is_json(request) and json_too_deep(request.body, settings.REQUEST_MAX_JSON_DEPTH):
            return request_refused(
                request, 400, "Bad request", f"The JSON body nests deeper than {settings.REQUEST_MAX_JSON_DEPTH} levels"
            )
        if has_nul(request):
            # No identifier, URL or name here may hold one, and PostgreSQL cannot even compare one.
            return request_refused(request, 400, "Bad request", "The request contains a NUL character")
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # Django answers these itself with a 400, but an outer middleware would make them 500s.
        if isinstance(exception, RequestDataTooBig):
            return request_refused(request, 413, "Request too large", "The request body is too large")
        if isinstance(exception, SuspiciousOperation):
            return request_refused(request, 400, "Bad request", "The server could not understand this request")
        if isinstance(exception, MultiPartParserError | UnicodeDecodeError):
            # Raised when a view first reads request.POST: a multipart body without a usable
            # boundary, or bytes its declared charset cannot decode.
            return request_refused(request, 400, "Bad request", "The request body could not be parsed as declared")
        if isinstance(exception, DataError):
            # A value the database cannot store (too long for its column, say): the client's data.
            logger.warning("data refused by the database on %s: %s", request.path, exception)
            return request_refused(request, 400, "Bad request", "The request contains a value this server cannot store")
        return None


def has_nul(request: HttpRequest) -> bool:
    """Whether the path, the query, a form field or a JSON string holds a NUL character."""
    if "\x00" in request.path or _has_nul_item(request.GET):
        return True
    if request.META.get("CONTENT_LENGTH") in (None, "", "0"):
        return False
    if request.content_type == "application/x-www-form-urlencoded":
        return _has_nul_item(request.POST)
    if is_json(request):
        return b"\\u0000" in request.body
    return False


def _has_nul_item(query) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in query.lists())


@receiver(got_request_exception)
def _note_database_error(sender, request=None, **kwargs) -> None:
    # A database error raised in a middleware (the session, the user) never reaches
    # process_exception: Django turns it into a 500 right there. Mark the request, so that
    # DatabaseOutageMiddleware can still answer 503.
    if request is not None and isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        request.database_unavailable = True


def _drop_broken_connections() -> None:
    for conn in connections.all(initialized_only=True):
        try:
            if conn.connection is not None and not conn.is_usable():
                conn.close()
        except DATABASE_ERRORS:
            pass


class DatabaseOutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        except DATABASE_ERRORS:
            return self.unavailable(request)
        if response.status_code == 500 and getattr(request, "database_unavailable", False):
            return self.unavailable(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            return self.unavailable(request)
        return None

    def unavailable(self, request: HttpRequest) -> HttpResponse:
        logger.warning("database unavailable on %s", request.path)
        _drop_broken_connections()
        response = request_refused(
            request, 503, "Temporarily unavailable", "The service is temporarily unavailable; retry shortly"
        )
        response["Retry-After"] = str(settings.DATABASE_OUTAGE_RETRY_AFTER)
        return response
