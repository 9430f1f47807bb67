"""Discovery documents (RFC 8414, RFC 9728) served from a per-process cache with an ETag.

The documents depend on settings alone, so each is produced once per process by the library
view that owns it (django-oauth-toolkit's) and then served as stored bytes; a changed setting
(tests) clears the cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps

from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified

CACHE_CONTROL = "public, max-age=300"

_documents: dict[str, tuple[bytes, str]] = {}


def _clear(**kwargs) -> None:
    _documents.clear()


setting_changed.connect(_clear)


def open_to_every_origin(response: HttpResponse) -> HttpResponse:
    """`Access-Control-Allow-Origin: *` on a public document (and on the errors of the discovery
    paths), also to a request without an Origin header: django-cors-headers answers only requests
    that carry one, and a browser may be handed what a cache stored from one that did not. The
    only place this header is set by hand (preflights and the other CORS paths: django-cors-headers)."""
    response.setdefault("Access-Control-Allow-Origin", "*")
    return response


def etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def cached_document(name: str) -> Callable:
    """Decorate a view method that builds a JSON document from settings alone."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if name not in _documents:
                built = view(self, request, *args, **kwargs)
                if built.status_code != 200:
                    return built
                _documents[name] = (built.content, etag_for(built.content))
            body, etag = _documents[name]
            if etag in request.headers.get("If-None-Match", ""):
                response: HttpResponse = HttpResponseNotModified()
            else:
                response = HttpResponse(body, content_type="application/json")
            response["ETag"] = etag
            response["Cache-Control"] = CACHE_CONTROL
            return open_to_every_origin(response)

        return wrapper

    return decorator


def document_bytes(name: str) -> tuple[bytes, str] | None:
    """The stored body and ETag of a document already served once in this process."""
    return _documents.get(name)
