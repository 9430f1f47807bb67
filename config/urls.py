"""The root URL map: each app owns its URLs."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("authserver.urls")),
    path("", include("mcpserver.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "authserver.errors.not_found"
handler500 = "authserver.errors.server_error"
handler400 = "authserver.errors.bad_request"
handler403 = "authserver.errors.forbidden"
