"""Sign-in through GitHub and Google, which cannot be reached from here: their configuration
from the environment, the sign-in redirect, and the account mapping, with only their token and
user endpoints stubbed through allauth's own extension point (tests/support/provider_stubs.py).
Also: the sign-in page (buttons, LOCAL_LOGIN, the CSP's form-action), the admin's user page, the
callback URLs printed for operators, and the upstream token store (encryption, refresh, rotation)."""

from __future__ import annotations

import copy
import io
import re
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client as DjangoClient
from django.utils import timezone

from authserver.upstream import StoredUpstreamTokens
from common.upstream import UpstreamTokenUnavailable, decrypt
from tests.support.admin_session import log_in
from tests.support.provider_stubs import ANSWERS, REQUESTS, form_of

GITHUB_TOKEN = "gho_github-access-token"
GOOGLE_TOKEN = "ya29.google-access-token"
GOOGLE_REFRESH = "1//google-refresh-token"
GOOGLE_CLIENT = "google-client.apps.googleusercontent.com"


@pytest.fixture
def providers(settings):
    """GitHub and Google configured as SSO_GITHUB_* / SSO_GOOGLE_* would (config/settings.py)."""
    ANSWERS.clear()
    REQUESTS.clear()
    configured = copy.deepcopy(settings.SOCIALACCOUNT_PROVIDERS)
    configured["github"]["APPS"] = [{"client_id": "github-client", "secret": "github-secret"}]
    configured["google"]["APPS"] = [{"client_id": GOOGLE_CLIENT, "secret": "google-secret"}]
    settings.SOCIALACCOUNT_PROVIDERS = configured
    settings.SOCIALACCOUNT_ADAPTER = "tests.support.provider_stubs.StubbedProviders"
    return settings


@pytest.fixture
def browser(settings) -> DjangoClient:
    return DjangoClient(HTTP_HOST=settings.PUBLIC_HOST, REMOTE_ADDR="127.0.0.1", HTTP_ACCEPT="text/html")


def stub_github(user_id: int = 4242, login: str = "octocat", emails: list | None = None) -> None:
    ANSWERS[("POST", "https://github.com/login/oauth/access_token")] = lambda r: (
        200,
        {"access_token": GITHUB_TOKEN, "token_type": "bearer", "scope": "read:user,user:email"},
    )
    ANSWERS[("GET", "https://api.github.com/user")] = lambda r: (
        200,
        {"id": user_id, "login": login, "name": "The Octocat", "email": None},
    )
    ANSWERS[("GET", "https://api.github.com/user/emails")] = lambda r: (
        200,
        emails if emails is not None else [{"email": "octocat@example.com", "verified": True, "primary": True}],
    )


def stub_google(email: str = "gina@example.com", verified: bool = True) -> None:
    def token(request):
        if form_of(request).get("grant_type") == "refresh_token":
            return 200, {"access_token": "ya29.refreshed", "expires_in": 3599, "token_type": "Bearer"}
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": GOOGLE_CLIENT,
            "sub": "108000000000000000001",
            "email": email,
            "email_verified": verified,
            "name": "Gina",
            "picture": "https://example.com/gina.png",
            "iat": now,
            "exp": now + 3600,
        }
        return 200, {
            "access_token": GOOGLE_TOKEN,
            "refresh_token": GOOGLE_REFRESH,
            "expires_in": 3599,
            "token_type": "Bearer",
            "id_token": jwt.encode(claims, "not-checked: the token came straight from Google", algorithm="HS256"),
        }

    ANSWERS[("POST", "https://oauth2.googleapis.com/token")] = token


def sign_in_with(browser: DjangoClient, provider: str, next_url: str = "/account/apps/"):
    """Our sign-in button's POST, the provider's redirect back with a code, our callback."""
    start = browser.post(f"/accounts/{provider}/login/", {"next": next_url})
    assert start.status_code == 302, start.content[:300]
    authorize = urlsplit(start["Location"])
    query = {key: values[-1] for key, values in parse_qs(authorize.query).items()}
    callback = browser.get(urlsplit(query["redirect_uri"]).path, {"code": "the-code", "state": query["state"]})
    return authorize, query, callback


@pytest.mark.django_db
def test_github_sign_in_creates_the_user_and_keeps_the_token_encrypted(providers, browser, settings) -> None:
    stub_github()
    authorize, query, callback = sign_in_with(browser, "github")

    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == "https://github.com/login/oauth/authorize"
    assert query["client_id"] == "github-client"
    assert query["redirect_uri"] == settings.PUBLIC_URL + "/accounts/github/login/callback/"
    assert query["scope"] == "user:email"  # allauth's GitHub default with SOCIALACCOUNT_QUERY_EMAIL
    assert callback.status_code == 302 and callback["Location"] == "/account/apps/"

    account = SocialAccount.objects.get(provider="github")
    assert (account.uid, account.user.username, account.user.email) == ("4242", "octocat", "octocat@example.com")
    assert not account.user.has_usable_password() and not account.user.is_staff
    exchange = next(r for r in REQUESTS if r.url == "https://github.com/login/oauth/access_token")
    assert form_of(exchange)["client_secret"] == "github-secret" and form_of(exchange)["code"] == "the-code"
    stored = SocialToken.objects.get(account=account)
    assert stored.token != GITHUB_TOKEN and GITHUB_TOKEN not in stored.token
    assert decrypt(stored.token) == GITHUB_TOKEN
    assert stored.expires_at is None  # GitHub's OAuth app tokens do not expire

    # The second sign-in links to the same user.
    browser.logout()
    _, _, again = sign_in_with(browser, "github")
    assert again.status_code == 302
    assert SocialAccount.objects.filter(provider="github").count() == 1
    assert get_user_model().objects.filter(username__startswith="octocat").count() == 1


@pytest.mark.django_db
def test_github_unverified_address_of_an_existing_account_is_not_linked(providers, browser) -> None:
    get_user_model().objects.create_user("octo-local", email="octocat@example.com", password="x" * 20)
    stub_github(emails=[{"email": "octocat@example.com", "verified": False, "primary": True}])
    _, _, callback = sign_in_with(browser, "github")

    assert callback.status_code == 403
    assert "Your e-mail address was not confirmed" in callback.content.decode()
    assert not SocialAccount.objects.exists()
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_google_verified_address_links_to_the_existing_account_and_its_token_refreshes(providers, browser) -> None:
    gina = get_user_model().objects.create_user("gina", email="Gina@Example.com", password="x" * 20)
    stub_google()
    authorize, query, callback = sign_in_with(browser, "google")

    assert authorize.netloc == "accounts.google.com"
    assert query["access_type"] == "offline"  # a refresh token, for tools acting later
    assert query["code_challenge_method"] == "S256"
    assert callback.status_code == 302
    account = SocialAccount.objects.get(provider="google")
    assert account.user == gina and account.uid == "108000000000000000001"
    assert gina.password == get_user_model().objects.get(pk=gina.pk).password  # the password stays

    stored = SocialToken.objects.get(account=account)
    assert decrypt(stored.token) == GOOGLE_TOKEN and decrypt(stored.token_secret) == GOOGLE_REFRESH
    assert GOOGLE_REFRESH not in stored.token_secret
    live = StoredUpstreamTokens().token_for(gina.pk)
    assert (live.provider, live.access_token) == ("google", GOOGLE_TOKEN)
    assert live.userinfo_url == "https://www.googleapis.com/oauth2/v2/userinfo"
    assert GOOGLE_TOKEN not in repr(live)

    SocialToken.objects.filter(pk=stored.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    REQUESTS.clear()
    refreshed = StoredUpstreamTokens().token_for(gina.pk)
    assert refreshed.access_token == "ya29.refreshed"
    (refresh,) = REQUESTS
    assert refresh.url == "https://oauth2.googleapis.com/token"
    assert form_of(refresh) == {
        "grant_type": "refresh_token",
        "refresh_token": GOOGLE_REFRESH,
        "client_id": GOOGLE_CLIENT,
        "client_secret": "google-secret",
    }
    stored.refresh_from_db()
    assert decrypt(stored.token) == "ya29.refreshed"
    assert decrypt(stored.token_secret) == GOOGLE_REFRESH  # kept: Google sent no new one
    assert stored.expires_at > timezone.now() + timedelta(minutes=50)


@pytest.mark.django_db
def test_a_refused_refresh_asks_the_user_to_sign_in_again(providers, browser) -> None:
    stub_google()
    sign_in_with(browser, "google")
    user = SocialAccount.objects.get(provider="google").user
    SocialToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    ANSWERS[("POST", "https://oauth2.googleapis.com/token")] = lambda r: (400, {"error": "invalid_grant"})
    with pytest.raises(UpstreamTokenUnavailable, match="sign in again"):
        StoredUpstreamTokens().token_for(user.pk)
    with pytest.raises(UpstreamTokenUnavailable, match="did not sign in to this server through an identity provider"):
        StoredUpstreamTokens().token_for(get_user_model().objects.create_user("local").pk)


@pytest.mark.django_db
def test_domains_outside_the_allowed_list_are_refused(providers, browser, settings) -> None:
    settings.SSO_ALLOWED_EMAIL_DOMAINS = ["corp.example"]
    stub_github()
    _, _, callback = sign_in_with(browser, "github")
    page = callback.content.decode()
    assert callback.status_code == 403
    assert "Your e-mail address is not allowed here" in page and "corp.example" in page
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_the_sign_in_page_offers_each_provider_and_allows_exactly_their_origins(providers, browser, settings) -> None:
    settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] = [
        {
            "provider_id": "sso",
            "name": "Okta",
            "client_id": "okta-client",
            "secret": "okta-secret",
            "settings": {"server_url": "https://dev-123.okta.com/oauth2/default"},
        }
    ]
    page = browser.get("/accounts/login/", {"next": "/account/apps/"})
    text = page.content.decode()
    assert page.status_code == 200
    assert re.findall(r"Continue with ([A-Za-z]+)</button>", text) == ["Okta", "GitHub", "Google"]
    assert 'action="/accounts/oidc/sso/login/' in text and 'action="/accounts/github/login/' in text
    assert 'name="password"' in text
    csp = dict(part.strip().split(" ", 1) for part in page["Content-Security-Policy"].split(";"))
    assert csp["form-action"] == "'self' https://accounts.google.com https://dev-123.okta.com https://github.com"
    consent = browser.get("/authorize")
    assert "form-action" not in consent["Content-Security-Policy"]  # the consent answer goes to the client


@pytest.mark.django_db
def test_local_login_off_shows_no_password_form_and_refuses_passwords(providers, browser, settings) -> None:
    settings.LOCAL_LOGIN = False
    get_user_model().objects.create_user("alice", password="alice-password-123")
    page = browser.get("/accounts/login/", {"next": "/account/apps/"})
    text = page.content.decode()
    assert page.status_code == 200
    assert 'name="password"' not in text and 'type="password"' not in text
    assert "Continue with GitHub" in text
    answer = browser.post("/accounts/login/", {"username": "alice", "password": "alice-password-123"})
    assert answer.status_code == 403
    assert "Signing in with a password is turned off" in answer.content.decode()
    assert "_auth_user_id" not in browser.session
    # The admin's own sign-in page keeps its password form, for staff only.
    assert b'name="password"' in browser.get("/admin/login/").content


@pytest.mark.django_db
def test_the_admin_user_page_shows_how_each_user_signs_in(providers, browser, client, settings) -> None:
    stub_github()
    sign_in_with(browser, "github")
    octocat = SocialAccount.objects.get(provider="github").user
    get_user_model().objects.create_superuser("root", password="root-password-123")
    log_in(client, "root", "root-password-123", path="/admin/login/")

    listing = client.get("/admin/auth/user/").content.decode()
    assert re.search(r"octocat.*?<td class=\"field-signs_in_with\">GitHub</td>", listing, re.S)
    assert re.search(r"root.*?<td class=\"field-signs_in_with\">password</td>", listing, re.S)
    page = client.get(f"/admin/auth/user/{octocat.pk}/change/").content.decode()
    assert "Signs in with these identity providers" in page and "4242" in page


@pytest.mark.django_db
def test_the_callback_urls_to_register_are_printed(settings) -> None:
    out = io.StringIO()
    call_command("sso_callback_urls", stdout=out)
    text = out.getvalue()
    assert settings.PUBLIC_URL + "/accounts/oidc/sso/login/callback/" in text
    assert settings.PUBLIC_URL + "/accounts/github/login/callback/" in text
    assert settings.PUBLIC_URL + "/accounts/google/login/callback/" in text


@pytest.mark.django_db
def test_key_rotation_reencrypts_the_stored_tokens(providers, browser, settings) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.UPSTREAM_TOKEN_KEYS = [old]
    stub_google()
    sign_in_with(browser, "google")
    stored = SocialToken.objects.get()
    assert Fernet(old.encode()).decrypt(stored.token.encode()).decode() == GOOGLE_TOKEN

    settings.UPSTREAM_TOKEN_KEYS = [new, old]  # the new key first; the old one still opens
    out = io.StringIO()
    call_command("rotate_upstream_tokens", stdout=out)
    assert "1 upstream token" in out.getvalue()
    stored.refresh_from_db()
    assert Fernet(new.encode()).decrypt(stored.token.encode()).decode() == GOOGLE_TOKEN
    assert Fernet(new.encode()).decrypt(stored.token_secret.encode()).decode() == GOOGLE_REFRESH

    settings.UPSTREAM_TOKEN_KEYS = [new]  # the old key can go now
    assert StoredUpstreamTokens().token_for(stored.account.user_id).access_token == GOOGLE_TOKEN


@pytest.mark.django_db
def test_a_social_application_added_in_the_admin_works_too(browser) -> None:
    from allauth.socialaccount.models import SocialApp

    SocialApp.objects.create(
        provider="openid_connect",
        provider_id="corp",
        name="Corp SSO",
        client_id="corp-client",
        secret="corp-secret",
        settings={"server_url": "https://login.corp.example/realms/staff"},
    )
    page = browser.get("/accounts/login/", {"next": "/account/apps/"})
    assert "Continue with Corp SSO" in page.content.decode()
    assert 'action="/accounts/oidc/corp/login/' in page.content.decode()
    assert page["Content-Security-Policy"].endswith("form-action 'self' https://login.corp.example")
    out = io.StringIO()
    call_command("sso_callback_urls", stdout=out)
    assert "Corp SSO" in out.getvalue()


@pytest.mark.django_db
def test_the_security_pages_offer_second_factors_and_linking_a_provider(providers, browser) -> None:
    get_user_model().objects.create_user("hana", password="hana-password-123")
    assert browser.post("/accounts/login/", {"username": "hana", "password": "hana-password-123"}).status_code == 302
    factors = browser.get("/accounts/2fa/").content.decode()
    assert "Authenticator App" in factors and "Linked sign-ins" in factors
    linked = browser.get("/accounts/3rdparty/")
    assert linked.status_code == 200
    assert 'href="/accounts/github/login/?process=connect"' in linked.content.decode()
