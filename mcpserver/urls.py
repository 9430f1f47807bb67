"""The protected-resource metadata, at the path-inserted location of the MCP endpoint (RFC 9728
§3.1) and at the root, which clients try next. Any other resource path is not ours: 404."""

from django.conf import settings
from django.urls import path

from .views import ProtectedResourceMetadataView

urlpatterns = [
    path(
        ".well-known/oauth-protected-resource" + settings.MCP_PATH,
        ProtectedResourceMetadataView.as_view(),
        name="protected-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        ProtectedResourceMetadataView.as_view(),
        name="protected-resource-metadata-root",
    ),
]
