"""Client authentication with a signed JWT (RFC 7523 private_key_jwt), in process: URL clients
(CIMD) whose document declares it, self-registered clients, at /token, /revoke and /introspect;
every rule an assertion must pass, each refusal an `invalid_client` 401 that names the rule, with
an audit line and no token; key rotation; the one egress point with its limits.

The web servers hosting client documents and JWKS are stood in for by tests/support/cimd_stub.py
(through CLIENT_DOCUMENT_FETCHER, the fetcher every client document comes through).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.auth import get_user_model
from django.test import Client as HttpClient
from oauth2_provider.models import AccessToken, RefreshToken

from authserver import introspection
from authserver.models import Client, UsedClientAssertion
from democlient.flow import AuthorizationRequest
from tests.support.cimd_stub import StubFetcher, served
from tests.support.inprocess import ISSUER, MCP_URL, consent, query_of, token_request
from tests.support.signing import ClientKey, assertion_fields

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stub_fetcher")]

CALLBACK = "https://chatgpt.example/connector/oauth/app-1"
CLIENT_URL = "https://chatgpt.example/oauth/app-1/client.json"
JWKS_URL = "https://chatgpt.example/oauth/jwks.json"
TOKEN_URL = ISSUER + "/token"


@pytest.fixture
def signed_in(client: HttpClient) -> HttpClient:
    client.force_login(get_user_model().objects.create_user("alice", password="alice-password-123"))
    return client


@pytest.fixture
def key() -> ClientKey:
    return ClientKey("RS256")


def document(client_id: str = CLIENT_URL, **overrides) -> dict:
    """A client metadata document shaped like ChatGPT's (its URL client id, private_key_jwt with RS256
    and a jwks_uri, as public reports show it: engram-app/Engram#1637)."""
    doc = {
        "client_id": client_id,
        "client_uri": "https://chatgpt.example/",
        "client_name": "ChatGPT",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": JWKS_URL,
    }
    doc.update(overrides)
    return {name: value for name, value in doc.items() if value is not None}


def publish(key: ClientKey, client_id: str = CLIENT_URL, jwks_url: str = JWKS_URL, **overrides) -> str:
    StubFetcher.documents[client_id] = document(client_id, **{"jwks_uri": jwks_url, **overrides})
    StubFetcher.documents.setdefault(jwks_url, key.jwks())
    return client_id


def authorize(
    http: HttpClient, client_id: str = CLIENT_URL, scope: str = "mcp:read"
) -> tuple[AuthorizationRequest, str]:
    request = AuthorizationRequest(client_id, CALLBACK, scope, MCP_URL)
    _page, answer = consent(http, request.url("/authorize"))
    assert answer.status_code == 302, answer.content[:300]
    return request, query_of(answer["Location"])["code"]


def exchange(http: HttpClient, request: AuthorizationRequest, code: str, assertion: str, **extra):
    return token_request(http, request, code, **assertion_fields(assertion), **extra)


def refresh(http: HttpClient, refresh_token: str, assertion: str, client_id: str | None = CLIENT_URL, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **assertion_fields(assertion), **extra}
    if client_id:
        data["client_id"] = client_id
    return http.post("/token", data)


def assert_invalid_client(response, words: str) -> str:
    assert response.status_code == 401, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "invalid_client"
    assert words in body["error_description"], body["error_description"]
    return body["error_description"]


@pytest.fixture
def audit_lines(caplog) -> list[dict]:
    caplog.set_level(logging.INFO, logger="audit")
    lines: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.audit)

    handler = Collect()
    logging.getLogger("audit").addHandler(handler)
    yield lines
    logging.getLogger("audit").removeHandler(handler)


# --- The whole flow, with each allowed algorithm --------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "EdDSA"])
def test_url_client_signs_its_way_to_tokens_and_refreshes(signed_in: HttpClient, algorithm: str) -> None:
    key = ClientKey(algorithm)
    publish(key, token_endpoint_auth_signing_alg=algorithm)
    request, code = authorize(signed_in)
    response = exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER))
    assert response.status_code == 200, response.content
    issued = response.json()
    client = Client.objects.get(client_id=CLIENT_URL)
    assert client.registration_source == Client.RegistrationSource.CIMD
    assert (client.token_endpoint_auth_method, client.client_type) == ("private_key_jwt", Client.CLIENT_CONFIDENTIAL)
    assert (client.client_jwks_uri, client.token_endpoint_auth_signing_alg) == (JWKS_URL, algorithm)
    assert AccessToken.objects.get(application=client).resource == [MCP_URL]

    # The token endpoint URL is an accepted audience too, and the client_id may be left out.
    again = refresh(signed_in, issued["refresh_token"], key.assertion(CLIENT_URL, TOKEN_URL), client_id=None)
    assert again.status_code == 200, again.content
    assert again.json()["refresh_token"] != issued["refresh_token"]
    assert StubFetcher.fetched == [CLIENT_URL, JWKS_URL]  # the JWKS came once, then from the cache


def test_an_inline_jwks_needs_no_fetch(signed_in: HttpClient) -> None:
    key = ClientKey("ES256")
    StubFetcher.documents[CLIENT_URL] = document(jwks_uri=None, jwks=key.jwks())
    request, code = authorize(signed_in)
    assert exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER)).status_code == 200
    client = Client.objects.get(client_id=CLIENT_URL)
    assert json.loads(client.client_jwks) == key.jwks() and client.client_jwks_uri == ""
    assert StubFetcher.fetched == [CLIENT_URL]


# --- Every rule an assertion must pass ------------------------------------------------------------------------
def hs256_with_the_public_key(key: ClientKey, claims: dict) -> str:
    """The classic forgery: HMAC-SHA256 keyed with the client's public key (PEM), which anyone has."""
    secret = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signing_input = part({"alg": "HS256", "typ": "JWT", "kid": key.kid}) + "." + part(claims)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def unsigned(key: ClientKey, claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return part({"alg": "none", "typ": "JWT", "kid": key.kid}) + "." + part(claims) + "."


def claims_for(client_id: str = CLIENT_URL, **overrides) -> dict:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "exp": now + 60, "iat": now, "jti": f"j-{now}-x"}
    claims.update(overrides)
    return claims


ELSEWHERE = "https://elsewhere.example"
BROKEN = {
    "wrong-aud": (lambda k: k.assertion(CLIENT_URL, "https://elsewhere.example"), "aud must be this server's issuer"),
    "aud-with-another-value": (
        lambda k: k.assertion(CLIENT_URL, [ISSUER, "https://elsewhere.example"]),
        "nothing else",
    ),
    "aud-is-the-mcp-resource": (lambda k: k.assertion(CLIENT_URL, MCP_URL), "aud must be this server's issuer"),
    "expired": (lambda k: k.assertion(CLIENT_URL, ISSUER, exp=int(time.time()) - 120), "has expired"),
    "missing-exp": (lambda k: k.assertion(CLIENT_URL, ISSUER, exp=None), "has no exp claim"),
    "exp-too-far-ahead": (lambda k: k.assertion(CLIENT_URL, ISSUER, exp=int(time.time()) + 3600), "at most 300"),
    "iat-in-the-future": (lambda k: k.assertion(CLIENT_URL, ISSUER, iat=int(time.time()) + 600), "not valid yet"),
    "nbf-in-the-future": (lambda k: k.assertion(CLIENT_URL, ISSUER, nbf=int(time.time()) + 600), "not valid yet"),
    "missing-jti": (lambda k: k.assertion(CLIENT_URL, ISSUER, jti=None), "has no jti claim"),
    "sub-is-someone-else": (lambda k: k.assertion(CLIENT_URL, ISSUER, sub="https://other.example/c.json"), "sub must"),
    "alg-none": (lambda k: unsigned(k, claims_for()), "alg 'none'"),
    "hs256-with-the-public-key": (lambda k: hs256_with_the_public_key(k, claims_for()), "alg 'HS256'"),
    "unknown-kid": (
        lambda k: k.assertion(CLIENT_URL, ISSUER, headers={"kid": "never-published"}),
        "kid 'never-published'",
    ),
    "signed-by-another-key": (
        lambda k: ClientKey("RS256", kid=k.kid).assertion(CLIENT_URL, ISSUER),
        "signature does not verify",
    ),
    "not-a-jwt": (lambda k: "not.a.jwt", "not a signed JWT"),
    "other-signing-alg-than-registered": (
        lambda k: ClientKey("PS256", kid=k.kid).assertion(CLIENT_URL, ISSUER),
        "PS256",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_assertion_is_invalid_client_naming_its_rule(signed_in, key, audit_lines, case: str) -> None:
    publish(key, token_endpoint_auth_signing_alg="RS256")
    request, code = authorize(signed_in)
    make, words = BROKEN[case]
    assert_invalid_client(exchange(signed_in, request, code, make(key)), words)
    assert not AccessToken.objects.exists()
    refused = [line for line in audit_lines if line["event"] == "client_authentication_failed"]
    assert refused and refused[-1]["client_id"] == CLIENT_URL and refused[-1]["rule"], audit_lines
    # The code was not spent by the refusals: the genuine client still redeems it.
    assert exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER)).status_code == 200


def test_a_replayed_assertion_is_refused(signed_in, key) -> None:
    publish(key)
    request, code = authorize(signed_in)
    assertion = key.assertion(CLIENT_URL, ISSUER)
    issued = exchange(signed_in, request, code, assertion)
    assert issued.status_code == 200
    assert UsedClientAssertion.objects.filter(client_id=CLIENT_URL).count() == 1
    replay = refresh(signed_in, issued.json()["refresh_token"], assertion)
    assert_invalid_client(replay, "was used before")
    assert RefreshToken.objects.filter(application__client_id=CLIENT_URL, revoked__isnull=True).count() == 1


def test_an_assertion_of_client_a_presented_by_client_b_is_refused(signed_in, key) -> None:
    other_url = "https://other.example/client.json"
    other_key = ClientKey("RS256", kid=key.kid)  # B even names A's key
    publish(key)
    publish(other_key, client_id=other_url, jwks_url="https://other.example/jwks.json", redirect_uris=[CALLBACK])
    request, code = authorize(signed_in, client_id=other_url)
    description = assert_invalid_client(
        exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER)), "was issued by"
    )
    assert CLIENT_URL in description and other_url in description
    # Nor may B sign with its own key claiming to be A.
    assert_invalid_client(
        exchange(signed_in, request, code, other_key.assertion(CLIENT_URL, ISSUER), client_id=None),
        "signature does not verify",
    )
    assert not AccessToken.objects.exists()


def test_a_private_key_jwt_client_may_use_nothing_else(signed_in, key) -> None:
    publish(key)
    request, code = authorize(signed_in)
    assert_invalid_client(token_request(signed_in, request, code), "authenticates with private_key_jwt")
    assert_invalid_client(token_request(signed_in, request, code, client_secret="guess"), "private_key_jwt")
    both = exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER), client_secret="guess")
    assert_invalid_client(both, "one method only")
    wrong_type = token_request(
        signed_in, request, code, client_assertion_type="urn:other", client_assertion=key.assertion(CLIENT_URL, ISSUER)
    )
    assert_invalid_client(wrong_type, "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    assert not AccessToken.objects.exists()


def test_a_public_url_client_cannot_present_an_assertion(signed_in, key) -> None:
    StubFetcher.documents[CLIENT_URL] = document(token_endpoint_auth_method="none", jwks_uri=None)
    request, code = authorize(signed_in)
    assert Client.objects.get(client_id=CLIENT_URL).client_type == Client.CLIENT_PUBLIC
    assert_invalid_client(exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER)), "not registered for")
    assert token_request(signed_in, request, code).status_code == 200  # as a public client it is fine


# --- Keys: rotation, and the one egress point with its limits ------------------------------------------------
def test_an_unknown_kid_refetches_once_and_a_rotated_jwks_is_accepted(signed_in, key, settings) -> None:
    publish(key)
    request, code = authorize(signed_in)
    first = exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER))
    assert first.status_code == 200
    assert StubFetcher.fetched.count(JWKS_URL) == 1

    rotated = ClientKey("RS256")
    StubFetcher.documents[JWKS_URL] = rotated.jwks()  # the client rotates its keys
    second = refresh(signed_in, first.json()["refresh_token"], rotated.assertion(CLIENT_URL, ISSUER))
    assert second.status_code == 200, second.content
    assert StubFetcher.fetched.count(JWKS_URL) == 2  # exactly one refetch

    # Another unknown key id within the floor: refused without another fetch.
    stranger = ClientKey("RS256").assertion(CLIENT_URL, ISSUER)
    assert_invalid_client(refresh(signed_in, second.json()["refresh_token"], stranger), "No RS256 key with kid")
    assert StubFetcher.fetched.count(JWKS_URL) == 2
    # The old key is gone for good.
    assert_invalid_client(refresh(signed_in, second.json()["refresh_token"], key.assertion(CLIENT_URL, ISSUER)), "kid")


def test_an_unknown_kid_is_refused_after_its_one_refetch(signed_in, key) -> None:
    publish(key)
    request, code = authorize(signed_in)
    assert exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER)).status_code == 200
    stranger = ClientKey("RS256")
    request, code = authorize(signed_in)
    description = assert_invalid_client(
        exchange(signed_in, request, code, stranger.assertion(CLIENT_URL, ISSUER)), "(fetched again)"
    )
    assert stranger.kid in description
    assert StubFetcher.fetched.count(JWKS_URL) == 2


@pytest.mark.parametrize(
    "jwks_answer",
    [
        "over-the-size-cap",
        "at-a-private-address",
        "not-a-jwks",
        "private-key-material",
        "missing",
    ],
)
def test_a_jwks_that_cannot_be_used_is_invalid_client(signed_in, key, audit_lines, jwks_answer: str) -> None:
    publish(key)
    jwks = key.jwks()
    StubFetcher.documents[JWKS_URL] = {
        "over-the-size-cap": served(body=json.dumps({**jwks, "padding": "x" * 20000})),
        "at-a-private-address": served(jwks, address="10.0.0.7"),
        "not-a-jwks": {"keys": "none here"},
        "private-key-material": {"keys": [{**jwks["keys"][0], "d": "c2VjcmV0"}]},
    }.get(jwks_answer)
    if jwks_answer == "missing":
        del StubFetcher.documents[JWKS_URL]
    request, code = authorize(signed_in)
    assert_invalid_client(exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER)), "could not be used")
    assert not AccessToken.objects.exists()
    assert any(line.get("rule") == "jwks_uri" for line in audit_lines)


# --- Documents the server refuses, with a clear error ---------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"jwks_uri": None}, "needs the client's public keys: jwks_uri or jwks"),
        ({"jwks": {"keys": []}}, "exactly one of them"),
        ({"jwks_uri": "http://chatgpt.example/oauth/jwks.json"}, "jwks_uri must be an https URL"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "needs a shared secret"),
        ({"token_endpoint_auth_method": "client_secret_post"}, "needs a shared secret"),
        ({"client_secret": "shh"}, "must not carry a client_secret"),
        ({"token_endpoint_auth_signing_alg": "HS256"}, "token_endpoint_auth_signing_alg must be one of"),
    ],
    ids=["no-keys", "both-keys", "jwks-over-http", "secret-basic", "secret-post", "carries-a-secret", "hmac-alg"],
)
def test_refused_documents_say_why_at_authorize_and_token(client, key, overrides: dict, words: str) -> None:
    publish(key, **overrides)
    request = AuthorizationRequest(CLIENT_URL, CALLBACK, "mcp:read", MCP_URL)
    page = client.get(request.url("/authorize"), HTTP_ACCEPT="text/html")
    assert page.status_code == 400 and "Location" not in page
    text = page.content.decode().replace("&#x27;", "'")
    assert "description was refused" in text and words in text
    response = token_request(client, request, "some-code", **assertion_fields(key.assertion(CLIENT_URL, ISSUER)))
    assert_invalid_client(response, words)
    assert not Client.objects.filter(client_id=CLIENT_URL).exists()


@pytest.mark.parametrize(
    "where",
    ["private-address", "over-http"],
)
def test_a_document_at_a_private_address_or_over_http_is_an_unknown_client(client, key, where: str) -> None:
    client_id = CLIENT_URL if where == "private-address" else CLIENT_URL.replace("https://", "http://")
    StubFetcher.documents[client_id] = served(document(client_id), address="192.168.1.20")
    StubFetcher.documents[JWKS_URL] = key.jwks()
    request = AuthorizationRequest(client_id, CALLBACK, "mcp:read", MCP_URL)
    assert client.get(request.url("/authorize"), HTTP_ACCEPT="application/json").status_code == 400
    response = token_request(client, request, "some-code", **assertion_fields(key.assertion(client_id, ISSUER)))
    assert_invalid_client(response, "names no client known here")
    assert not Client.objects.exists()


# --- The revocation and introspection endpoints ----------------------------------------------------------------
def test_revocation_takes_an_assertion_too(signed_in, key) -> None:
    publish(key)
    request, code = authorize(signed_in)
    issued = exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER)).json()
    form = {"token": issued["refresh_token"], "token_type_hint": "refresh_token", "client_id": CLIENT_URL}
    bad = signed_in.post("/revoke", {**form, **assertion_fields(key.assertion(CLIENT_URL, "https://x.example"))})
    assert_invalid_client(bad, "aud must")
    assert_invalid_client(signed_in.post("/revoke", form), "authenticates with private_key_jwt")
    assert RefreshToken.objects.get(application__client_id=CLIENT_URL).revoked is None
    good = signed_in.post("/revoke", {**form, **assertion_fields(key.assertion(CLIENT_URL, ISSUER))})
    assert good.status_code == 200, good.content
    assert RefreshToken.objects.get(application__client_id=CLIENT_URL).revoked is not None


def signing_client(client_id: str, key: ClientKey) -> Client:
    """A client an administrator added with a pasted JWKS."""
    return Client.objects.create(
        client_id=client_id,
        client_type=Client.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
        redirect_uris="",
        token_endpoint_auth_method="private_key_jwt",
        client_jwks=json.dumps(key.jwks()),
    )


def test_introspection_takes_an_assertion_from_the_resource_servers_client(settings, client, key) -> None:
    settings.SERVER_ROLE = "authorization"
    settings.INTROSPECTION_CLIENT_IDS = ["notes-rs"]
    rs = signing_client("notes-rs", key)
    introspection._verified_credentials.clear()
    good = client.post("/introspect", {"token": "unknown", **assertion_fields(key.assertion(rs.client_id, ISSUER))})
    assert good.status_code == 200 and good.json() == {"active": False}
    stale = key.assertion(rs.client_id, ISSUER, exp=int(time.time()) - 100)
    assert_invalid_client(client.post("/introspect", {"token": "x", **assertion_fields(stale)}), "has expired")
    other = ClientKey("RS256")
    signing_client("some-app", other)
    assert_invalid_client(
        client.post("/introspect", {"token": "x", **assertion_fields(other.assertion("some-app", ISSUER))}),
        "Only the resource server's own client",
    )


# --- Self-registered clients (RFC 7591) ---------------------------------------------------------------------------
def test_a_self_registered_private_key_jwt_client_signs_its_way_to_tokens(signed_in, key) -> None:
    registered = signed_in.post(
        "/register",
        data=json.dumps(
            {
                "client_name": "Signed agent",
                "redirect_uris": [CALLBACK],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": JWKS_URL,
            }
        ),
        content_type="application/json",
    ).json()
    client_id = registered["client_id"]
    StubFetcher.documents[JWKS_URL] = key.jwks()
    request, code = authorize(signed_in, client_id=client_id)
    assert_invalid_client(token_request(signed_in, request, code), "authenticates with private_key_jwt")
    response = exchange(signed_in, request, code, key.assertion(client_id, ISSUER))
    assert response.status_code == 200, response.content
    second = key.assertion(client_id, TOKEN_URL)
    again = refresh(signed_in, response.json()["refresh_token"], second, client_id=client_id)
    assert again.status_code == 200, again.content


def test_a_signed_document_resolved_outside_the_validator_is_refused(key) -> None:
    # Only the validator can mark the row DOT saves as private_key_jwt; anywhere else such a
    # document would become a public client, so it is refused (a public one passes, as in DOT).
    from oauth2_provider.cimd import CIMDError

    from authserver.client_documents import ClientDocumentFetcher

    publish(key)
    with pytest.raises(CIMDError, match="resolved only by the token validator"):
        ClientDocumentFetcher().fetch(CLIENT_URL)
    StubFetcher.documents[CLIENT_URL] = document(token_endpoint_auth_method="none", jwks_uri=None)
    fetched, _max_age = ClientDocumentFetcher().fetch(CLIENT_URL)
    assert fetched["token_endpoint_auth_method"] == "none"


def test_an_inline_jwks_rotates_by_fetching_the_document_again(signed_in) -> None:
    key, rotated = ClientKey("ES256"), ClientKey("ES256")
    StubFetcher.documents[CLIENT_URL] = document(jwks_uri=None, jwks=key.jwks())
    request, code = authorize(signed_in)
    issued = exchange(signed_in, request, code, key.assertion(CLIENT_URL, ISSUER))
    assert issued.status_code == 200
    StubFetcher.documents[CLIENT_URL] = document(jwks_uri=None, jwks=rotated.jwks())  # the client rotates
    again = refresh(signed_in, issued.json()["refresh_token"], rotated.assertion(CLIENT_URL, ISSUER))
    assert again.status_code == 200, again.content
    assert StubFetcher.fetched == [CLIENT_URL, CLIENT_URL]  # the document, fetched again once
    assert json.loads(Client.objects.get(client_id=CLIENT_URL).client_jwks) == rotated.jwks()
    stranger = ClientKey("ES256").assertion(CLIENT_URL, ISSUER)
    assert_invalid_client(refresh(signed_in, again.json()["refresh_token"], stranger), "No ES256 key with kid")
    assert StubFetcher.fetched == [CLIENT_URL, CLIENT_URL]  # not again within the floor
