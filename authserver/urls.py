"""URLs of the authorization server, all at the origin (older MCP clients fall back to exactly
`/authorize`, `/token` and `/register`).

The OAuth endpoints keep django-oauth-toolkit's URL names in its `oauth2_provider` namespace,
because DOT's metadata view finds them by those names.
"""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import account, registration, views

oauth_patterns = [
    path("authorize", views.AuthorizationView.as_view(), name="authorize"),
    path("token", views.TokenView.as_view(), name="token"),
    path("revoke", views.RevokeTokenView.as_view(), name="revoke-token"),
    path("register", registration.RegistrationView.as_view(), name="dcr-register"),
    path(
        "register/<str:client_id>",
        registration.RegistrationManagementView.as_view(),
        name="dcr-register-management",
    ),
    path(
        ".well-known/oauth-authorization-server",
        views.AuthorizationServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
]

urlpatterns = [
    path("", include((oauth_patterns, "oauth2_provider"))),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/apps/", account.connected_apps, name="account-apps"),
    path("account/apps/<int:client_pk>/revoke", account.revoke_app, name="account-app-revoke"),
]
