"""Settings of the co-located OAuth authorization server and MCP resource server.

Every value that can change between deployments is read from the environment here, and only
here (see the settings contract in README.md). Everything else derives from `PUBLIC_URL`.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from frontpage.favicon import add_headers as favicon_headers

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.replace(" ", ",").split(",") if item.strip()]


def parse_public_url(value: str) -> str:
    """The origin clients dial: scheme and host (and port), no path, no trailing slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ImproperlyConfigured(f"PUBLIC_URL must be an http(s) origin, not {value!r}")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"PUBLIC_URL must be a bare origin without a path ({value!r}): MCP clients break on issuers with a path"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


# --- The origin, and what derives from it --------------------------------------------------
PORT = env_int("PORT", 8000)
PUBLIC_URL = parse_public_url(env_str("PUBLIC_URL") or f"http://127.0.0.1:{PORT}")
PUBLIC_HOST = urlsplit(PUBLIC_URL).netloc  # host[:port], as a Host header carries it
PUBLIC_HOSTNAME = urlsplit(PUBLIC_URL).hostname or ""
PUBLIC_URL_IS_HTTPS = PUBLIC_URL.startswith("https://")
ISSUER = PUBLIC_URL  # RFC 8414 issuer: the bare origin, identical everywhere it appears
MCP_PATH = "/mcp"
MCP_URL = PUBLIC_URL + MCP_PATH  # RFC 8707/9728 resource: the audience of every MCP token
LOOPBACK_HOSTNAMES = ("127.0.0.1", "localhost", "[::1]", "::1")

# --- Core Django -----------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off (see .env.example)")
    SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"  # noqa: S105 (DEBUG only)

# Loopback names are always accepted: a DNS-rebinding attacker's Host header carries the
# attacker's domain, never a loopback name, and health checks inside a container use them.
ALLOWED_HOSTS = [PUBLIC_HOSTNAME, "127.0.0.1", "localhost", "[::1]", *env_list("EXTRA_ALLOWED_HOSTS")]
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "oauth2_provider",
    "axes",  # sign-in lockout after repeated failures (authserver/throttling.py)
    "authserver",  # before allauth's apps: its templates give allauth's pages this server's look
    # Sign-in with an upstream identity provider, and MFA for local accounts (authserver/sso.py).
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "allauth.mfa",
    "mcpserver",
    "democlient",
    "frontpage",
    "notes",  # the example MCP app (notes/mcp_tools.py): each user's notes as tools, resources, prompts
]
# The MCP conformance suite's fixture tools, resources and prompts (tests turn them on).
MCP_CONFORMANCE_FIXTURES = env_bool("MCP_CONFORMANCE_FIXTURES", False)
if MCP_CONFORMANCE_FIXTURES:
    INSTALLED_APPS.append("conformance_fixtures")
# More apps, by their Python path (comma-separated): an image built on top of ours adds its own
# app this way, and its mcp_tools.py joins the MCP server (docs/extending.md).
EXTRA_APPS = env_list("EXTRA_APPS")
INSTALLED_APPS += [app for app in EXTRA_APPS if app not in INSTALLED_APPS]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "authserver.security.SecurityHeadersMiddleware",  # CSP, no-store (security.py)
    "corsheaders.middleware.CorsMiddleware",
    "authserver.middleware.ApiErrorsAsJsonMiddleware",
    # Inside ApiErrorsAsJsonMiddleware, so that their answers (413/431, 429, 503) win over its 500.
    "authserver.security.RequestLimitsMiddleware",
    "authserver.security.DatabaseOutageMiddleware",
    "authserver.errors.ErrorAnswerMiddleware",  # an OAuthError or ErrorPage raised in a view (a 429 too)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "authserver.mfa.StaffMfaMiddleware",  # MFA_REQUIRED_FOR_STAFF: enrol before /admin/
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "authserver.context_processors.site",
            ],
        },
    },
]

# --- Deployment (docker/, docker-compose*.yml) --------------------------------------------------
# How long the container's start-up (docker/prestart.py) waits for the database to answer.
DATABASE_WAIT_SECONDS = env_int("DATABASE_WAIT_SECONDS", 60)
# Threads per process that run Django's (synchronous) views behind the ASGI router (config/asgi.py).
DJANGO_THREADS = env_int("DJANGO_THREADS", 8)
# The split deployment (docker-compose.split.yml), the two roles on two origins:
# SERVER_ROLE=combined (the default): both roles on PUBLIC_URL, tokens verified by one local query.
# authorization: only the authorization server; the resource it issues tokens for is the resource
#   server's MCP endpoint (RESOURCE_SERVER_URL + /mcp), and it answers RFC 7662 introspection
#   calls of the clients in INTROSPECTION_CLIENT_IDS (authserver/introspection.py).
# resource: only the MCP resource server; its metadata names AUTH_SERVER_URL as the issuer and it
#   verifies tokens by introspection there, remembering answers for INTROSPECTION_CACHE_SECONDS.
SERVER_ROLE = env_str("SERVER_ROLE", "").strip().lower() or "combined"
if SERVER_ROLE not in {"combined", "authorization", "resource"}:
    raise ImproperlyConfigured('SERVER_ROLE must be "combined", "authorization" or "resource"')
INTROSPECTION_CLIENT_ID = env_str("INTROSPECTION_CLIENT_ID", "").strip()
INTROSPECTION_CLIENT_SECRET = env_str("INTROSPECTION_CLIENT_SECRET", "")
INTROSPECTION_CLIENT_IDS: list[str] = []  # who may introspect (authorization role only)
INTROSPECTION_URL = ""  # where the resource role introspects
INTROSPECTION_CACHE_SECONDS = env_int("INTROSPECTION_CACHE_SECONDS", 10)
INTROSPECTION_TIMEOUT = env_int("INTROSPECTION_TIMEOUT", 5)
AUTH_SERVER_URL = ""
if SERVER_ROLE == "authorization":
    if not env_str("RESOURCE_SERVER_URL"):
        raise ImproperlyConfigured("SERVER_ROLE=authorization needs RESOURCE_SERVER_URL (the MCP server's origin)")
    MCP_URL = parse_public_url(env_str("RESOURCE_SERVER_URL")) + MCP_PATH  # the one served resource
    own_client = [INTROSPECTION_CLIENT_ID] if INTROSPECTION_CLIENT_ID else []
    INTROSPECTION_CLIENT_IDS = env_list("INTROSPECTION_CLIENT_IDS", own_client)
elif SERVER_ROLE == "resource":
    if not env_str("AUTH_SERVER_URL"):
        raise ImproperlyConfigured("SERVER_ROLE=resource needs AUTH_SERVER_URL (the authorization server's issuer)")
    if not (INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET):
        raise ImproperlyConfigured("SERVER_ROLE=resource needs INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET")
    AUTH_SERVER_URL = parse_public_url(env_str("AUTH_SERVER_URL"))
    ISSUER = AUTH_SERVER_URL  # named in the protected-resource metadata's authorization_servers
    INTROSPECTION_URL = env_str("INTROSPECTION_URL", "").strip() or AUTH_SERVER_URL + "/introspect"
if SERVER_ROLE != "combined":
    # Each role answers only its own paths; the combined default has no such middleware at all.
    MIDDLEWARE.insert(1, "config.roles.RolePathsMiddleware")

# --- Database --------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn workers share one SQLite file: WAL lets readers run beside the writer,
    # the busy timeout makes a writer wait instead of failing, and IMMEDIATE transactions take
    # the write lock up front, so two transactions never deadlock upgrading a read lock
    # ("database is locked").
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared state between workers and replicas (throttle backoffs, CIMD failure backoff) lives in
# Redis when REDIS_URL is set, otherwise in the database: never in one process's memory.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Auth pages --------------------------------------------------------------------------------
# How passwords and client secrets are stored (authserver/hashers.py; SECURITY.md says why): new
# and re-hashed passwords with Argon2id at OWASP's parameters (the first entry); hashes of the
# others are still accepted and re-hashed with it at the next sign-in; client secrets with a fast
# keyed hash (OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]), never used for a password.
PASSWORD_HASHERS = [
    "authserver.hashers.OWASPArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "authserver.hashers.ClientSecretHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
CSRF_FAILURE_VIEW = "authserver.errors.csrf_failure"
LOGIN_REDIRECT_URL = "account-apps"
LOGOUT_REDIRECT_URL = "login"

DEMO_USERNAME = env_str("DEMO_USERNAME", "")
DEMO_PASSWORD = env_str("DEMO_PASSWORD", "")
ADMIN_USERNAME = env_str("ADMIN_USERNAME", "")
ADMIN_PASSWORD = env_str("ADMIN_PASSWORD", "")
ADMIN_EMAIL = env_str("ADMIN_EMAIL", "")

# --- Sign-in with an upstream identity provider; MFA for local accounts (django-allauth) --------
# authserver/sso.py: the linking rules, the allowed e-mail domains, administrators by group.
# LOCAL_LOGIN off: no password form for end users (the admin's own sign-in page keeps it).
LOCAL_LOGIN = env_bool("LOCAL_LOGIN", True)
SSO_OIDC_ISSUER = env_str("SSO_OIDC_ISSUER", "").strip().rstrip("/")
SSO_OIDC_CLIENT_ID = env_str("SSO_OIDC_CLIENT_ID", "").strip()
SSO_OIDC_CLIENT_SECRET = env_str("SSO_OIDC_CLIENT_SECRET", "")
SSO_OIDC_NAME = env_str("SSO_OIDC_NAME", "").strip() or "your organisation"
SSO_OIDC_SCOPES = env_list("SSO_OIDC_SCOPES") or ["openid", "email", "profile"]
SSO_OIDC_PROVIDER_ID = "sso"  # in the callback URL: /accounts/oidc/sso/login/callback/
SSO_GITHUB_CLIENT_ID = env_str("SSO_GITHUB_CLIENT_ID", "").strip()
SSO_GITHUB_CLIENT_SECRET = env_str("SSO_GITHUB_CLIENT_SECRET", "")
SSO_GOOGLE_CLIENT_ID = env_str("SSO_GOOGLE_CLIENT_ID", "").strip()
SSO_GOOGLE_CLIENT_SECRET = env_str("SSO_GOOGLE_CLIENT_SECRET", "")
# Only people with a verified e-mail address in one of these domains sign in through a provider.
SSO_ALLOWED_EMAIL_DOMAINS = [domain.lower().lstrip("@") for domain in env_list("SSO_ALLOWED_EMAIL_DOMAINS")]
# Members of these groups (the OpenID Connect `groups` claim) are administrators, others are not.
SSO_STAFF_GROUPS = env_list("SSO_STAFF_GROUPS")

SOCIALACCOUNT_PROVIDERS: dict[str, dict] = {
    "openid_connect": {"OAUTH_PKCE_ENABLED": True},
    "google": {"OAUTH_PKCE_ENABLED": True, "AUTH_PARAMS": {"access_type": "offline"}},
    "github": {},
}
if SSO_OIDC_ISSUER:
    if not (SSO_OIDC_CLIENT_ID and SSO_OIDC_CLIENT_SECRET):
        raise ImproperlyConfigured("SSO_OIDC_ISSUER needs SSO_OIDC_CLIENT_ID and SSO_OIDC_CLIENT_SECRET")
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] = [
        {
            "provider_id": SSO_OIDC_PROVIDER_ID,
            "name": SSO_OIDC_NAME,
            "client_id": SSO_OIDC_CLIENT_ID,
            "secret": SSO_OIDC_CLIENT_SECRET,
            "settings": {"server_url": SSO_OIDC_ISSUER, "scope": SSO_OIDC_SCOPES},
        }
    ]
for _provider, _client_id, _secret in (
    ("github", SSO_GITHUB_CLIENT_ID, SSO_GITHUB_CLIENT_SECRET),
    ("google", SSO_GOOGLE_CLIENT_ID, SSO_GOOGLE_CLIENT_SECRET),
):
    if _client_id:
        if not _secret:
            raise ImproperlyConfigured(f"SSO_{_provider.upper()}_CLIENT_ID needs SSO_{_provider.upper()}_CLIENT_SECRET")
        SOCIALACCOUNT_PROVIDERS[_provider]["APPS"] = [{"client_id": _client_id, "secret": _secret}]

ACCOUNT_ADAPTER = "authserver.sso.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "authserver.sso.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # this server sends no mail; providers vouch for addresses
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # linking by e-mail is authserver/sso.py's rule, not allauth's
SOCIALACCOUNT_QUERY_EMAIL = True
# Upstream tokens are stored by authserver/upstream.py, encrypted; allauth would store them in clear.
SOCIALACCOUNT_STORE_TOKENS = False
# Keys that encrypt the upstream tokens at rest (Fernet, comma-separated, the first encrypts, all
# decrypt: rotation, README). Unset: one key derived from SECRET_KEY.
UPSTREAM_TOKEN_KEYS = env_list("UPSTREAM_TOKEN_KEYS")
# Where tools get a person's upstream access token (common/upstream.py); the resource server of
# the split deployment has none (it holds no sign-ins).
UPSTREAM_TOKEN_SOURCE = "" if SERVER_ROLE == "resource" else "authserver.upstream.StoredUpstreamTokens"

# MFA for local accounts: an authenticator app (TOTP) with recovery codes, and passkeys/security
# keys (WebAuthn) where the browser has them. Administrators must enrol before they reach /admin/.
MFA_ADAPTER = "authserver.mfa.MFAAdapter"  # authenticator secrets encrypted like the upstream tokens
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_REQUIRED_FOR_STAFF = env_bool("MFA_REQUIRED_FOR_STAFF", not DEBUG)
# Browsers treat http://127.0.0.1 as a secure context; fido2 needs to be told to accept it too.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not PUBLIC_URL_IS_HTTPS

# --- Internationalisation and static files ------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Where `collectstatic` ran (the container image), whitenoise serves hashed, compressed files that
# browsers may cache for good; elsewhere (`make run`, tests) it serves the apps' files directly.
STATIC_COLLECTED = (STATIC_ROOT / "staticfiles.json").exists()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_COLLECTED
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_COLLECTED
WHITENOISE_AUTOREFRESH = DEBUG
# Files served at the site's root: the favicon, which browsers ask for on every page.
WHITENOISE_ROOT = BASE_DIR / "frontpage" / "root"
WHITENOISE_ADD_HEADERS_FUNCTION = favicon_headers

# --- Security headers -----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
if PUBLIC_URL_IS_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = False
# TLS is terminated by the proxy in front of us: uvicorn turns X-Forwarded-Proto from trusted
# addresses (FORWARDED_ALLOW_IPS) into the request scheme, so Django sees https without
# trusting the header from anyone else, and it never redirects to https by itself.
SECURE_SSL_REDIRECT = False

# --- CORS (django-cors-headers): discovery and the OAuth endpoints a browser client calls ------
# `/` is the issuer URL, which answers its metadata to programs too (frontpage/views.py).
CORS_URLS_REGEX = r"^/(|\.well-known/.*|token|register(/.*)?|revoke)$"
CORS_ALLOW_ALL_ORIGINS = True  # no cookies on these endpoints, so any origin may read them
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "mcp-protocol-version",
    "user-agent",
    "x-requested-with",
)
CORS_EXPOSE_HEADERS = ("www-authenticate", "etag", "cache-control", "retry-after")
CORS_PREFLIGHT_MAX_AGE = 86400

# --- The authorization server (django-oauth-toolkit) -------------------------------------------
OAUTH2_PROVIDER_APPLICATION_MODEL = "authserver.Client"
# Private-use redirect URI schemes that self-registered clients may use (RFC 8252 §7.1).
PRIVATE_REDIRECT_SCHEMES = env_list("PRIVATE_REDIRECT_SCHEMES", ["cursor", "vscode", "vscode-insiders"])
ACCESS_TOKEN_LIFETIME = env_int("ACCESS_TOKEN_LIFETIME", 3600)
if not 0 < ACCESS_TOKEN_LIFETIME <= 3600:
    raise ImproperlyConfigured("ACCESS_TOKEN_LIFETIME must be between 1 and 3600 seconds")
REFRESH_TOKEN_LIFETIME = env_int("REFRESH_TOKEN_LIFETIME", 30 * 24 * 3600)
# A rotated refresh token presented again revokes its whole family (RFC 9700 §4.14.2), except
# within this many seconds of its rotation: parallel requests from one client racing to refresh
# are refused, but do not log the client out.
REFRESH_TOKEN_REUSE_LEEWAY = env_int("REFRESH_TOKEN_REUSE_LEEWAY", 5)

# Hosts whose URL client ids (CIMD) may register, in ALLOWED_HOSTS syntax; empty = any public host.
CIMD_ALLOWED_HOSTS = env_list("CIMD_ALLOWED_HOSTS")
# Whether clients that register themselves (RFC 7591) or by URL (CIMD) work at once ("auto") or
# wait for an administrator's approval ("manual").
NEW_CLIENT_APPROVAL = env_str("NEW_CLIENT_APPROVAL", "auto").strip().lower()
if NEW_CLIENT_APPROVAL not in {"auto", "manual"}:
    raise ImproperlyConfigured('NEW_CLIENT_APPROVAL must be "auto" or "manual"')

# Scopes of the authorization server alone, never of the MCP server: accepted wherever clients
# send scopes (registration, /authorize, /token), listed in the AS metadata's scopes_supported
# (SEP-2207), and otherwise without effect: refresh tokens are always issued. Never in the
# protected-resource metadata, a challenge, a token or the consent page (authserver/scopes.py).
AUTHORIZATION_SERVER_SCOPES = ["offline_access"]

# --- Client authentication with a signed JWT (RFC 7523 private_key_jwt; authserver/client_auth.py) ----
# The signing algorithms an assertion may use: asymmetric only, never "none" or an HMAC (whose
# "secret" an attacker would take from the client's public key).
CLIENT_ASSERTION_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
# An assertion's exp may lie at most this many seconds ahead: assertions are single-use and
# short-lived (its jti is remembered until exp, so this also bounds the replay store).
CLIENT_ASSERTION_MAX_LIFETIME = env_int("CLIENT_ASSERTION_MAX_LIFETIME", 300)
# Clock skew allowed between the client and this server, for exp, iat and nbf.
CLIENT_ASSERTION_LEEWAY = env_int("CLIENT_ASSERTION_LEEWAY", 30)
# A key id not in a client's cached JWKS refetches it (key rotation), at most once this often.
CLIENT_JWKS_REFETCH_SECONDS = env_int("CLIENT_JWKS_REFETCH_SECONDS", 60)
if not 30 <= CLIENT_ASSERTION_MAX_LIFETIME <= 3600:
    raise ImproperlyConfigured("CLIENT_ASSERTION_MAX_LIFETIME must be between 30 and 3600 seconds")
if not 0 <= CLIENT_ASSERTION_LEEWAY <= 300:
    raise ImproperlyConfigured("CLIENT_ASSERTION_LEEWAY must be between 0 and 300 seconds")
# Where client metadata documents (CIMD) and client JWKS come from: one egress point. The
# default is django-oauth-toolkit's SSRF-safe fetcher (https only, public addresses only, no
# redirects, size cap, timeout); tests put a stand-in for the remote web servers here.
CLIENT_DOCUMENT_FETCHER = env_str("CIMD_FETCHER", "oauth2_provider.cimd.SafeMetadataFetcher")

OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "authserver.validators.MCPOAuth2Validator",
    # Client secrets are random and long: a fast hash (authserver/hashers.py), not a password's.
    "CLIENT_SECRET_HASHER": "client_secret_sha256",
    # Token values as oauthlib makes them, from one read of the random source (token_values.py).
    "ACCESS_TOKEN_GENERATOR": "authserver.token_values.new_token",
    "APPLICATION_ADMIN_CLASS": "authserver.admin.ClientAdmin",
    "OIDC_ISS_ENDPOINT": ISSUER,  # feeds the AS metadata, the PRM and the RFC 9207 `iss`
    # The scopes are the ones the apps declare (common/scopes.py), read through this backend.
    "SCOPES_BACKEND_CLASS": "authserver.scopes.DeclaredScopes",
    "ACCESS_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_LIFETIME,
    "REFRESH_TOKEN_EXPIRE_SECONDS": REFRESH_TOKEN_LIFETIME,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,  # required by hashed storage
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,  # S256 only
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": False,  # private-use schemes are allowed on purpose
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http", *PRIVATE_REDIRECT_SCHEMES],
    "REQUEST_APPROVAL_PROMPT": "force",
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "none",
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ],
    # Dynamic client registration (RFC 7591/7592), open but throttled (authserver.registration).
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("authserver.registration.OpenRegistrationPermission",),
    "DCR_REGISTRATION_TOKEN_EXPIRE_SECONDS": env_int("REGISTRATION_TOKEN_LIFETIME", 24 * 3600),
    # Client ID Metadata Documents: a client_id that is an https URL is fetched (SSRF-hardened).
    "CIMD_ENABLED": env_bool("CIMD_ENABLED", True),
    # DOT's documented hook for a fetcher with site policy: ours fetches through
    # CLIENT_DOCUMENT_FETCHER (CIMD_FETCHER, which tests replace so that they never touch the
    # network) and admits private_key_jwt documents (authserver/client_documents.py).
    "CIMD_METADATA_FETCHER": "authserver.client_documents.ClientDocumentFetcher",
    # With CIMD_ALLOWED_HOSTS set, only URL client ids on those hosts may register.
    "CIMD_REGISTRATION_PERMISSION_CLASSES": (
        ("oauth2_provider.cimd.HostAllowlistCIMDPermission",)
        if CIMD_ALLOWED_HOSTS
        else ("oauth2_provider.cimd.AllowAllCIMDPermission",)
    ),
    "CIMD_ALLOWED_HOSTS": CIMD_ALLOWED_HOSTS,
    # RFC 9728 protected-resource metadata for the MCP endpoint.
    "OAUTH2_PROTECTED_RESOURCE_IDENTIFIER": MCP_URL,
    "OAUTH2_PROTECTED_RESOURCE_AUTHORIZATION_SERVERS": [ISSUER],
    "OAUTH2_PROTECTED_RESOURCE_BEARER_METHODS_SUPPORTED": ["header"],
    "OAUTH2_PROTECTED_RESOURCE_NAME": env_str("RESOURCE_NAME", "Notes MCP server"),
    "OAUTH2_PROTECTED_RESOURCE_DOCUMENTATION": PUBLIC_URL + "/docs/",
}

MFA_TOTP_ISSUER = OAUTH2_PROVIDER["OAUTH2_PROTECTED_RESOURCE_NAME"]  # what authenticator apps show

# The refresh grant's lean path (authserver/lean_refresh.py; PostgreSQL only): the ordinary
# rotation of a live refresh token is answered without Django's request cycle, oauthlib or the
# ORM, on a small pool of asynchronous connections per worker; everything else still goes to
# django-oauth-toolkit. Off: every grant through DOT.
LEAN_REFRESH = env_bool("LEAN_REFRESH", True)
LEAN_REFRESH_CONNECTIONS = env_int("LEAN_REFRESH_CONNECTIONS", 4)

# Self-registration throttle, per client IP, shared by every worker and replica (database).
REGISTRATION_RATE_LIMIT = env_int("REGISTRATION_RATE_LIMIT", 20)
REGISTRATION_RATE_WINDOW = env_int("REGISTRATION_RATE_WINDOW", 3600)
# Clients that registered themselves (or by URL) and never obtained a token are pruned after this.
PRUNE_UNUSED_CLIENTS_DAYS = env_int("PRUNE_UNUSED_CLIENTS_DAYS", 7)

# --- The MCP resource server ------------------------------------------------------------------------
MCP_STATEFUL = env_bool("MCP_STATEFUL", False)
MCP_JSON_RESPONSE = env_bool("MCP_JSON_RESPONSE", False)
# What the MCP server says about itself to clients (initialize / server/discover).
MCP_SERVER_NAME = env_str("MCP_SERVER_NAME", "").strip() or "notes-mcp"
MCP_SERVER_TITLE = env_str("MCP_SERVER_TITLE", "Notes").strip()
MCP_SERVER_VERSION = env_str("MCP_SERVER_VERSION", "").strip() or "1.0.0"
MCP_SERVER_INSTRUCTIONS = env_str(
    "MCP_SERVER_INSTRUCTIONS", "Search, read and write the signed-in user's notes."
).strip()
MCP_MAX_BODY_BYTES = env_int("MCP_MAX_BODY_BYTES", 1024 * 1024)
# Threads that run the MCP endpoint's database work, each with its own connection (mcpserver/db.py).
MCP_DB_THREADS = env_int("MCP_DB_THREADS", 4)
MCP_PROTECTED_RESOURCE_METADATA_URL = PUBLIC_URL + "/.well-known/oauth-protected-resource" + MCP_PATH
# Seconds a token accepted at /mcp is accepted again without the database lookup (per process;
# mcpserver/token_cache.py). On PostgreSQL every worker hears revocations as they commit
# (mcpserver/revocations.py), so the cache is on by default there; elsewhere nothing tells other
# workers, so it is off by default and, when set, also the longest a token revoked through
# another worker can still be used. 0 looks every token up.
MCP_TOKEN_CACHE_SECONDS = env_int(
    "MCP_TOKEN_CACHE_SECONDS", 30 if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" else 0
)
if not 0 <= MCP_TOKEN_CACHE_SECONDS <= 300:
    raise ImproperlyConfigured("MCP_TOKEN_CACHE_SECONDS must be between 0 and 300")
# Browser origins allowed to call /mcp (Origin is checked against DNS rebinding). A loopback
# PUBLIC_URL also admits loopback origins on any port, for local browser clients such as the
# MCP Inspector.
MCP_ALLOWED_ORIGINS = [PUBLIC_URL, *env_list("MCP_ALLOWED_ORIGINS")]
if PUBLIC_HOSTNAME in LOOPBACK_HOSTNAMES:
    MCP_ALLOWED_ORIGINS += ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]

# --- The front page (frontpage/) -------------------------------------------------------------------
# Its self-check runs the discovery doctor against MCP_URL from inside the server (at most once a
# minute). Turn it off where the server cannot reach its own public address by design (a load
# balancer without hairpin routing): the page would show a failure clients do not meet.
FRONT_PAGE_SELF_CHECK = env_bool("FRONT_PAGE_SELF_CHECK", True)

# --- Logging: one line per event on stdout ---------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "common.log_format.JsonLineFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "oauth2_provider": {"level": "WARNING"},
        "mcp": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
    },
}

# --- Abuse limits, request limits, the audit trail (authserver/throttling.py, security.py) ----
# Fixed-window limits per client IP and in total, counted in the database (shared by every
# worker and replica); past one, a 429 with Retry-After. Each is `<NAME>_RATE_LIMIT` (per IP),
# `<NAME>_GLOBAL_RATE_LIMIT` (all clients together) and `<NAME>_RATE_WINDOW` (seconds).
from datetime import timedelta  # noqa: E402


def env_limit(name: str, per_ip: int, total: int, window: int) -> tuple[int, int, int]:
    """(per IP, in total, window seconds) of one limit, each overridable from the environment."""
    return (
        env_int(f"{name}_RATE_LIMIT", per_ip),
        env_int(f"{name}_GLOBAL_RATE_LIMIT", total),
        env_int(f"{name}_RATE_WINDOW", window),
    )


THROTTLES = {
    "register": (REGISTRATION_RATE_LIMIT, env_int("REGISTRATION_GLOBAL_RATE_LIMIT", 1000), REGISTRATION_RATE_WINDOW),
    "token": env_limit("TOKEN", 300, 10000, 60),
    "login": env_limit("LOGIN", 60, 3000, 300),
    "cimd": env_limit("CIMD_FETCH", 30, 600, 300),
}
# Every URL client id seen for the first time costs an outbound fetch: limited like the rest.
OAUTH2_PROVIDER["CIMD_REGISTRATION_PERMISSION_CLASSES"] = (
    *OAUTH2_PROVIDER["CIMD_REGISTRATION_PERMISSION_CLASSES"],
    "authserver.throttling.CIMDFetchThrottle",
)
# Sign-in lockout (django-axes): after LOGIN_FAILURE_LIMIT failures for one username from one
# IP, that pair is locked out for LOGIN_LOCKOUT_SECONDS (each failure meanwhile restarts it).
AUTHENTICATION_BACKENDS = [
    "authserver.throttling.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("LOGIN_LOCKOUT_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("LOGIN_LOCKOUT_SECONDS", 900))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "authserver.throttling.address_or_none"
AXES_LOCKOUT_CALLABLE = "authserver.throttling.lockout_response"
AXES_ENABLE_ADMIN = True
# Bodies and headers past these are refused before anything parses them (413/431); /mcp has
# its own body limit (MCP_MAX_BODY_BYTES) and shares the header limits.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("REQUEST_MAX_BODY_BYTES", 256 * 1024)
REQUEST_MAX_HEADER_BYTES = env_int("REQUEST_MAX_HEADER_BYTES", 32 * 1024)
REQUEST_MAX_HEADER_COUNT = env_int("REQUEST_MAX_HEADER_COUNT", 100)
REQUEST_MAX_JSON_DEPTH = env_int("REQUEST_MAX_JSON_DEPTH", 64)
# While the database is unreachable, requests get 503 with this Retry-After (seconds).
DATABASE_OUTAGE_RETRY_AFTER = env_int("DATABASE_OUTAGE_RETRY_AFTER", 5)
# The audit trail (common/audit.py) is kept whatever LOG_LEVEL says.
LOGGING["loggers"]["audit"] = {"level": env_str("AUDIT_LOG_LEVEL", "INFO").upper()}
LOGGING["loggers"]["axes"] = {"level": "WARNING"}
# `manage.py check --deploy` warnings accepted on purpose (README.md, "Security"):
SILENCED_SYSTEM_CHECKS = [
    "security.W008",  # TLS and the http→https redirect belong to the proxy in front (SECURE_SSL_REDIRECT above)
    "security.W005",  # HSTS for every subdomain is a decision about the whole domain: SECURE_HSTS_INCLUDE_SUBDOMAINS
    "security.W021",  # so is the HSTS preload list, which is hard to leave again
    "oauth2_provider.W008",  # http redirect URIs: loopback only, for native apps (RFC 8252 §7.3; redirects.py)
]
