"""MFA for local accounts (django-allauth's `mfa`): MFA_REQUIRED_FOR_STAFF sends an administrator
without a second factor to enrol before any admin page; a password sign-in (ours and the admin's)
asks an enrolled account for its code; a wrong code is refused, recorded and throttled; the
authenticator secret is encrypted at rest."""

from __future__ import annotations

import logging
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.contrib.auth import get_user_model
from django.test import Client as DjangoClient

from common.upstream import decrypt

PASSWORD = "a-long-enough-password"


@pytest.fixture
def browser(settings) -> DjangoClient:
    return DjangoClient(HTTP_HOST=settings.PUBLIC_HOST, REMOTE_ADDR="127.0.0.1", HTTP_ACCEPT="text/html")


def code_for(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def with_totp(user) -> str:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def sign_in(browser: DjangoClient, username: str, path: str = "/accounts/login/", next_url: str = "/account/apps/"):
    return browser.post(path, {"username": username, "password": PASSWORD, "next": next_url})


@pytest.mark.django_db
def test_a_staff_user_without_mfa_is_sent_to_enrol_before_the_admin(browser, settings) -> None:
    settings.MFA_REQUIRED_FOR_STAFF = True
    admin = get_user_model().objects.create_superuser("boss", password=PASSWORD)
    answer = sign_in(browser, "boss", path="/admin/login/", next_url="/admin/")
    assert answer.status_code == 302 and answer["Location"] == "/admin/"

    for page in ("/admin/", "/admin/authserver/client/", "/admin/auth/user/"):
        refused = browser.get(page)
        assert refused.status_code == 302 and refused["Location"] == "/accounts/2fa/", page
    enrol = browser.get("/accounts/2fa/")
    assert enrol.status_code == 200
    assert "Administrators of this server need a second factor" in enrol.content.decode()

    with_totp(admin)
    assert browser.get("/admin/").status_code == 200

    # Off: the same administrator without a factor reaches the admin.
    Authenticator.objects.filter(user=admin).delete()
    settings.MFA_REQUIRED_FOR_STAFF = False
    assert browser.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_only_local_administrators_must_enrol(browser, settings) -> None:
    settings.MFA_REQUIRED_FOR_STAFF = True
    get_user_model().objects.create_user("plain", password=PASSWORD)
    sign_in(browser, "plain")
    assert browser.get("/account/apps/").status_code == 200
    # An administrator by their identity provider (no password here) has their second factor there.
    upstream = get_user_model().objects.create_user("from-idp", is_staff=True, is_superuser=True)
    upstream.set_unusable_password()
    upstream.save()
    browser.force_login(upstream)
    assert browser.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_password_sign_in_asks_for_the_code_and_refuses_a_wrong_one(browser, caplog) -> None:
    user = get_user_model().objects.create_user("carol", password=PASSWORD)
    secret = with_totp(user)
    stored = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data["secret"]
    assert stored != secret and decrypt(stored) == secret  # encrypted at rest

    answer = sign_in(browser, "carol")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in browser.session  # not signed in before the second factor
    prompt = browser.get("/accounts/2fa/authenticate/")
    assert prompt.status_code == 200 and 'autocomplete="one-time-code"' in prompt.content.decode()

    with caplog.at_level(logging.INFO, logger="audit"):
        wrong = browser.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200
    assert "Incorrect code." in wrong.content.decode()
    assert "_auth_user_id" not in browser.session
    failures = [r.audit for r in caplog.records if getattr(r, "audit", {}).get("event") == "mfa_failed"]
    assert failures == [
        {"event": "mfa_failed", "user_id": str(user.pk), "type": "totp", "ip": "127.0.0.1", "reauthentication": False}
    ]

    with caplog.at_level(logging.INFO, logger="audit"):
        right = browser.post("/accounts/2fa/authenticate/", {"code": code_for(secret)})
    assert right.status_code == 302 and right["Location"] == "/account/apps/"
    assert browser.session["_auth_user_id"] == str(user.pk)
    login = next(r.audit for r in caplog.records if getattr(r, "audit", {}).get("event") == "login_succeeded")
    assert (login["method"], login["mfa"]) == ("password", "totp")


@pytest.mark.django_db
def test_wrong_codes_are_throttled_per_account_and_per_address(browser, settings) -> None:
    user = get_user_model().objects.create_user("dave", password=PASSWORD)
    secret = with_totp(user)
    sign_in(browser, "dave")
    for _ in range(5):  # allauth's limit on failed codes per account (ACCOUNT_RATE_LIMITS login_failed)
        assert "Incorrect code." in browser.post("/accounts/2fa/authenticate/", {"code": "000000"}).content.decode()
    locked = browser.post("/accounts/2fa/authenticate/", {"code": code_for(secret)})
    assert locked.status_code == 200
    assert "Too many failed login attempts" in locked.content.decode()
    assert "_auth_user_id" not in browser.session  # even the right code waits now

    # This server's own limit on sign-in attempts per address counts the code attempts too.
    settings.THROTTLES = {**settings.THROTTLES, "login": (2, 1000, 300)}
    other = DjangoClient(HTTP_HOST=settings.PUBLIC_HOST, REMOTE_ADDR="192.0.2.7", HTTP_ACCEPT="text/html")
    erin = get_user_model().objects.create_user("erin", password=PASSWORD)
    with_totp(erin)
    assert sign_in(other, "erin").status_code == 302  # attempt 1
    assert other.post("/accounts/2fa/authenticate/", {"code": "000000"}).status_code == 200  # attempt 2
    throttled = other.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert throttled.status_code == 429
    assert throttled["Retry-After"].isdigit()
    assert "Too many sign-in attempts" in throttled.content.decode()


@pytest.mark.django_db
def test_the_admin_sign_in_asks_an_enrolled_administrator_for_the_code(browser) -> None:
    admin = get_user_model().objects.create_superuser("root", password=PASSWORD)
    secret = with_totp(admin)
    answer = sign_in(browser, "root", path="/admin/login/", next_url="/admin/")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/2fa/authenticate/"
    assert browser.get("/admin/").status_code == 302  # not in yet
    done = browser.post("/accounts/2fa/authenticate/", {"code": code_for(secret)})
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_enrolment_is_recorded(browser, caplog, django_capture_on_commit_callbacks) -> None:
    user = get_user_model().objects.create_user("fay", password=PASSWORD)
    sign_in(browser, "fay", next_url="/accounts/2fa/totp/activate/")
    reauth = browser.get("/accounts/2fa/totp/activate/")
    assert reauth.status_code == 302 and reauth["Location"].startswith("/accounts/reauthenticate/")
    assert browser.post(reauth["Location"], {"password": PASSWORD}).status_code == 302
    page = browser.get("/accounts/2fa/totp/activate/")
    secret = page.context["form"].secret
    with caplog.at_level(logging.INFO, logger="audit"), django_capture_on_commit_callbacks(execute=True):
        done = browser.post("/accounts/2fa/totp/activate/", {"code": code_for(secret)})
    assert done.status_code == 302
    events = [r.audit for r in caplog.records if getattr(r, "audit", {}).get("event") == "mfa_enrolled"]
    assert {event["type"] for event in events} == {"totp", "recovery_codes"}
    assert all(event["user_id"] == str(user.pk) for event in events)
