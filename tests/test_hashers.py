"""How passwords and client secrets are stored, with the hashers the project configures (the
other in-process tests swap the password hasher for a fast one): people's passwords with Argon2id
at OWASP's parameters, older hashes re-hashed at the next sign-in; client secrets with a fast
keyed hash, older (PBKDF2) ones re-hashed at their next successful use; a wrong client secret is
refused without any slow hash."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, identify_hasher, make_password
from django.test import Client as HttpClient

import config.settings as project_settings
from authserver.hashers import ClientSecretHasher, OWASPArgon2PasswordHasher
from authserver.models import Client
from tests.support.inprocess import MCP_URL, authorize_code, make_client, token_request

pytestmark = pytest.mark.django_db

SECRET = "s3cret-" + "x" * 121  # as long as the secrets django-oauth-toolkit generates


@pytest.fixture(autouse=True)
def configured_hashers(settings) -> None:
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


@pytest.fixture
def slow_hashes(monkeypatch) -> list[str]:
    """The slow hashers' verifications during the test, by algorithm."""
    seen: list[str] = []
    for hasher in (PBKDF2PasswordHasher, OWASPArgon2PasswordHasher):
        original = hasher.verify

        def spy(self, password, encoded, original=original):
            seen.append(self.algorithm)
            return original(self, password, encoded)

        monkeypatch.setattr(hasher, "verify", spy)
    return seen


def test_passwords_are_stored_with_argon2id_at_owasp_parameters() -> None:
    user = get_user_model().objects.create_user("alice", password="alice-password-123")
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert user.check_password("alice-password-123")
    assert not user.check_password("wrong")


def sign_in(password: str) -> int:
    return HttpClient().post("/accounts/login/", {"username": "alice", "password": password}).status_code


@pytest.mark.parametrize("old_hasher", ["pbkdf2_sha256", "argon2"])
def test_signing_in_upgrades_an_older_hash(old_hasher: str) -> None:
    user = get_user_model().objects.create_user("alice")
    if old_hasher == "argon2":
        # Django's own Argon2 parameters (100 MiB, 8 lanes): same algorithm, other settings.
        from django.contrib.auth.hashers import Argon2PasswordHasher

        user.password = Argon2PasswordHasher().encode("alice-password-123", Argon2PasswordHasher().salt())
    else:
        user.password = make_password("alice-password-123", hasher=old_hasher)
    user.save()
    before = user.password

    assert sign_in("wrong-password") == 400
    user.refresh_from_db()
    assert user.password == before  # a failed sign-in changes nothing

    assert sign_in("alice-password-123") == 302
    user.refresh_from_db()
    assert user.password != before
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert sign_in("alice-password-123") == 302


# --- Client secrets ---------------------------------------------------------------------------


def confidential(secret: str = SECRET) -> Client:
    return make_client(client_type=Client.CLIENT_CONFIDENTIAL, client_secret=secret)


def refresh_request(app: Client, refresh_token: str, secret: str) -> dict:
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": app.client_id,
        "client_secret": secret,
        "resource": MCP_URL,
    }


@pytest.fixture
def signed_in() -> HttpClient:
    http = HttpClient()
    http.force_login(get_user_model().objects.create_user("alice", password="alice-password-123"))
    return http


def test_client_secrets_are_stored_with_the_fast_hasher() -> None:
    app = confidential()
    assert identify_hasher(app.client_secret).algorithm == ClientSecretHasher.algorithm == "client_secret_sha256"
    assert app.client_secret.count("$") == 2 and SECRET not in app.client_secret
    assert ClientSecretHasher().verify(SECRET, app.client_secret)
    assert not ClientSecretHasher().verify(SECRET + "x", app.client_secret)


def test_a_wrong_client_secret_is_a_401_without_a_slow_hash(signed_in: HttpClient, slow_hashes: list) -> None:
    app = confidential()
    request, code = authorize_code(signed_in, app)
    refused = token_request(signed_in, request, code, client_secret="not-" + SECRET)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    issued = token_request(signed_in, request, code, client_secret=SECRET)
    assert issued.status_code == 200, issued.content
    assert slow_hashes == []  # neither PBKDF2 nor Argon2 ran, for the wrong secret or the right one


def test_an_old_pbkdf2_secret_is_rehashed_after_one_successful_use(signed_in: HttpClient, slow_hashes: list) -> None:
    app = confidential()
    # As django-oauth-toolkit stored secrets before: Django's PBKDF2 password hasher.
    Client.objects.filter(pk=app.pk).update(client_secret=make_password(SECRET, hasher="pbkdf2_sha256"))
    request, code = authorize_code(signed_in, app)

    refused = token_request(signed_in, request, code, client_secret="not-" + SECRET)
    assert refused.status_code == 401
    app.refresh_from_db()
    assert identify_hasher(app.client_secret).algorithm == "pbkdf2_sha256"  # a failure upgrades nothing
    assert slow_hashes == ["pbkdf2_sha256"]

    issued = token_request(signed_in, request, code, client_secret=SECRET)
    assert issued.status_code == 200, issued.content
    app.refresh_from_db()
    assert identify_hasher(app.client_secret).algorithm == "client_secret_sha256"
    assert slow_hashes == ["pbkdf2_sha256", "pbkdf2_sha256"]

    # From now on only the fast hash: a refresh, and a wrong secret.
    refreshed = signed_in.post("/token", refresh_request(app, issued.json()["refresh_token"], SECRET))
    assert refreshed.status_code == 200, refreshed.content
    wrong = signed_in.post("/token", refresh_request(app, refreshed.json()["refresh_token"], "not-" + SECRET))
    assert wrong.status_code == 401
    assert slow_hashes == ["pbkdf2_sha256", "pbkdf2_sha256"]
