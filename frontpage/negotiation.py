"""Which answer the issuer URL (`/`) gives: the front page or the authorization-server metadata.

Shared by the view and by the ASGI router (config/asgi.py), which answers the JSON from stored
bytes, so both decide alike.
"""

from __future__ import annotations

from django.http import HttpRequest

PAGE, DOCUMENT = "text/html", "application/json"


def prefers_page(accept: str | None) -> bool:
    """Whether an Accept header prefers HTML to JSON; browsers' navigations do.

    Anything without a preference for HTML gets the RFC 8414 document: a program that fetches
    the issuer identifier itself (`fetch(issuer)` sends `*/*`, curl too) expects the metadata.
    Django's own negotiation (q-values, specificity, order) decides; on a tie JSON wins.
    """
    request = HttpRequest()
    if accept is not None:
        request.META["HTTP_ACCEPT"] = accept
    return request.get_preferred_type([DOCUMENT, PAGE]) == PAGE
