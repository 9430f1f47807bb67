from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, str]:
    """What every page shows about this server."""
    return {
        "site_name": settings.OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_NAME"],
        "public_url": settings.PUBLIC_URL,
    }
