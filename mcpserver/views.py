"""RFC 9728 protected-resource metadata for the MCP endpoint."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from oauth2_provider.views import OAuthProtectedResourceMetadataView

from authserver.documents import cached_document

from .server import capabilities


class ProtectedResourceMetadataView(OAuthProtectedResourceMetadataView):
    """DOT's document, with `scopes_supported` taken from the MCP server's own capabilities and
    served from the per-process cache."""

    def get_scopes_supported(self) -> list[str]:
        return capabilities().scopes_supported()

    @cached_document("protected-resource")
    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return super().get(request, *args, **kwargs)
