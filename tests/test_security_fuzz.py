"""Bad input, everywhere: property-based fuzzing (hypothesis) of every HTTP endpoint, in process
for speed (Django's test client; the ASGI app under Starlette's TestClient for `/mcp`), and a
smaller sample against a live server. Whatever is sent: no 500, no stack trace or debug page,
and every error in the endpoint's own format (an OAuth JSON error object on the OAuth and
discovery endpoints, a JSON-RPC error or an OAuth challenge at `/mcp`, a page only where a
person is looking). Oversized bodies and headers and deeply nested JSON are refused with a 4xx
on every endpoint, before any parser sees them.

The examples are derandomized (the same every run); FUZZ_SCALE multiplies their number.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from django.conf import settings
from django.test import Client as DjangoClient
from hypothesis import given
from hypothesis import strategies as st

from authserver.client_auth import ASSERTION_TYPE
from democlient.flow import Pkce
from tests.support import fuzzing as fz
from tests.support import security_rows as rows
from tests.support.security import client as live_client
from tests.support.security import new_ip

HIGH = (10**9, 10**9, 3600)
MODERN = "2026-07-28"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def unthrottled(settings):
    # The fuzzers send thousands of requests from one address; the limits have their own tests.
    settings.THROTTLES = dict.fromkeys(settings.THROTTLES, HIGH)
    settings.AXES_FAILURE_LIMIT = 10**6


@pytest.fixture
def world(db, client, unthrottled):
    """A user, a registered public client (with its RFC 7592 registration token), and tokens."""
    user = rows.make_user("fuzzer")
    registered = client.post(
        "/register",
        data={"client_name": "Fuzzed", "redirect_uris": [rows.REDIRECT_URI], "token_endpoint_auth_method": "none"},
        content_type="application/json",
    ).json()
    from authserver.models import Client

    app = Client.objects.get(client_id=registered["client_id"])
    signed_in = DjangoClient()
    signed_in.force_login(user)
    return {
        "user": user,
        "app": app,
        "client_id": app.client_id,
        "registration_token": registered["registration_access_token"],
        "access_token": rows.make_token(user, app),
        "signed_in": signed_in,
    }


# --- Strategies of each endpoint's parameters (RFC 6749, 7009, 7591/7592, 8707, PKCE) ------------

GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials", "password", "implicit"]
PKCE = Pkce.new()
# Client assertions shaped like real ones but never valid here: unsigned, HMAC, a stranger's key, not JSON.
ASSERTIONS = [
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJ4Iiwic3ViIjoieCJ9.",
    "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2FwcC5leGFtcGxlL2NsaWVudC5qc29uIn0.c2ln",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJpc3MiOiJ1bmtub3duLWNsaWVudCIsImV4cCI6MX0.c2ln",
    "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
    "a.b.c",
    "....",
]


def client_ids(world) -> st.SearchStrategy:
    return fz.one_of_or([world["client_id"], "https://app.example/client.json", "unknown-client"])


def authorize_params(world) -> st.SearchStrategy:
    return fz.form(
        {
            "response_type": fz.one_of_or(["code", "token", "code id_token"]),
            "client_id": client_ids(world),
            "redirect_uri": fz.one_of_or(
                [rows.REDIRECT_URI, "http://127.0.0.1:5555/callback", "https://evil.example/"]
            ),
            "scope": fz.one_of_or(["mcp:read", "mcp:read mcp:write", "openid", "admin"]),
            "state": fz.text,
            "code_challenge": fz.one_of_or([PKCE.challenge]),
            "code_challenge_method": fz.one_of_or(["S256", "plain"]),
            "resource": fz.one_of_or([settings.MCP_URL, "https://evil.example/mcp", "http://127.0.0.1:8000/MCP/"]),
            "prompt": fz.one_of_or(["none", "login", "consent"]),
            "nonce": fz.text,
            "allow": fz.one_of_or(["on", "Authorize"]),
        }
    )


def token_form(world) -> st.SearchStrategy:
    return fz.form(
        {
            "grant_type": fz.one_of_or(GRANT_TYPES),
            "code": fz.text,
            "redirect_uri": fz.one_of_or([rows.REDIRECT_URI]),
            "client_id": client_ids(world),
            "client_secret": fz.text,
            "code_verifier": fz.one_of_or([PKCE.verifier]),
            "refresh_token": fz.text,
            "resource": fz.one_of_or([settings.MCP_URL]),
            "scope": fz.one_of_or(["mcp:read", "mcp:write"]),
            "username": fz.text,
            "password": fz.text,
            "client_assertion_type": fz.one_of_or([ASSERTION_TYPE]),
            "client_assertion": st.one_of(fz.text, st.sampled_from(ASSERTIONS)),
        }
    )


ascii_header = fz.header_value


def authorization_headers(world) -> st.SearchStrategy:
    return st.one_of(
        st.none(),
        st.just(f"Bearer {world['access_token']}"),
        st.just(f"Bearer {world['registration_token']}"),
        ascii_header.map(lambda value: "Bearer " + value),
        ascii_header.map(lambda value: "Basic " + value),
        ascii_header,
    )


def metadata(world) -> st.SearchStrategy:
    uris = st.lists(fz.one_of_or([rows.REDIRECT_URI, "https://app.example/cb", "cursor://x/cb"]), max_size=3)
    return st.fixed_dictionaries(
        {},
        optional={
            "redirect_uris": st.one_of(uris, fz.json_value),
            "client_name": st.one_of(fz.text, fz.json_value),
            "token_endpoint_auth_method": st.one_of(
                fz.one_of_or(["none", "client_secret_basic", "client_secret_post", "private_key_jwt"]), fz.json_value
            ),
            "grant_types": st.one_of(
                st.lists(fz.one_of_or([*GRANT_TYPES, "urn:ietf:params:oauth:grant-type:device_code"])), fz.json_value
            ),
            "response_types": st.one_of(st.lists(fz.one_of_or(["code", "token"])), fz.json_value),
            "scope": st.one_of(fz.one_of_or(["mcp:read", "mcp:read mcp:write", "admin"]), fz.json_value),
            "client_uri": fz.text,
            "logo_uri": fz.text,
            "jwks": fz.json_value,
            "application_type": fz.one_of_or(["native", "web"]),
            "software_statement": fz.text,
        },
    )


def json_bodies(world) -> st.SearchStrategy:
    return st.one_of(
        metadata(world).map(lambda d: json.dumps(d).encode()),
        fz.json_value.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=200),
        fz.text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


# --- The Django endpoints -------------------------------------------------------------------------


def send(django_client: DjangoClient, method: str, path: str, **kwargs):
    fz.count()
    return django_client.generic(method, path, **kwargs)


WELL_KNOWN = [
    "oauth-authorization-server",
    "oauth-protected-resource",
    "oauth-protected-resource/mcp",
    "openid-configuration",
    "oauth-authorization-server/mcp",
    "oauth-protected-resource/other",
    "jwks.json",
]


@fz.fuzz_settings(80)
@given(
    data=st.data(),
    path=st.one_of(st.sampled_from(WELL_KNOWN), fz.short.map(lambda s: s.replace("?", "").replace("#", ""))),
    method=st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]),
)
def test_fuzz_discovery(client, world, data, path, method) -> None:
    headers = data.draw(
        fz.headers({"If-None-Match": ascii_header, "Accept": ascii_header, "Origin": ascii_header}), label="headers"
    )
    if method == "OPTIONS" and "Origin" in headers:
        headers["Access-Control-Request-Method"] = "GET"
    response = send(client, method, "/.well-known/" + path, headers=headers)
    what = f"{method} /.well-known/{path}"
    fz.assert_sane(response, what)
    if method == "HEAD":
        assert not response.content, what
    elif response.status_code >= 400:
        fz.assert_oauth_error(response, what)
        assert response["Access-Control-Allow-Origin"] == "*", what
    elif response.status_code == 200 and method in ("GET", "POST") and response.content:
        assert isinstance(json.loads(response.content), dict), what


def assert_authorize_answer(response, what: str, wants_html: bool, signed_in: bool) -> None:
    fz.assert_sane(response, what)
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        location = urlsplit(response["Location"])
        if location.netloc in ("", "testserver"):
            assert location.path == "/accounts/login/", what
        else:
            # Never an open redirect: only the client's registered redirect URI (any loopback port).
            assert (location.scheme, location.hostname, location.path) == ("http", "127.0.0.1", "/callback"), what
            params = parse_qs(location.query)
            assert ("code" in params) != ("error" in params), what
            assert params["iss"] == [settings.ISSUER], what
        return
    if status == 200:
        assert signed_in, what
        assert response["Content-Type"].startswith("text/html") and b'id="authorizationForm"' in response.content
        return
    assert 400 <= status < 500, what
    if wants_html:
        assert response["Content-Type"].startswith("text/html"), what
        assert b'id="error-title"' in response.content, what
    else:
        fz.assert_oauth_error(response, what)


@fz.fuzz_settings(150)
@given(data=st.data())
def test_fuzz_authorize_get(client, world, data) -> None:
    # Each query three times: signed out for a browser and for a program, signed in for a browser.
    params = data.draw(authorize_params(world), label="query")
    for browser, wants_html in ((client, True), (client, False), (world["signed_in"], True)):
        headers = {"Accept": "text/html,application/xhtml+xml"} if wants_html else {}
        response = send(browser, "GET", "/authorize", data=params, headers=headers)
        signed_in = browser is world["signed_in"]
        assert_authorize_answer(response, f"GET /authorize {params} {signed_in=}", wants_html, signed_in)


@fz.fuzz_settings(100)
@given(data=st.data())
def test_fuzz_authorize_consent_post(world, data) -> None:
    fields = data.draw(authorize_params(world), label="form")
    for wants_html in (True, False):
        headers = {"Accept": "text/html"} if wants_html else {}
        response = world["signed_in"].post("/authorize", fields, headers=headers)
        fz.count()
        assert_authorize_answer(response, f"POST /authorize {fields}", wants_html, signed_in=True)


@fz.fuzz_settings(175)
@given(data=st.data())
def test_fuzz_token(client, world, data) -> None:
    # Each form twice: form-encoded (RFC 6749) and as JSON.
    fields = data.draw(token_form(world), label="form")
    authorization = data.draw(authorization_headers(world), label="authorization")
    headers = {"Authorization": authorization} if authorization else {}
    encoded = client.post("/token", fields, headers=headers)
    fz.count()
    as_json = send(client, "POST", "/token", data=json.dumps(fields), content_type="application/json", headers=headers)
    for response in (encoded, as_json):
        what = f"POST /token {fields}"
        fz.assert_json_or_oauth_error(response, what)
        if response.status_code == 200:
            assert "access_token" in response.json(), what
        assert response["Cache-Control"] == "no-store", what


@fz.fuzz_settings(175)
@given(
    data=st.data(),
    content_type=st.sampled_from(
        ["application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded"]
    ),
)
def test_fuzz_register(client, world, data, content_type) -> None:
    body = data.draw(json_bodies(world), label="body")
    for sent_as in ("application/json", content_type):
        response = send(client, "POST", "/register", data=body, content_type=sent_as)
        what = f"POST /register ({sent_as}) {body[:200]!r}"
        fz.assert_json_or_oauth_error(response, what)
        if response.status_code == 201:
            registered = response.json()
            assert registered["client_id"] and registered["redirect_uris"], what
        else:
            assert response.status_code == 400, what
            assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri", "invalid_request")


@fz.fuzz_settings(100)
@given(data=st.data(), method=st.sampled_from(["GET", "PUT", "DELETE", "POST", "PATCH"]))
def test_fuzz_registration_management(client, world, data, method) -> None:
    client_id = data.draw(
        st.one_of(
            st.just(world["client_id"]), fz.short.filter(lambda s: "/" not in s and "?" not in s and "#" not in s)
        ),
        label="client_id",
    )
    authorization = data.draw(authorization_headers(world), label="authorization")
    body = data.draw(json_bodies(world), label="body") if method in ("PUT", "POST", "PATCH") else b""
    headers = {"Authorization": authorization} if authorization else {}
    response = send(
        client, method, f"/register/{client_id}", data=body, content_type="application/json", headers=headers
    )
    what = f"{method} /register/{client_id!r} {authorization!r}"
    fz.assert_json_or_oauth_error(response, what)
    if response.status_code in (200, 201):
        assert authorization == f"Bearer {world['registration_token']}", what
    if method == "DELETE" and response.status_code == 204:
        assert authorization == f"Bearer {world['registration_token']}", what


@fz.fuzz_settings(80)
@given(data=st.data())
def test_fuzz_revoke(client, world, data) -> None:
    fields = data.draw(
        fz.form(
            {
                "token": st.one_of(st.just(world["access_token"]), fz.text),
                "token_type_hint": fz.one_of_or(["access_token", "refresh_token"]),
                "client_id": client_ids(world),
                "client_secret": fz.text,
            }
        ),
        label="form",
    )
    response = client.post("/revoke", fields)
    fz.count()
    fz.assert_json_or_oauth_error(response, f"POST /revoke {fields}")


# --- Bodies Django cannot parse as declared: malformed multipart, wrongly declared charsets ----------
BODY_PATHS = [
    "/token",
    "/revoke",
    "/register",
    "/register/some-client",
    "/authorize",
    "/introspect",
    "/accounts/login/",
    "/account/apps/",
    "/admin/login/",
    "/.well-known/oauth-authorization-server",
    "/docs/",
    "/",
]
MALFORMED_CONTENT_TYPES = [
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary="unterminated',
    "multipart/form-data; boundary=" + "b" * 200,
    "multipart/mixed; boundary=x",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/x-www-form-urlencoded; charset=utf-32",
    "application/x-www-form-urlencoded; charset=shift_jis",
    "application/x-www-form-urlencoded; charset=no-such-charset",
    "application/x-www-form-urlencoded; charset=",
    "application/json; charset=utf-16",
    "application/json; charset=latin-1",
    "text/plain; charset=utf-7",
]
multipart_body = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=120).map(lambda b: b'--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\n' + b),
    st.binary(max_size=120).map(
        lambda b: b'--x\r\nContent-Disposition: form-data; name="f"; filename="' + b + b'"\r\n\r\nx\r\n--x--\r\n'
    ),
    st.sampled_from([b"--x--", b"--x\r\n\r\n", b"--x\r\nContent-Type: text/plain\r\n\r\n\xff\xfe\r\n--x--\r\n"]),
)


@fz.fuzz_settings(120)
@given(
    path=st.sampled_from(BODY_PATHS),
    method=st.sampled_from(["POST", "POST", "PUT", "PATCH"]),
    content_type=st.sampled_from(MALFORMED_CONTENT_TYPES),
    body=multipart_body,
)
def test_fuzz_bodies_that_cannot_be_parsed_as_declared(client, world, path, method, content_type, body) -> None:
    from authserver.middleware import is_api_path

    for browser in (client, world["signed_in"]):
        response = send(browser, method, path, data=body, content_type=content_type)
        what = f"{method} {path} ({content_type}) {body[:80]!r}"
        fz.assert_sane(response, what)
        if is_api_path(path) and response.status_code >= 400:
            fz.assert_oauth_error(response, what)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/token", "/revoke"])
@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary="])
def test_malformed_multipart_at_the_oauth_endpoints_is_invalid_request(client, unthrottled, path, content_type) -> None:
    # Django cannot even start parsing these (MultiPartParserError): a 500 until issue 12.
    response = send(client, "POST", path, data=b"\x00\xff garbage", content_type=content_type)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    assert response["Content-Type"].startswith("application/json")


PEOPLE_PATHS = ("/accounts/login/", "/account/apps/", "/admin/")


@fz.fuzz_settings(60)
@given(
    path=st.one_of(
        st.sampled_from(["/", "/mcp/", "/token/", "/authorize/", "/register/", "/revoke/", "/introspect", "/o/token/"]),
        fz.short.map(lambda s: "/" + s.replace("?", "").replace("#", "")),
        st.sampled_from(PEOPLE_PATHS),
    ),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS"]),
    wants_html=st.booleans(),
)
def test_fuzz_every_other_path(client, world, path, method, wants_html) -> None:
    headers = {"Accept": "text/html"} if wants_html else {}
    response = send(client, method, path, headers=headers)
    what = f"{method} {path}"
    fz.assert_sane(response, what)
    from authserver.middleware import is_api_path

    if response.status_code >= 400 and is_api_path(path) and response.content:
        fz.assert_oauth_error(response, what)


# --- Every parameter with every hostile value, the others valid (so it gets far in) -----------------


def valid_requests(world) -> dict[tuple[str, str], dict[str, str]]:
    pkce = PKCE
    authorize = {
        "response_type": "code",
        "client_id": world["client_id"],
        "redirect_uri": rows.REDIRECT_URI,
        "scope": "mcp:read",
        "state": "s",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        "resource": settings.MCP_URL,
    }
    return {
        ("GET", "/authorize"): authorize,
        ("POST", "/authorize"): {**authorize, "allow": "on"},
        ("POST", "/token"): {
            "grant_type": "authorization_code",
            "code": "not-a-code",
            "redirect_uri": rows.REDIRECT_URI,
            "client_id": world["client_id"],
            "code_verifier": pkce.verifier,
            "resource": settings.MCP_URL,
            "refresh_token": "x",
        },
        ("POST", "/revoke"): {
            "token": world["access_token"],
            "token_type_hint": "access_token",
            "client_id": world["client_id"],
        },
        ("POST", "/accounts/login/"): {"username": "fuzzer", "password": "x", "next": "/authorize"},
        ("POST", "/register"): {
            "client_name": "n",
            "redirect_uris": rows.REDIRECT_URI,
            "token_endpoint_auth_method": "none",
            "grant_types": "authorization_code",
            "scope": "mcp:read",
        },
    }


@pytest.mark.django_db
def test_every_parameter_with_every_hostile_value(client, world) -> None:
    as_list = {"redirect_uris", "grant_types"}
    for (method, path), valid in valid_requests(world).items():
        browser = world["signed_in"] if path == "/authorize" else client
        for name in valid:
            for value in fz.HOSTILE:
                fields = {**valid, name: value}
                what = f"{method} {path} {name}={value[:40]!r}"
                if path == "/register":
                    body = {k: [v] if k in as_list else v for k, v in fields.items()}
                    response = send(browser, method, path, data=json.dumps(body), content_type="application/json")
                    fz.assert_json_or_oauth_error(response, what)
                elif method == "GET":
                    response = send(browser, method, path, data=fields, headers={"Accept": "text/html"})
                    assert_authorize_answer(response, what, wants_html=True, signed_in=True)
                else:
                    # Form-encoded, as browsers and OAuth clients send it (the test client's default is multipart).
                    encoded = urlencode(fields)
                    response = send(
                        browser, method, path, data=encoded, content_type="application/x-www-form-urlencoded"
                    )
                    if path == "/authorize":
                        assert_authorize_answer(response, what, wants_html=False, signed_in=True)
                    elif path == "/accounts/login/":
                        fz.assert_sane(response, what)
                        assert response.status_code in (302, 400), what
                    else:
                        fz.assert_json_or_oauth_error(response, what)


# --- /mcp, both protocol generations, through the real ASGI application --------------------------

TOOLS = ["whoami", "search_notes", "get_note", "create_note", "delete_note", "test_simple_text", "test_error_handling"]
URIS = ["notes://index", "notes://note/1", "test://static-text", "file:///etc/passwd"]
RPC_METHODS = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "server/discover",
    "resources/subscribe",
]
VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", MODERN, "2099-01-01"]

params_strategy = st.one_of(
    fz.json_value,
    st.fixed_dictionaries(
        {},
        optional={
            "name": fz.one_of_or(TOOLS + ["summarize_note", "draft_note"]),
            "arguments": st.dictionaries(fz.short, fz.json_value, max_size=3),
            "uri": fz.one_of_or(URIS),
            "protocolVersion": fz.one_of_or(VERSIONS),
            "capabilities": fz.json_value,
            "clientInfo": st.one_of(st.just({"name": "fuzz", "version": "1"}), fz.json_value),
            "cursor": fz.text,
            "level": fz.one_of_or(["debug", "info", "emergency"]),
            "ref": fz.json_value,
            "argument": fz.json_value,
            "_meta": fz.json_value,
        },
    ),
)
message_strategy = st.fixed_dictionaries(
    {"jsonrpc": st.one_of(st.just("2.0"), fz.json_scalar), "method": fz.one_of_or(RPC_METHODS)},
    optional={"id": st.one_of(st.integers(), fz.short, st.none(), fz.json_value), "params": params_strategy},
)


def modern_meta() -> st.SearchStrategy:
    valid = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"},
    }
    return st.one_of(st.just(valid), fz.json_value, st.dictionaries(st.sampled_from(list(valid)), fz.json_value))


@contextmanager
def mcp_app():
    """A fresh ASGI application with its lifespan running (the SDK's session manager)."""
    from starlette.testclient import TestClient

    from config.asgi import build_application

    with TestClient(build_application(), base_url=settings.PUBLIC_URL, raise_server_exceptions=False) as test_client:
        yield test_client


def close_mcp_db_connections() -> None:
    """Close the connections of /mcp's database threads (one task per thread, held together by a
    barrier), so that the test database can be flushed and dropped."""
    from django.db import connections

    from mcpserver import db

    size = db._executor._max_workers
    barrier = threading.Barrier(size)

    def close() -> None:
        barrier.wait(timeout=10)
        connections.close_all()

    for future in [db._executor.submit(close) for _ in range(size)]:
        future.result(timeout=20)


@pytest.fixture
def mcp_world(transactional_db, unthrottled):
    user = rows.make_user("mcp-fuzzer")
    app = rows.make_client("MCP fuzz client")
    world = {
        "read_write": rows.make_token(user, app, "mcp:read mcp:write"),
        "read_only": rows.make_token(user, app, "mcp:read"),
        "foreign": rows.make_token(user, app, "mcp:read", resource=["https://other.example/mcp"]),
    }
    yield world
    close_mcp_db_connections()


@pytest.fixture
def mcp(mcp_world):
    with mcp_app() as test_client:
        yield test_client


def mcp_authorization(world) -> st.SearchStrategy:
    return st.one_of(
        st.sampled_from(
            [f"Bearer {world['read_write']}", f"Bearer {world['read_only']}", f"Bearer {world['foreign']}"]
        ),
        st.none(),
        ascii_header.map(lambda value: "Bearer " + value),
        ascii_header,
    )


def mcp_headers(data, world, version_strategy) -> dict[str, str]:
    headers = data.draw(
        fz.headers(
            {
                "Accept": st.one_of(
                    st.just(MCP_HEADERS["Accept"]),
                    st.sampled_from(["application/json", "text/event-stream", "*/*"]),
                    ascii_header,
                ),
                "Content-Type": st.one_of(
                    st.just("application/json"),
                    st.sampled_from(["text/plain", "application/json; charset=utf-8"]),
                    ascii_header,
                ),
                "Mcp-Session-Id": ascii_header,
            }
        ),
        label="headers",
    )
    headers.setdefault("Accept", MCP_HEADERS["Accept"])
    headers.setdefault("Content-Type", MCP_HEADERS["Content-Type"])
    authorization = data.draw(mcp_authorization(world), label="authorization")
    if authorization:
        headers["Authorization"] = authorization
    version = data.draw(version_strategy, label="version")
    if version:
        headers["MCP-Protocol-Version"] = version
    return headers


def with_valid_token(headers: dict[str, str], world) -> list[dict[str, str]]:
    """The request as drawn, and the same with a valid token (so that it reaches the MCP SDK)."""
    valid = (
        world["read_only"] if headers.get("Authorization") == f"Bearer {world['read_write']}" else world["read_write"]
    )
    return [headers, {**headers, "Authorization": f"Bearer {valid}"}]


@pytest.mark.django_db(transaction=True)
@fz.fuzz_settings(250)
@given(data=st.data())
def test_fuzz_mcp_2025_11_25(mcp, mcp_world, data) -> None:
    headers = mcp_headers(data, mcp_world, st.one_of(st.none(), st.sampled_from(VERSIONS[:4]), ascii_header))
    body = data.draw(
        st.one_of(
            message_strategy.map(json.dumps),
            st.lists(message_strategy, max_size=3).map(json.dumps),
            fz.json_value.map(json.dumps),
            st.binary(max_size=100),
        ),
        label="body",
    )
    method = data.draw(st.sampled_from(["POST"] * 8 + ["GET", "DELETE"]), label="method")
    for sent in with_valid_token(headers, mcp_world):
        fz.count()
        response = mcp.request(method, "/mcp", headers=sent, content=body if method == "POST" else None)
        fz.assert_mcp_answer(response, f"{method} /mcp {sent} {body[:300]!r}")


@pytest.mark.django_db(transaction=True)
@fz.fuzz_settings(250)
@given(data=st.data())
def test_fuzz_mcp_2026_07_28(mcp, mcp_world, data) -> None:
    headers = mcp_headers(data, mcp_world, st.just(MODERN))
    message = data.draw(message_strategy, label="message")
    if data.draw(st.booleans(), label="with _meta") and isinstance(message.get("params", {}), dict):
        message["params"] = {**message.get("params", {}), "_meta": data.draw(modern_meta(), label="_meta")}
    # Routing headers: usually the ones the body implies, sometimes anything.
    method_header = data.draw(st.one_of(st.just(message["method"]), ascii_header, st.none()), label="Mcp-Method")
    if isinstance(method_header, str):
        headers["Mcp-Method"] = method_header.encode("ascii", "replace").decode()
    params = message.get("params")
    name = params.get("name") or params.get("uri") if isinstance(params, dict) else None
    name_header = data.draw(st.one_of(st.just(name), ascii_header, st.none()), label="Mcp-Name")
    if isinstance(name_header, str):
        headers["Mcp-Name"] = name_header.encode("ascii", "replace").decode()
    body = json.dumps(message)
    for sent in with_valid_token(headers, mcp_world):
        fz.count()
        response = mcp.post("/mcp", headers=sent, content=body)
        fz.assert_mcp_answer(response, f"POST /mcp {sent} {body[:300]}")


# --- Oversized bodies and headers, deeply nested JSON: refused early, on every endpoint ------------

DJANGO_ENDPOINTS = [
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/.well-known/oauth-protected-resource/mcp"),
    ("GET", "/authorize"),
    ("POST", "/authorize"),
    ("POST", "/token"),
    ("POST", "/register"),
    ("PUT", "/register/some-client"),
    ("POST", "/revoke"),
    ("POST", "/accounts/login/"),
]
NESTED = b"[" * 100_000
BIG_BODY = b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}'
BIG_HEADERS = {"X-Padding": "a" * 64 * 1024}
MANY_HEADERS = {f"X-Field-{n}": "v" for n in range(200)}


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), DJANGO_ENDPOINTS)
def test_django_endpoints_refuse_oversized_and_nested_input_early(client, unthrottled, method, path) -> None:
    api = path.startswith(("/.well-known", "/token", "/register", "/revoke"))

    def check(response, status: int | None, what: str) -> None:
        fz.count()
        fz.assert_sane(response, what)
        if status is not None:
            assert response.status_code == status, what
        assert 400 <= response.status_code < 500, what
        if api:
            fz.assert_oauth_error(response, what)

    big = send(client, method, path, data=BIG_BODY, content_type="application/json")
    check(big, 413, f"{method} {path} with a 2 MiB body")
    check(send(client, method, path, headers=BIG_HEADERS), 431, f"{method} {path} with 64 KiB of headers")
    check(send(client, method, path, headers=MANY_HEADERS), 431, f"{method} {path} with 200 headers")
    if method != "GET":
        nested = send(client, method, path, data=NESTED, content_type="application/json")
        check(nested, None, f"{method} {path} with 100 000 nested arrays")


@pytest.mark.django_db(transaction=True)
def test_mcp_refuses_oversized_and_nested_input_early(mcp, mcp_world) -> None:
    token = {"Authorization": f"Bearer {mcp_world['read_write']}"}
    modern = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"}
    cases = [
        ("2 MiB body", {**MCP_HEADERS, **token}, BIG_BODY, 413),
        ("64 KiB of headers", {**MCP_HEADERS, **token, **BIG_HEADERS}, b"{}", 431),
        ("200 headers", {**MCP_HEADERS, **token, **MANY_HEADERS}, b"{}", 431),
        ("nested arrays", {**MCP_HEADERS, **token}, NESTED, 400),
        ("nested arrays, 2026-07-28", {**MCP_HEADERS, **token, **modern}, NESTED, 400),
        (
            "nested params, 2026-07-28",
            {**MCP_HEADERS, **token, **modern},
            b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":' + NESTED,
            400,
        ),
        ("nested arrays, no token", MCP_HEADERS, NESTED, 401),
    ]
    for what, headers, body, status in cases:
        fz.count()
        response = mcp.post("/mcp", headers=headers, content=body)
        fz.assert_mcp_answer(response, what)
        assert response.status_code == status, f"{what}: {response.status_code} {response.text[:200]}"


@pytest.mark.django_db(transaction=True)
def test_mcp_refuses_other_audiences_and_rebinding_in_its_own_format(mcp, mcp_world) -> None:
    def call(token: str, **headers: str):
        fz.count()
        sent = {**MCP_HEADERS, "Authorization": f"Bearer {token}", "MCP-Protocol-Version": "2025-11-25", **headers}
        return mcp.post("/mcp", headers=sent, content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))

    assert call(mcp_world["read_only"]).status_code == 200
    # Audience confusion: a live token of this server's own user, issued for another resource.
    foreign = call(mcp_world["foreign"])
    assert foreign.status_code == 401
    assert 'error="invalid_token"' in foreign.headers["WWW-Authenticate"]
    assert foreign.json()["error_description"] == f"The access token was not issued for {settings.MCP_URL}"
    # DNS rebinding: a foreign Host or Origin is refused whatever the token, as a JSON-RPC error.
    for headers, status, message in (
        ({"Host": "evil.example"}, 421, "Invalid Host header"),
        ({"Origin": "https://evil.example"}, 403, "Invalid Origin header"),
    ):
        refused = call(mcp_world["read_write"], **headers)
        fz.assert_mcp_answer(refused, str(headers))
        assert refused.status_code == status
        assert refused.json()["error"]["message"] == message


# --- A sample against a live server (real HTTP parsing, several workers) ---------------------------


@pytest.mark.e2e
def test_live_server_refuses_oversized_and_nested_input(security_stack) -> None:
    url = security_stack.url
    with live_client(new_ip()) as http:
        for method, path in [*DJANGO_ENDPOINTS, ("POST", "/mcp")]:
            for what, kwargs, status in [
                # /mcp without a token: refused (401) before the body is read at all.
                (
                    "2 MiB body",
                    {"content": BIG_BODY, "headers": {"Content-Type": "application/json"}},
                    401 if path == "/mcp" else 413,
                ),
                ("64 KiB of headers", {"headers": BIG_HEADERS}, 431),
                ("200 headers", {"headers": MANY_HEADERS}, 431),
            ]:
                fz.count()
                response = http.request(method, url + path, **kwargs)
                fz.assert_sane(response, f"{method} {path} {what}")
                assert response.status_code == status, (
                    f"{method} {path} {what}: {response.status_code} {response.text[:200]}"
                )
            if method != "GET":
                fz.count()
                nested = http.request(method, url + path, content=NESTED, headers={"Content-Type": "application/json"})
                fz.assert_sane(nested, f"{method} {path} nested")
                assert 400 <= nested.status_code < 500


def strip_header_values(request: httpx2.Request) -> None:
    for name, value in list(request.headers.items()):
        request.headers[name] = value.strip()


@pytest.mark.e2e
@fz.fuzz_settings(80)
@given(data=st.data())
def test_live_server_fuzz_sample(security_stack, data) -> None:
    """A smaller sample of the same requests through gunicorn/uvicorn, from many addresses."""
    world = {"client_id": "unknown-client", "access_token": "not-a-token", "registration_token": "not-a-token"}
    endpoint = data.draw(
        st.sampled_from(["token", "register", "authorize", "revoke", "mcp", "well-known", "malformed"]),
        label="endpoint",
    )
    url = security_stack.url
    with httpx2.Client(timeout=30, follow_redirects=False, headers={"X-Forwarded-For": new_ip()}) as http:
        # HTTP itself has no header value with whitespace at its ends: the client refuses to send one.
        http.event_hooks["request"] = [strip_header_values]
        fz.count()
        if endpoint == "token":
            response = http.post(url + "/token", data=data.draw(token_form(world)))
            fz.assert_json_or_oauth_error(response, "live /token")
        elif endpoint == "register":
            response = http.post(
                url + "/register", content=data.draw(json_bodies(world)), headers={"Content-Type": "application/json"}
            )
            fz.assert_json_or_oauth_error(response, "live /register")
        elif endpoint == "authorize":
            response = http.get(url + "/authorize", params=data.draw(authorize_params(world)))
            fz.assert_sane(response, "live /authorize")
            if response.status_code >= 400:
                fz.assert_oauth_error(response, "live /authorize")
        elif endpoint == "revoke":
            response = http.post(url + "/revoke", data=data.draw(fz.form({"token": fz.text, "client_id": fz.text})))
            fz.assert_json_or_oauth_error(response, "live /revoke")
        elif endpoint == "malformed":
            path = data.draw(st.sampled_from(["/token", "/revoke", "/register"]))
            content_type = data.draw(st.sampled_from(MALFORMED_CONTENT_TYPES))
            response = http.post(url + path, content=data.draw(multipart_body), headers={"Content-Type": content_type})
            fz.assert_json_or_oauth_error(response, f"live {path} ({content_type})")
        elif endpoint == "mcp":
            version = data.draw(st.sampled_from(["2025-11-25", MODERN]))
            message = data.draw(message_strategy)
            headers = {
                **MCP_HEADERS,
                "MCP-Protocol-Version": version,
                "Authorization": "Bearer " + data.draw(ascii_header),
            }
            if version == MODERN:
                # As an HTTP client can send it: printable ASCII (uvicorn refuses anything else before any app).
                headers["Mcp-Method"] = "".join(c if " " <= c <= "~" else "?" for c in str(message["method"]))
            response = http.post(url + "/mcp", headers=headers, content=json.dumps(message))
            fz.assert_mcp_answer(response, "live /mcp")
        else:
            response = http.get(url + "/.well-known/" + data.draw(st.sampled_from(WELL_KNOWN)))
            fz.assert_json_or_oauth_error(response, "live /.well-known")
