"""The refresh grant's lean path (authserver/lean_refresh.py) against django-oauth-toolkit's, on
PostgreSQL (the only database it runs on): the same requests, in two identical worlds, one
application with the lean path and one without; every answer compared (status, headers, body
fields), and the rows each left behind (the tokens, the abuse counters) and the audit lines.
The lean path must have answered the ordinary rotations itself and handed everything else to
Django."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connections
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken, set_token_value
from oauthlib.common import generate_token
from starlette.testclient import TestClient

import config.asgi
from authserver import lean_refresh
from authserver.models import Client, RateLimitCounter
from mcpserver import token_lookup
from tests.support.inprocess import MCP_URL, close_database_threads, make_client
from tests.support.server import postgres_admin_url

pytestmark = [
    pytest.mark.skipif(
        postgres_admin_url() is None,
        reason="PostgreSQL only (the lean path's database): runs in the PostgreSQL pass of `make test`, as in CI",
    ),
    pytest.mark.django_db(transaction=True),
]

SECRET = "x" * 128
UNCOMPARED_HEADERS = {"date", "expires", "content-length"}  # the time, and a body of random tokens


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class World:
    """A user, a client and a refresh token (with its access token), as DOT issues them."""

    def __init__(self, name: str, confidential: bool = False, **client_fields) -> None:
        self.user = get_user_model().objects.create_user(name, password=name + "-password-123")
        fields = {"client_type": Client.CLIENT_CONFIDENTIAL, "client_secret": SECRET} if confidential else {}
        self.client = make_client(name=name, **fields, **client_fields)
        self.refresh_token = self.issue()

    def issue(self, scope: str = "mcp:read mcp:write", expires_in: int = 3600) -> str:
        access = AccessToken(
            user=self.user,
            application=self.client,
            scope=scope,
            expires=timezone.now() + timedelta(seconds=expires_in),
            resource=[MCP_URL],
        )
        set_token_value(access, generate_token())
        access.save()
        refresh = RefreshToken(
            user=self.user, application=self.client, access_token=access, token_family=uuid.uuid4(), resource=[MCP_URL]
        )
        raw = generate_token()
        set_token_value(refresh, raw)
        refresh.save()
        return raw

    def form(self, **changes) -> dict:
        form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token, "client_id": self.client.client_id}
        form.update(changes)
        return {key: value for key, value in form.items() if value is not None}

    def state(self, answer: dict) -> dict:
        """The rows of this world's tokens, without what is random (ids, tokens, times)."""
        refresh_rows = list(RefreshToken.objects.filter(application=self.client).order_by("id"))
        access_rows = list(AccessToken.objects.filter(application=self.client).order_by("id"))
        index = {row.pk: position for position, row in enumerate(refresh_rows)}
        families = {row.token_family for row in refresh_rows}
        return {
            "refresh": [
                (row.revoked is not None, row.access_token_id is not None, row.resource, row.user_id == self.user.pk)
                for row in refresh_rows
            ],
            "access": [
                (
                    row.scope,
                    row.resource,
                    index.get(row.source_refresh_token_id),
                    round((row.expires - timezone.now()).total_seconds() / 60),
                    row.user_id == self.user.pk,
                )
                for row in access_rows
            ],
            "families": len(families),
            "issued_access_is_stored": "access_token" not in answer
            or any(row.token_checksum == sha256(answer["access_token"]) for row in access_rows),
            "issued_refresh_is_live": "refresh_token" not in answer
            or any(
                row.token_checksum == sha256(answer["refresh_token"]) and row.revoked is None for row in refresh_rows
            ),
            "secret_algorithm": Client.objects.get(pk=self.client.pk).client_secret.split("$")[0],
            "last_used_set": Client.objects.get(pk=self.client.pk).last_used_at is not None,
        }


def counters() -> dict[str, int]:
    return {row.key: row.hits for row in RateLimitCounter.objects.filter(key__startswith="token:")}


@pytest.fixture
def apps(settings) -> Iterator[dict[str, TestClient]]:
    # Django answers on the application's threads: their connections close after each request,
    # so that the test database can be dropped.
    saved_age = connections.settings["default"]["CONN_MAX_AGE"]
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    built = {}
    settings.LEAN_REFRESH = True
    built["lean"] = TestClient(config.asgi.build_application(), base_url=settings.PUBLIC_URL)
    settings.LEAN_REFRESH = False
    built["dot"] = TestClient(config.asgi.build_application(), base_url=settings.PUBLIC_URL)
    settings.LEAN_REFRESH = True
    for client in built.values():
        client.__enter__()
    yield built
    for client in built.values():
        client.__exit__(None, None, None)
    token_lookup.close()
    close_database_threads()
    connections.settings["default"]["CONN_MAX_AGE"] = saved_age


def exchange(apps: dict, caplog, worlds: dict[str, World], headers: dict | None = None, **changes) -> dict:
    """The same request in each world, through each path: what each answered and left behind."""
    seen = {}
    for path, world in worlds.items():
        before_counters, before_statements = counters(), lean_refresh.executed
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="audit"):
            response = apps[path].post("/token", data=world.form(**changes), headers=headers or {})
        body = response.json()
        after = counters()
        seen[path] = {
            "status": response.status_code,
            "headers": {k: v for k, v in response.headers.items() if k not in UNCOMPARED_HEADERS},
            "fields": {
                key: (len(value), value.isascii()) if key in ("access_token", "refresh_token") else value
                for key, value in body.items()
            },
            "state": world.state(body),
            "counted": {key: after.get(key, 0) - before_counters.get(key, 0) for key in after},
            "audit": [
                (r.audit["event"], sorted(set(r.audit) - {"client_id", "user_id"}))
                for r in caplog.records
                if hasattr(r, "audit")
            ],
            "lean_statements": lean_refresh.executed - before_statements,
            "body": body,
        }
    return seen


def assert_same(seen: dict, lean_answers: bool) -> dict:
    lean, dot = seen["lean"], seen["dot"]
    for aspect in ("status", "headers", "fields", "state", "counted", "audit"):
        assert lean[aspect] == dot[aspect], aspect
    assert dot["lean_statements"] == 0
    if lean_answers:
        assert lean["lean_statements"] == 2  # it answered: one read, one rotation
    else:
        assert lean["lean_statements"] <= 1  # it counted (one read) and handed the request to Django
    return lean


def worlds(**fields) -> dict[str, World]:
    return {path: World(f"{path}-{uuid.uuid4().hex[:6]}", **fields) for path in ("lean", "dot")}


@pytest.mark.parametrize("resource", [MCP_URL, MCP_URL + "/", None])
def test_an_ordinary_rotation_is_the_same_on_both_paths(apps, caplog, resource) -> None:
    both = worlds()
    first = exchange(apps, caplog, both, resource=resource)
    lean = assert_same(first, lean_answers=True)
    assert lean["status"] == 200
    assert lean["fields"]["token_type"] == "Bearer" and lean["fields"]["scope"] == "mcp:read mcp:write"
    assert [event for event, _fields in lean["audit"]] == ["token_refreshed"]
    # The next rotation of the chain, and then a rotated token presented again (a race within
    # the leeway: refused, the family kept), are the same on both paths too.
    for path, world in both.items():
        world.refresh_token = first[path]["body"]["refresh_token"]
    assert_same(exchange(apps, caplog, both, resource=resource), lean_answers=True)
    replay = assert_same(exchange(apps, caplog, both, resource=resource), lean_answers=False)
    assert replay["status"] == 400 and replay["fields"]["error"] == "invalid_grant"
    assert [event for event, _fields in replay["audit"]] == ["refresh_race_refused"]


def test_a_confidential_client_is_the_same_on_both_paths(apps, caplog) -> None:
    both = worlds(confidential=True)
    assert_same(exchange(apps, caplog, both, client_secret=SECRET, resource=MCP_URL), lean_answers=True)
    for world in both.values():
        world.refresh_token = world.issue()
    wrong = assert_same(exchange(apps, caplog, both, client_secret="wrong"), lean_answers=False)
    assert wrong["status"] == 401
    missing = assert_same(exchange(apps, caplog, both), lean_answers=False)
    assert missing["status"] == 401


def test_an_older_secret_hash_goes_to_dot_which_rehashes_it(apps, caplog) -> None:
    both = worlds(confidential=True)
    for world in both.values():
        Client.objects.filter(pk=world.client.pk).update(client_secret=make_password(SECRET, hasher="md5"))
    lean = assert_same(exchange(apps, caplog, both, client_secret=SECRET), lean_answers=False)
    assert lean["status"] == 200 and lean["state"]["secret_algorithm"] == "client_secret_sha256"


def test_a_replay_after_the_leeway_revokes_the_family_on_both_paths(apps, caplog, settings) -> None:
    settings.REFRESH_TOKEN_REUSE_LEEWAY = 0
    both = worlds()
    exchange(apps, caplog, both)  # rotated (each on its own path)
    seen = assert_same(exchange(apps, caplog, both), lean_answers=False)
    assert seen["status"] == 400
    assert [event for event, _fields in seen["audit"]] == ["refresh_reuse_detected"]
    assert all(revoked for revoked, *_rest in seen["state"]["refresh"])  # the whole family


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("unknown token", 400, "invalid_grant"),
        ("another client's token", 400, "invalid_grant"),
        ("another server's resource", 400, "invalid_target"),
        ("expired", 400, "invalid_grant"),
        ("a disabled client", 401, "invalid_client"),
        ("a narrower scope", 200, None),
        ("a secret sent by a public client", 401, "invalid_client"),
    ],
)
def test_what_the_lean_path_hands_to_dot_gets_dots_answer(apps, caplog, case: str, status: int, error) -> None:
    both = worlds()
    changes: dict = {}
    if case == "unknown token":
        changes["refresh_token"] = "not-a-token"
    elif case == "another client's token":
        for world in both.values():
            world.client = make_client(name=world.client.name + "-other")
    elif case == "another server's resource":
        changes["resource"] = "https://other.example/mcp"
    elif case == "expired":
        for world in both.values():
            AccessToken.objects.filter(application=world.client).update(expires=timezone.now() - timedelta(days=40))
    elif case == "a disabled client":
        for world in both.values():
            Client.objects.filter(pk=world.client.pk).update(is_enabled=False)
    elif case == "a narrower scope":
        changes["scope"] = "mcp:read"
    else:
        changes["client_secret"] = SECRET
    seen = assert_same(exchange(apps, caplog, both, **changes), lean_answers=False)
    assert seen["status"] == status
    if error:
        assert seen["fields"]["error"] == error


def test_basic_authentication_and_browsers_go_to_dot(apps, caplog) -> None:
    import base64

    both = worlds(confidential=True)
    seen = {}
    for path, world in both.items():
        header = "Basic " + base64.b64encode(f"{world.client.client_id}:{SECRET}".encode()).decode()
        seen[path] = exchange(apps, caplog, {path: world}, headers={"Authorization": header}, client_id=None)[path]
    assert_same(seen, lean_answers=False)
    assert seen["lean"]["status"] == 200
    both = worlds()
    cors = assert_same(exchange(apps, caplog, both, headers={"Origin": "https://app.example"}), lean_answers=False)
    assert cors["status"] == 200 and cors["headers"]["access-control-allow-origin"] == "*"
