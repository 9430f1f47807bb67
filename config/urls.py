"""The root URL map: each app owns its URLs."""

from django.contrib import admin
from django.urls import include, path

from authserver import introspection
from config import health

urlpatterns = [
    # `/`, the issuer URL: the front page for people, the authorization-server metadata for programs.
    path("", include("frontpage.urls")),
    path("", include("authserver.urls")),
    path("", include("mcpserver.urls")),
    path("admin/", admin.site.urls),
    # Client-developer documentation (/docs/, the PRM's resource_documentation) and the OpenAPI document.
    path("", include("democlient.urls")),
    # Deployment: health probes, and RFC 7662 introspection for a split resource server (404 unless configured).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("introspect", introspection.introspect, name="introspect"),
]

handler404 = "authserver.errors.not_found"
handler500 = "authserver.errors.server_error"
handler400 = "authserver.errors.bad_request"
handler403 = "authserver.errors.forbidden"
