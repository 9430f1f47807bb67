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
            response["Access-Control-Allow-Origin"] = "*"
            return response

        return wrapper

    return decorator


def document_bytes(name: str) -> tuple[bytes, str] | None:
    """The stored body and ETag of a document already served once in this process."""
    return _documents.get(name)
