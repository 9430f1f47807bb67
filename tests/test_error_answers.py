"""The one way errors are answered (common/errors.py, authserver/errors.py): an OAuth error as
JSON with its status and headers, an error page for a person, the one choice between them, and
the headers set in one place each (no-store in authserver.security, the hand-set CORS header in
common.documents)."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse
from django.test import Client as DjangoClient
from django.test import RequestFactory

from authserver import validators
from authserver.errors import ErrorAnswerMiddleware, error_answer, oauth_answer, wants_page
from authserver.security import SecurityHeadersMiddleware
from authserver.throttling import Throttled, ThrottleVerdict
from common.errors import NO_STORE, ErrorPage, OAuthError

HTML = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
factory = RequestFactory()


def test_an_oauth_error_is_its_json_status_and_headers() -> None:
    error = OAuthError("invalid_client", "Who are you?", 401, headers={"WWW-Authenticate": 'Basic realm="x"'})
    response = oauth_answer(error)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Basic realm="x"'
    assert response.content == b'{"error": "invalid_client", "error_description": "Who are you?"}'


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid_request"),
        (404, "not_found"),
        (418, "invalid_request"),
        (500, "server_error"),
        (503, "temporarily_unavailable"),
    ],
)
def test_the_usual_code_of_a_status(status: int, code: str) -> None:
    assert OAuthError.for_status(status, "x").body() == {"error": code, "error_description": "x"}


@pytest.mark.parametrize(
    ("path", "accept", "asked", "page"),
    [
        ("/authorize", HTML, True, True),
        ("/authorize", "application/json", True, False),
        ("/authorize", None, True, False),
        ("/authorize", None, False, True),  # Django's own error handlers: a page unless on an API path
        ("/token", HTML, True, False),
        ("/token", HTML, False, False),
        ("/.well-known/oauth-authorization-server", HTML, False, False),
        ("/register/abc", HTML, True, False),
    ],
)
def test_who_gets_a_page(path: str, accept: str | None, asked: bool, page: bool) -> None:
    request = factory.get(path, **({"HTTP_ACCEPT": accept} if accept else {}))
    assert wants_page(request, asked=asked) is page


def test_an_error_with_a_page_is_the_page_for_a_browser_and_json_for_a_program() -> None:
    page = ErrorPage(409, {"error": "conflict", "title": "Already there", "description": "Try another."})
    error = OAuthError("conflict", "It is already there", 409, headers={"X-Why": "test"}, page=page)
    browser = error_answer(factory.get("/authorize", HTTP_ACCEPT=HTML), error, offline=True)
    assert browser.status_code == 409
    assert browser["Content-Type"] == "text/html; charset=utf-8"
    assert "Already there" in browser.content.decode() and "Try another." in browser.content.decode()
    assert "X-Why" not in browser  # the page's own headers, not the JSON's
    program = error_answer(factory.get("/authorize"), error)
    assert program.status_code == 409
    assert json.loads(program.content) == {"error": "conflict", "error_description": "It is already there"}
    assert program["X-Why"] == "test"


@pytest.mark.django_db
def test_a_raised_error_becomes_its_answer() -> None:
    middleware = ErrorAnswerMiddleware(lambda request: HttpResponse())
    request = factory.get("/accounts/login/", HTTP_ACCEPT=HTML)
    verdict = ThrottleVerdict(allowed=False, hits=9, limit=5, retry_after=42)
    page = middleware.process_exception(request, Throttled(verdict, "Slow down"))
    assert page.status_code == 429
    assert page["Retry-After"] == "42"
    assert "Slow down (in 42 seconds)." in page.content.decode()
    answer = middleware.process_exception(factory.post("/token"), Throttled(verdict, "Slow down"))
    assert answer.status_code == 429
    assert answer["Retry-After"] == "42"
    assert json.loads(answer.content) == {
        "error": "too_many_requests",
        "error_description": "Slow down",
        "retry_after": 42,
    }
    assert middleware.process_exception(request, ValueError("not ours")) is None


@pytest.mark.parametrize(
    ("path", "status", "no_store"),
    [
        ("/token", 200, True),
        ("/introspect", 405, True),
        ("/account/apps/", 200, True),
        ("/anything", 429, True),  # a refusal of the moment, wherever it is
        ("/", 503, True),
        ("/", 200, False),
        ("/.well-known/oauth-authorization-server", 404, False),
    ],
)
def test_no_store_is_set_in_one_place(path: str, status: int, no_store: bool) -> None:
    response = SecurityHeadersMiddleware(lambda request: HttpResponse(status=status))(factory.get(path))
    if no_store:
        assert response["Cache-Control"] == NO_STORE
        assert response["Pragma"] == "no-cache"
    else:
        assert "Cache-Control" not in response
        assert "Pragma" not in response


@pytest.mark.django_db
def test_introspection_refusals_are_never_stored(settings, client: DjangoClient) -> None:
    settings.SERVER_ROLE = "authorization"
    settings.INTROSPECTION_CLIENT_IDS = ["notes-rs"]
    refused = client.get("/introspect")
    assert refused.status_code == 405
    assert refused["Allow"] == "POST"
    assert refused["Cache-Control"] == "no-store"
    assert refused.json() == {"error": "invalid_request", "error_description": "Introspection takes a POST"}
    anonymous = client.post("/introspect", {"token": "x"})
    assert anonymous.status_code == 401
    assert anonymous["Cache-Control"] == "no-store"
    assert anonymous["Pragma"] == "no-cache"


def test_security_headers_django_sets_are_still_there(client: DjangoClient) -> None:
    # Referrer-Policy and X-Content-Type-Options come from Django's SecurityMiddleware alone.
    response = client.get("/healthz")
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("origin", [None, "https://app.example"])
def test_discovery_errors_are_readable_by_any_page(client: DjangoClient, origin: str | None) -> None:
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    response = client.get("/.well-known/nothing-here", **headers)
    assert response.status_code == 404
    assert response["Access-Control-Allow-Origin"] == "*"


def test_a_clients_use_is_noted_once_per_precision() -> None:
    validators._last_noted.clear()
    first = validators.client_use_due("noted-client")
    assert first is not None
    assert validators.client_use_due("noted-client") is None
    assert validators.client_use_due("another-client") is not None
    assert validators._last_noted.maxsize == 10_000  # bounded
