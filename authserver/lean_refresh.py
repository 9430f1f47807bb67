"""The refresh-token grant's lean path: the ordinary rotation of a live refresh token, answered at
the ASGI layer on PostgreSQL, without Django's request cycle, oauthlib or the ORM.

Why by hand: every MCP client refreshes at least hourly, so this is the authorization server's
busiest request. Through django-oauth-toolkit, even at seven statements (validators.py), a
grant cost about 8 ms of CPU, nearly all of it oauthlib's request path, DOT's validator calls and
the ORM building their queries; the same work here is a few hundred microseconds
(docs/performance.md has the profiles). DOT has no lighter entry point for one grant.

What it answers itself, and only that: a `POST /token` form with exactly `grant_type=refresh_token`,
`refresh_token`, `client_id`, and optionally `client_secret` and `resource`, each once; no
Authorization or Origin header; from a client that is enabled and approved, registered here (not
a URL client), not a private_key_jwt client, allowed the grant, and either public (no secret) or
confidential with a secret stored with the fast hasher that matches; with a refresh token that is
live (not revoked), belongs to that client, has its access token and is within
REFRESH_TOKEN_EXPIRE_SECONDS of that token's expiry; and resources that bind to this server.

Everything else goes to Django's token view as it came (DOT decides, with its errors): every
refusal, a revoked token (reuse detection and the race leeway of validators.py), a URL client, a
signed assertion, HTTP Basic, a `scope` parameter. The abuse counter is counted here once, and
Django is told (throttling.counted), so no request counts twice.

What it writes is what DOT's rotation writes (validators.py: the old refresh token revoked and
unlinked, its access token deleted, a new pair in the same family with the same scope and
resources), in one transaction with the refresh token's row locked: concurrent rotations of one
token wait for each other, and the later ones find it revoked and go to Django, which refuses
them (refresh_race_refused). The answer and its headers are those of the token view.
tests/test_lean_refresh.py sends the same requests through both paths and compares status,
headers, body fields and the database rows they leave.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import psycopg
from django.conf import settings
from django.db import connections
from django.http.request import split_domain_port, validate_host
from django.urls import reverse
from django.utils.http import http_date
from oauth2_provider.models import (
    AbstractApplication,
    get_access_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)
from oauth2_provider.settings import oauth2_settings
from oauthlib.oauth2.rfc6749.tokens import random_token_generator
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from starlette.types import Message, Receive, Scope, Send

from common import audit
from common.errors import NO_STORE
from common.limits import header_problem

from . import throttling
from .hashers import ClientSecretHasher
from .models import Client
from .resources import bind_resources, canonical_resource
from .security import CONTENT_SECURITY_POLICY
from .validators import checksum, client_use_due

FIELDS = frozenset({"grant_type", "refresh_token", "client_id", "client_secret", "resource"})
REFRESH_GRANT_TYPES = (AbstractApplication.GRANT_AUTHORIZATION_CODE, AbstractApplication.GRANT_OPENID_HYBRID)

# Seconds a request waits for one of the pool's connections before Django answers it instead
# (while the database is unreachable: its 503).
POOL_TIMEOUT = 5

# Statements this module sent (bench/queries.py adds them to the ones Django ran).
executed = 0


class HandOver(Exception):
    """Not the ordinary rotation: Django's token view answers (the transaction rolls back)."""


@dataclass(frozen=True)
class Form:
    refresh_token: str
    client_id: str
    client_secret: str | None
    resources: list[str]


def enabled() -> bool:
    return settings.LEAN_REFRESH and connections["default"].vendor == "postgresql"


def tables() -> dict[str, str]:
    quote = connections["default"].ops.quote_name
    return {
        "client": quote(Client._meta.db_table),
        "refresh": quote(get_refresh_token_model()._meta.db_table),
        "access": quote(get_access_token_model()._meta.db_table),
    }


def statements() -> dict[str, str]:
    """The two statements of a rotation; column names are django-oauth-toolkit's."""
    t = tables()
    client_columns = (
        "c.id, c.client_type, c.client_secret, c.hash_client_secret, c.authorization_grant_type, "
        "c.registration_source, c.is_enabled, c.approval, c.token_endpoint_auth_method"
    )
    token_columns = (
        "r.id, r.user_id, r.application_id, r.access_token_id, r.token_family, r.resource, a.expires, a.scope"
    )
    return {
        # The token limit's two counters (committed without waiting for the disk, as
        # throttling.counting does), the client and the live refresh token with its access
        # token's expiry and scope: read only, nothing locked.
        "read": (
            throttling.pair_sql(quiet=True) + f", {client_columns}, {token_columns} FROM (VALUES (1)) AS one "  # noqa: S608
            f"LEFT JOIN {t['client']} c ON c.client_id = %s "
            f"LEFT JOIN {t['refresh']} r ON r.token_checksum = %s AND r.revoked IS NULL "
            f"LEFT JOIN {t['access']} a ON a.id = r.access_token_id"
        ),
        # The rotation, one statement and so one transaction: the old refresh token revoked and
        # unlinked if it is still live and still has the access token read above (the UPDATE
        # locks it: of concurrent rotations one wins, the others match nothing), that access
        # token deleted, the new pair inserted, the client's last use noted when due. Nothing
        # is written unless the UPDATE matched; the foreign keys are checked at commit.
        "rotate": (
            f"WITH old AS (UPDATE {t['refresh']} SET revoked = %(now)s, updated = %(now)s, "  # noqa: S608
            "access_token_id = NULL WHERE id = %(old)s AND revoked IS NULL AND access_token_id = %(old_access)s "
            "RETURNING id), "
            f"gone AS (DELETE FROM {t['access']} WHERE id = %(old_access)s AND EXISTS (SELECT 1 FROM old)), "
            f"used AS (UPDATE {t['client']} SET last_used_at = %(used)s::timestamptz WHERE id = %(client)s "
            "AND %(used)s::timestamptz IS NOT NULL AND EXISTS (SELECT 1 FROM old)), "
            f"access AS (INSERT INTO {t['access']} (user_id, source_refresh_token_id, token, token_checksum, "
            "id_token_id, application_id, expires, scope, created, updated, resource) SELECT %(user)s, old.id, '', "
            "%(access_checksum)s, NULL, %(client)s, %(expires)s, %(scope)s, %(now)s, %(now)s, %(resource)s "
            "FROM old RETURNING id) "
            f"INSERT INTO {t['refresh']} (user_id, token, token_checksum, application_id, access_token_id, "
            "token_family, resource, created, updated, revoked) SELECT %(user)s, '', %(refresh_checksum)s, "
            "%(client)s, access.id, %(family)s, %(resource)s, %(now)s, %(now)s, NULL FROM access RETURNING id"
        ),
    }


def parse(body: bytes) -> Form | None:
    """The form of an ordinary refresh request, or None for anything else."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    values = dict(pairs)
    if len(values) != len(pairs) or not set(values) <= FIELDS or values.get("grant_type") != "refresh_token":
        return None
    if not values.get("refresh_token") or not values.get("client_id") or any("\x00" in v for v in values.values()):
        return None
    secret = values.get("client_secret")
    if secret == "":
        return None
    resources = []
    if "resource" in values:
        canonical = canonical_resource(values["resource"])
        if canonical is None:
            return None  # Django answers invalid_target
        resources = [canonical]
    return Form(values["refresh_token"], values["client_id"], secret, resources)


def header_map(scope: Scope) -> dict[bytes, bytes] | None:
    """The request's headers, or None if one repeats."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in found:
            return None
        found[name] = value
    return found


class LeanRefresh:
    """Routed to by config/asgi.py for POST /token; hands anything but the ordinary rotation to
    `django_app` with the body it read."""

    def __init__(self, django_app) -> None:
        self.django_app = django_app
        self.path = reverse("oauth2_provider:token")
        self.sql = statements()
        self.pool: AsyncConnectionPool | None = None
        self.pool_loop: asyncio.AbstractEventLoop | None = None
        self.pool_lock: asyncio.Lock | None = None

    def handles(self, scope: Scope) -> bool:
        return scope["method"] == "POST" and scope["path"] == self.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope)
        if headers is None or not self.plain_form(scope, headers):
            return await self.django_app(scope, receive, send)
        length = int(headers[b"content-length"])
        body, complete = await read_body(receive, length)
        receive = replay(body, complete, receive)
        form = parse(body) if complete and len(body) == length else None
        if form is None:
            return await self.django_app(scope, receive, send)
        ip = (scope.get("client") or ("unknown",))[0]
        verdict, answer = await self.rotate(form, ip)
        if answer is None:
            if verdict is not None:
                throttling.counted.set(("token", verdict))  # Django answers, without counting again
            return await self.django_app(scope, receive, send)
        await self.respond(scope, send, answer)

    def plain_form(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        """Headers the token view would treat as an ordinary form post from a program."""
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        length = headers.get(b"content-length", b"")
        host = headers.get(b"host", b"").decode("latin-1")
        return (
            content_type == b"application/x-www-form-urlencoded"
            and length.isdigit()
            and int(length) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            and b"authorization" not in headers
            and b"origin" not in headers
            and b"transfer-encoding" not in headers
            and header_problem(scope["headers"]) is None
            and bool(host)
            and validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS)
        )

    async def close(self) -> None:
        """Close this event loop's pool (the application's lifespan ends with this)."""
        pool, self.pool = self.pool, None
        if pool is not None and self.pool_loop is asyncio.get_running_loop():
            await pool.close()

    async def connections(self) -> AsyncConnectionPool:
        """This event loop's pool (tests run several loops in one process)."""
        loop = asyncio.get_running_loop()
        if self.pool is None or self.pool_loop is not loop:
            if self.pool_lock is None or self.pool_loop is not loop:
                self.pool_lock, self.pool_loop, self.pool = asyncio.Lock(), loop, None
            async with self.pool_lock:
                if self.pool is None:
                    params = connections["default"].get_connection_params()
                    params.pop("cursor_factory", None)
                    params.setdefault("application_name", "lean-refresh")
                    params["autocommit"] = True  # each statement its own transaction
                    pool = AsyncConnectionPool(
                        kwargs=params,
                        min_size=1,
                        max_size=settings.LEAN_REFRESH_CONNECTIONS,
                        timeout=POOL_TIMEOUT,
                        open=False,
                    )
                    await pool.open()
                    self.pool = pool
        return self.pool

    async def rotate(self, form: Form, ip: str) -> tuple[throttling.ThrottleVerdict | None, dict | None]:
        """Count the abuse limit's hit and rotate the refresh token: the limit's verdict, and
        the answer, or None when Django must answer (the limit reached, or not the ordinary
        rotation, or the database failed: Django then says what it says)."""
        global executed
        limit = throttling.Limit(*settings.THROTTLES["token"])
        now = time.time()
        params, window_start = throttling.pair_params("token", ip, limit, now)
        pool = await self.connections()
        verdict = None
        try:
            async with pool.connection() as conn:
                executed += 1
                row = await (
                    await conn.execute(self.sql["read"], [*params, form.client_id, checksum(form.refresh_token)])
                ).fetchone()
                verdict = throttling.decision(*throttling.pair_verdicts(row, limit, window_start, now))
                if not verdict.allowed:
                    return verdict, None
                rotation = self.rotation(form, row[3:12], row[12:])
                if rotation is None:
                    return verdict, None
                executed += 1
                done = await (await conn.execute(self.sql["rotate"], rotation)).fetchone()
        except psycopg.Error:
            return verdict, None  # Django answers (503 while the database is down)
        if done is None:
            return verdict, None  # rotated or revoked meanwhile: Django refuses it
        audit.event(
            "token_refreshed",
            client_id=form.client_id,
            user_id=rotation["user"],
            scope=rotation["scope"],
            resource=" ".join(rotation["resource"].obj),
        )
        # oauthlib's BearerToken, field for field.
        return verdict, {
            "access_token": rotation.pop("access_token"),
            "expires_in": oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS,
            "token_type": "Bearer",
            "scope": rotation["scope"],
            "refresh_token": rotation.pop("refresh_token"),
        }

    @staticmethod
    def rotation(form: Form, client: tuple, token: tuple) -> dict | None:
        """The parameters of the rotation statement, or None when DOT must decide (what
        validators.py and DOT check, on the rows read)."""
        if client[0] is None or not client_may_refresh(client, form.client_secret):
            return None
        token_pk, user_id, application_id, access_pk, family, granted, access_expires, scope = token
        if token_pk is None or application_id != client[0] or access_pk is None or access_expires is None:
            return None
        now = datetime.now(UTC)
        expire_delta = refresh_token_expire_timedelta()
        if expire_delta and access_expires + expire_delta <= now:
            return None
        if isinstance(granted, str):  # Django's connection settings leave JSON to the caller
            granted = json.loads(granted)
        try:
            resources = bind_resources(narrowed(form.resources, granted or []))
        except HandOver:
            return None
        if resources is None:
            return None
        generate = oauth2_settings.ACCESS_TOKEN_GENERATOR or random_token_generator
        access_token, refresh_token = generate(None), (oauth2_settings.REFRESH_TOKEN_GENERATOR or generate)(None)
        return {
            "now": now,
            "old": token_pk,
            "old_access": access_pk,
            "used": client_use_due(form.client_id),
            "user": user_id,
            "client": client[0],
            "access_token": access_token,
            "refresh_token": refresh_token,
            "access_checksum": checksum(access_token),
            "refresh_checksum": checksum(refresh_token),
            "expires": now + timedelta(seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS),
            "scope": " ".join(scope.split(" ")),  # oauthlib splits the original scope and joins it again
            "resource": Jsonb(resources),
            "family": family,
        }

    async def respond(self, scope: Scope, send: Send, answer: dict) -> None:
        body = json.dumps(answer).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"cache-control", NO_STORE.encode()),
            (b"pragma", b"no-cache"),
            (b"expires", http_date().encode()),  # never_cache's
            (b"x-frame-options", settings.X_FRAME_OPTIONS.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"vary", b"origin"),  # django-cors-headers'
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"referrer-policy", (settings.SECURE_REFERRER_POLICY or "same-origin").encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()),
        ]
        if settings.SECURE_HSTS_SECONDS and scope.get("scheme") == "https":
            hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                hsts += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                hsts += "; preload"
            headers.append((b"strict-transport-security", hsts.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def client_may_refresh(client: tuple, secret: str | None) -> bool:
    """Whether the client row may take the lean path with the secret it presented (or none)."""
    _pk, client_type, stored, hashed, grant_type, source, is_enabled, approval, method = client
    if not is_enabled or approval != Client.Approval.APPROVED or grant_type not in REFRESH_GRANT_TYPES:
        return False
    if source == Client.RegistrationSource.CIMD or method == Client.AuthMethod.PRIVATE_KEY_JWT:
        return False
    if client_type == Client.CLIENT_PUBLIC:
        return secret is None
    if secret is None or not hashed or not stored.startswith(ClientSecretHasher.algorithm + "$"):
        return False  # an older (slow) hash: DOT checks it, and re-hashes it (validators.py)
    return ClientSecretHasher().verify(secret, stored)


def narrowed(requested: list[str], granted: list[str]) -> list[str]:
    """The resources of the new tokens, by DOT's rule: those requested if the refresh token was
    granted all of them, else its own when none were requested. A request for more is DOT's to
    refuse (invalid_target): HandOver."""
    if not granted:
        return requested
    if not requested:
        return list(granted)
    if any(resource not in granted for resource in requested):
        raise HandOver
    return requested


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body as far as `limit` bytes, and whether that was all of it (else the rest is left
    for whoever reads on)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A `receive` that hands the already-read body on, then the client's own events."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replayed
