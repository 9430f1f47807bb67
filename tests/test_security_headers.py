"""Security headers on the pages and endpoints that carry credentials, templates that keep to
the Content-Security-Policy, `check --deploy` with production settings, and no secret in the
repository or the image."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.test import Client as DjangoClient

from authserver.security import CONTENT_SECURITY_POLICY
from democlient.flow import Pkce
from tests.support import security_rows as rows

ROOT = Path(__file__).resolve().parents[1]


def assert_page_headers(response) -> None:
    csp = response["Content-Security-Policy"]
    # The sign-in pages add where their forms may lead (the configured identity providers).
    assert csp.split("; form-action ")[0] == CONTENT_SECURITY_POLICY
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def assert_no_store(response) -> None:
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"


@pytest.mark.django_db
def test_login_page_has_csp_no_framing_and_no_store(client) -> None:
    response = client.get("/accounts/login/?" + urlencode({"next": "/authorize?client_id=x"}), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b'name="password"' in response.content
    assert_page_headers(response)
    assert response["Content-Security-Policy"].endswith("; form-action 'self'")  # no provider configured
    assert_no_store(response)


@pytest.mark.django_db
def test_consent_page_and_token_response_are_never_stored(client) -> None:
    user = rows.make_user()
    app = rows.make_client()
    client.force_login(user)
    pkce = Pkce.new()

    page = rows.consent_page(client, app, pkce)
    assert page.status_code == 200
    assert b'id="authorizationForm"' in page.content
    assert_page_headers(page)
    assert_no_store(page)

    code = rows.authorization_code(client, app, pkce)
    token = rows.exchange(client, app, pkce, code)
    assert token.status_code == 200
    assert token.json()["token_type"] == "Bearer"
    assert_no_store(token)

    refused = rows.exchange(client, app, pkce, code)  # a replay
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert_no_store(refused)


@pytest.mark.django_db
def test_tokens_are_stored_only_as_hashes(client) -> None:
    # A copy of the database is no bag of live tokens: only SHA-256 checksums are kept.
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    user, app = rows.make_user(), rows.make_client()
    client.force_login(user)
    pkce = Pkce.new()
    issued = rows.exchange(client, app, pkce, rows.authorization_code(client, app, pkce)).json()
    access = get_access_token_model().objects.get(application=app)
    refresh = get_refresh_token_model().objects.get(application=app)
    assert access.token == "" and refresh.token == ""
    assert access.token_checksum == hashlib.sha256(issued["access_token"].encode()).hexdigest()
    assert refresh.token_checksum == hashlib.sha256(issued["refresh_token"].encode()).hexdigest()


@pytest.mark.django_db
def test_consent_cannot_be_forged_from_another_site() -> None:
    # CSRF: a page elsewhere that posts the consent form for a signed-in user gets 403 and no
    # code; and no page elsewhere can frame ours to trick a click (frame-ancestors, X-Frame-Options).
    user, app = rows.make_user(), rows.make_client()
    browser = DjangoClient(enforce_csrf_checks=True)
    browser.force_login(user)
    pkce = Pkce.new()
    page = rows.consent_page(browser, app, pkce)
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"] and page["X-Frame-Options"] == "DENY"
    forged = {**rows.authorization_params(app, pkce), "allow": "on"}
    answer = browser.post("/authorize", forged, HTTP_ACCEPT="text/html", HTTP_ORIGIN="https://evil.example")
    assert answer.status_code == 403
    assert "Location" not in answer


@pytest.mark.django_db
def test_error_page_for_people_has_the_same_headers(client) -> None:
    response = client.get(
        "/authorize?"
        + urlencode({"response_type": "code", "client_id": "nobody", "redirect_uri": "https://evil.example/"}),
        HTTP_ACCEPT="text/html",
    )
    assert response.status_code in (400, 401)
    assert response["Content-Type"].startswith("text/html")
    assert b'id="error-title"' in response.content
    assert "Location" not in response  # never sent to an untrusted redirect URI
    assert_page_headers(response)
    assert_no_store(response)


@pytest.mark.django_db
def test_registration_and_revocation_answers_are_not_stored(client) -> None:
    registered = client.post(
        "/register",
        data={"redirect_uris": [rows.REDIRECT_URI], "token_endpoint_auth_method": "none"},
        content_type="application/json",
    )
    assert registered.status_code == 201
    assert_no_store(registered)
    revoked = client.post("/revoke", {"token": "unknown", "client_id": registered.json()["client_id"]})
    assert revoked.status_code == 200
    assert_no_store(revoked)


@pytest.mark.django_db
def test_discovery_documents_stay_cacheable(client) -> None:
    # Public documents: cacheable, framing refused all the same.
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


# --- The templates keep to the policy --------------------------------------------------------

INLINE_CODE = [
    # A JSON data block (allauth's MFA pages pass data to their script files so) is never run.
    (re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def project_templates() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.html")
        if ".venv" not in path.parts and "node_modules" not in path.parts and "staticfiles" not in path.parts
    ]


def inline_code_in(text: str) -> list[str]:
    return [what for pattern, what in INLINE_CODE if pattern.search(text)]


def test_the_inline_code_check_finds_inline_code() -> None:
    assert inline_code_in("<script>alert(1)</script>") == ["an inline <script>"]
    assert inline_code_in('<button onclick="x()">') == ["an inline event handler"]
    assert inline_code_in('<p style="color:red">') == ["a style attribute"]
    assert inline_code_in('<script src="/static/a.js"></script><p class="x">') == []
    assert inline_code_in('<script type="application/json">{"ids": {}}</script>') == []


def test_templates_have_no_inline_code_the_policy_would_block() -> None:
    templates = project_templates()
    assert any(path.name == "consent.html" for path in templates)
    problems = {str(path.relative_to(ROOT)): found for path in templates if (found := inline_code_in(path.read_text()))}
    assert problems == {}


# --- manage.py check --deploy --------------------------------------------------------------------


def test_check_deploy_is_clean_with_production_settings(tmp_path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        PUBLIC_URL="https://mcp.example.com",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_every_silenced_deploy_warning_is_explained_in_the_readme() -> None:
    from django.conf import settings

    readme = (ROOT / "README.md").read_text()
    assert settings.SILENCED_SYSTEM_CHECKS, "nothing silenced: then drop this test"
    for check_id in settings.SILENCED_SYSTEM_CHECKS:
        assert f"`{check_id}`" in readme, f"README.md does not say why {check_id} is accepted"


# --- No secret in the repository or the image ------------------------------------------------------

# Built from pieces so that this file does not match itself.
BEGIN = "-----BEGIN"
SECRET_PATTERNS = [
    (re.compile(BEGIN + r" (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----"), "private key"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "AWS access key id"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), "GitHub token"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{50,}\b"), "GitHub fine-grained token"),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), "GitLab token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"), "Slack token"),
    (re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{32,}\b"), "OpenAI/Anthropic key"),
    (re.compile(r"\b[rs]k_live_[A-Za-z0-9]{20,}\b"), "Stripe live key"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "Google API key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"), "JSON web token"),
    (
        re.compile(
            r"(?i)\b(?:postgres(?:ql)?|mysql|redis)://[^:\s/@]+:"
            # …unless the password is a placeholder or comes from the environment.
            r"(?!\$|\{|<|\*|password|secret|change-?me|example|placeholder|x{3,})[^@\s/]{6,}@"
        ),
        "password in a URL",
    ),
]


def secrets_in(text: str) -> list[str]:
    return [what for pattern, what in SECRET_PATTERNS if pattern.search(text)]


def repository_files() -> list[Path]:
    """Tracked files, and new ones not ignored (they will be committed)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def test_the_secret_scan_finds_planted_secrets() -> None:
    planted = [
        BEGIN + " RSA PRIVATE KEY-----\nMIIEow...",
        "aws = 'AKIA" + "ABCDEFGHIJKLMNOP'",
        "token: ghp_" + "a1B2" * 9,
        "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0" + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "DATABASE_URL=postgres://app:" + "s3cr3t-value@db:5432/app",
    ]
    for text in planted:
        assert secrets_in(text), text
    assert secrets_in("DATABASE_URL=postgres://postgres@127.0.0.1:5432/test") == []
    assert secrets_in("postgres://app:${POSTGRES_PASSWORD}@db/app") == []
    assert secrets_in("DATABASE_URL=postgres://mcp:CHANGE-ME@db:5432/mcp") == []


def test_no_secret_in_the_repository() -> None:
    files = repository_files()
    assert len(files) > 20 and any(path.name == "settings.py" for path in files)
    found = {}
    for path in files:
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if hits := secrets_in(text):
            found[str(path.relative_to(ROOT))] = hits
    assert found == {}
    names = {path.name for path in files}
    assert not names & {".env", "id_rsa", "id_ed25519", "db.sqlite3"}, names & {".env", "id_rsa", "db.sqlite3"}
    assert not [path for path in files if path.suffix in {".pem", ".key", ".p12", ".pfx"}]


def test_no_secret_goes_into_the_image() -> None:
    dockerfile = ROOT / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("no Dockerfile in this checkout")
    ignore = (ROOT / ".dockerignore").read_text().split()
    for excluded in (".env", ".git", "*.sqlite3"):
        assert any(line.strip("/") == excluded or line == f"**/{excluded}" for line in ignore), excluded
    text = dockerfile.read_text()
    assert secrets_in(text) == []
    # No secret baked in as a build argument or environment default.
    assert not re.search(r"(?im)^\s*(ENV|ARG)\s+\S*(SECRET|PASSWORD)\S*\s*=\s*\S+", text)


# --- SECURITY.md names real tests ------------------------------------------------------------------

THREATS = [
    "Token theft",
    "Audience confusion",
    "Open redirect",
    "CSRF on consent",
    "Registration flooding",
    "SSRF through URL client ids",
    "Code and refresh replay",
    "DNS rebinding at `/mcp`",
    "A token reaches beyond its scopes",
]


def test_security_md_covers_each_threat_with_tests_that_exist() -> None:
    text = (ROOT / "SECURITY.md").read_text()
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    by_title = {section.splitlines()[0]: section for section in sections}
    for threat in THREATS:
        section = next((body for title, body in by_title.items() if title.startswith(threat)), None)
        assert section is not None, f"SECURITY.md has no section on {threat}"
        assert re.search(r"`tests/test_\w+\.py::test_\w+`", section), f"no test named for {threat}"
    named = re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", text)
    assert len(named) >= 30
    for path, name in named:
        source = (ROOT / path).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, flags=re.M), f"{path}::{name} does not exist"
