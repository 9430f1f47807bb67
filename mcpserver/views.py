"""RFC 9728 protected-resource metadata for the MCP endpoint."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from oauth2_provider.views import OAuthProtectedResourceMetadataView

from common.documents import cached_document
from common.scopes import registry


class ProtectedResourceMetadataView(OAuthProtectedResourceMetadataView):
    """DOT's document, with `scopes_supported` the scopes the apps declare for the MCP server (not
    the authorization server's, which may have scopes of its own), served from the per-process
    cache."""

    def get_scopes_supported(self) -> list[str]:
        return registry.names()

    @cached_document("protected-resource")
    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return super().get(request, *args, **kwargs)
