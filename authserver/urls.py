"""URLs of the authorization server, all at the origin (older MCP clients fall back to exactly
`/authorize`, `/token` and `/register`).

The OAuth endpoints keep django-oauth-toolkit's URL names in its `oauth2_provider` namespace,
because DOT's metadata view finds them by those names.
"""

from allauth.account import views as allauth_views
from allauth.mfa import urls as mfa_urls
from allauth.socialaccount import urls as socialaccount_urls
from allauth.urls import build_provider_urlpatterns
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from . import account, registration, views
from .throttling import throttled

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


def limited(patterns: list, methods: tuple[str, ...]) -> list:
    """allauth's URL patterns, their views counted against the sign-in limit (the sign-in page's,
    authserver/throttling.py): a provider sign-in costs outbound requests, an MFA code a guess."""
    result = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = limited(pattern.url_patterns, methods)
            result.append(
                URLResolver(pattern.pattern, inner, pattern.default_kwargs, pattern.app_name, pattern.namespace)
            )
        else:
            view = throttled("login", methods)(pattern.callback)
            result.append(URLPattern(pattern.pattern, view, pattern.default_args, pattern.name))
    return result


login_view = views.LoginView.as_view()
logout_view = auth_views.LogoutView.as_view()
# django-allauth's pages for upstream sign-in and MFA (authserver/sso.py, authserver/mfa.py); the
# sign-in and sign-out pages stay this server's own, under allauth's names too.
sign_in_patterns = [
    path("login/", login_view, name="account_login"),
    path("logout/", logout_view, name="account_logout"),
    path("inactive/", allauth_views.account_inactive, name="account_inactive"),
    path("reauthenticate/", throttled("login")(allauth_views.reauthenticate), name="account_reauthenticate"),
    path("2fa/", include(limited(mfa_urls.urlpatterns, ("POST",)))),
    path("3rdparty/", include(limited(socialaccount_urls.urlpatterns, ("POST",)))),
    *limited(build_provider_urlpatterns(), ("GET", "POST")),
]

urlpatterns = [
    path("", include((oauth_patterns, "oauth2_provider"))),
    path("accounts/login/", login_view, name="login"),
    path("accounts/logout/", logout_view, name="logout"),
    path("accounts/", include(sign_in_patterns)),
    path("admin/login/", views.with_sign_in_csp(views.admin_login), name="admin-login"),
    path("account/apps/", account.connected_apps, name="account-apps"),
    path("account/apps/<int:client_pk>/revoke", account.revoke_app, name="account-app-revoke"),
]
