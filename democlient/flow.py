"""A headless OAuth client for this server: registration, PKCE, the user's login and consent
completed over HTTP (as a person's browser would), and the token exchange.

Used by `manage.py mcp_demo --username … --password …` and by the end-to-end tests; it speaks
only HTTP to the server, so it works against any deployment of it (docker-compose included).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2

HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class FlowError(Exception):
    """A step of the flow did not go as the protocol says it should."""


@dataclass(frozen=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


@dataclass
class Callback:
    """What the authorization server sent to the client's redirect URI."""

    url: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def code(self) -> str | None:
        return self.params.get("code")

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def callback_from(location: str) -> Callback:
    query = parse_qs(urlsplit(location).query, keep_blank_values=True)
    return Callback(location, {key: values[-1] for key, values in query.items()})


class Browser:
    """What a person's browser does with the login and consent pages, without a screen."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        timeout: float = 20.0,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        # `transport` lets the browser dial the public origin through something else, e.g. a
        # stand-in for a TLS proxy in front of several replicas (tests/support/proxy.py).
        self.http = httpx2.Client(
            follow_redirects=False, timeout=timeout, headers={"Accept": "text/html"}, transport=transport
        )
        self.pages: list[tuple[str, str]] = []  # (what, URL) of every page seen, for narration

    def close(self) -> None:
        self.http.close()

    def authorize(self, authorize_url: str, allow: bool = True) -> Callback:
        """Follow an authorization URL through login and consent to the client's redirect URI."""
        url = authorize_url
        for _ in range(10):
            response = self.http.get(url)
            if response.status_code in (301, 302, 303, 307):
                location = urljoin(url, response.headers["location"])
                if not location.startswith(self.base_url + "/"):
                    return callback_from(location)  # left the server: the client's redirect URI
                if urlsplit(location).path == "/accounts/login/":
                    self.pages.append(("login", location))
                    url = self._log_in(location)
                else:
                    url = location
                continue
            if response.status_code == 200 and 'id="authorizationForm"' in response.text:
                self.pages.append(("consent", url))
                return self._answer_consent(url, response.text, allow)
            raise FlowError(f"unexpected answer {response.status_code} from {url}: {response.text[:300]}")
        raise FlowError("too many redirects")

    def _log_in(self, login_url: str) -> str:
        page = self.http.get(login_url)
        token = CSRF_INPUT.search(page.text)
        if page.status_code != 200 or token is None:
            raise FlowError(f"no login form at {login_url} ({page.status_code})")
        nxt = (parse_qs(urlsplit(login_url).query).get("next") or ["/"])[0]
        answer = self.http.post(
            login_url.split("?")[0],
            data={"username": self.username, "password": self.password, "next": nxt, "csrfmiddlewaretoken": token[1]},
            headers={"Referer": login_url},
        )
        if answer.status_code != 302:
            raise FlowError(f"login as {self.username!r} failed ({answer.status_code})")
        return urljoin(login_url, answer.headers["location"])

    def _answer_consent(self, page_url: str, page: str, allow: bool) -> Callback:
        form = {name: html.unescape(value) for name, value in HIDDEN_INPUT.findall(page)}
        if allow:
            form["allow"] = "on"
        answer = self.http.post(self.base_url + "/authorize", data=form, headers={"Referer": page_url})
        if answer.status_code != 302:
            raise FlowError(f"consent was not accepted ({answer.status_code}): {answer.text[:300]}")
        return callback_from(answer.headers["location"])


@dataclass
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scope: str
    resource: str | None
    pkce: Pkce = field(default_factory=Pkce.new)
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def url(self, authorization_endpoint: str, **extra: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "code_challenge": self.pkce.challenge,
            "code_challenge_method": "S256",
        }
        if self.resource:
            params["resource"] = self.resource
        params.update(extra)
        return authorization_endpoint + "?" + urlencode(params)


def register(http: httpx2.Client, registration_endpoint: str, metadata: dict) -> dict:
    response = http.post(registration_endpoint, json=metadata)
    if response.status_code != 201:
        raise FlowError(f"registration refused ({response.status_code}): {response.text[:300]}")
    return response.json()


def exchange_code(
    http: httpx2.Client,
    token_endpoint: str,
    request: AuthorizationRequest,
    code: str,
    authentication: dict[str, str] | None = None,
) -> httpx2.Response:
    """`authentication`: client credentials to send along (e.g. an RFC 7523 client assertion)."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": request.redirect_uri,
        "client_id": request.client_id,
        "code_verifier": request.pkce.verifier,
    }
    if request.resource:
        data["resource"] = request.resource
    return http.post(token_endpoint, data={**data, **(authentication or {})})


def refresh(
    http: httpx2.Client,
    token_endpoint: str,
    client_id: str,
    refresh_token: str,
    resource: str | None = None,
    authentication: dict[str, str] | None = None,
) -> httpx2.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if resource:
        data["resource"] = resource
    return http.post(token_endpoint, data={**data, **(authentication or {})})
