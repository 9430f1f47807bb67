"""A person signing in to a live server through its OpenID Connect provider, over HTTP as a
browser would: our sign-in page's provider button, the provider's own sign-in and consent pages
(oidc-provider's), and back through our callback."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2

from democlient import flow
from tests.support.oidc_provider import PASSWORD, OidcProvider
from tests.support.server import LiveServer

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PROVIDER_FORM = re.compile(r'<form method="post" action="(/accounts/oidc/[^"]+)"')
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


def sso_server(provider: OidcProvider, name: str = "sso", **env: str) -> LiveServer:
    """A live server with `provider` configured from the environment, as a deployment would have
    it, and a client of its own registered there."""
    server = LiveServer(name=name, env=env)
    client_id, secret = provider.register_client(server.url + "/accounts/oidc/sso/login/callback/")
    server.overrides.update(
        SSO_OIDC_ISSUER=provider.issuer,
        SSO_OIDC_CLIENT_ID=client_id,
        SSO_OIDC_CLIENT_SECRET=secret,
        SSO_OIDC_NAME="Test IdP",
    )
    return server


class UpstreamBrowser:
    """One person's browser (its own cookies, at our server and at the provider)."""

    def __init__(self, server: LiveServer, provider: OidcProvider, login: str) -> None:
        self.server = server
        self.provider = provider
        self.login = login
        self.http = httpx2.Client(follow_redirects=True, timeout=30, headers={"Accept": "text/html"})
        self.provider_pages: list[str] = []

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> UpstreamBrowser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def sign_in(self, next_url: str = "/account/apps/") -> httpx2.Response:
        """From our sign-in page through the provider and back; the last answer."""
        page = self.http.get(self.server.url + "/accounts/login/", params={"next": next_url})
        return self.press_provider_button(page, next_url)

    def authorize(self, authorize_url: str) -> flow.Callback:
        """An MCP client's authorization request: our sign-in page, the provider, our consent
        page (allowed), and the redirect to the client with the code."""
        page = self.http.get(authorize_url)
        next_url = parse_qs(urlsplit(str(page.url)).query)["next"][0]
        consent = self.press_provider_button(page, next_url)
        assert consent.status_code == 200 and 'id="authorizationForm"' in consent.text, consent.text[:300]
        form = {name: html.unescape(value) for name, value in flow.HIDDEN_INPUT.findall(consent.text)}
        answer = self.http.post(
            self.server.url + "/authorize",
            data={**form, "allow": "on"},
            headers={"Referer": str(consent.url)},
            follow_redirects=False,
        )
        assert answer.status_code == 302, answer.text[:300]
        return flow.callback_from(answer.headers["location"])

    def press_provider_button(self, page: httpx2.Response, next_url: str) -> httpx2.Response:
        assert page.status_code == 200, page.status_code
        action = PROVIDER_FORM.search(page.text)
        assert action, "no provider button on the sign-in page"
        answer = self.http.post(
            self.server.url + html.unescape(action[1]),
            data={"csrfmiddlewaretoken": CSRF_INPUT.search(page.text)[1], "next": next_url},
            headers={"Referer": str(page.url)},
        )
        return self.at_provider(answer)

    def at_provider(self, answer: httpx2.Response) -> httpx2.Response:
        """Sign in and consent at the provider for as long as it asks."""
        for _ in range(4):
            if not str(answer.url).startswith(self.provider.issuer + "/interaction/"):
                return answer
            self.provider_pages.append(str(answer.url))
            action = urljoin(str(answer.url), html.unescape(FORM_ACTION.search(answer.text)[1]))
            if 'name="login"' in answer.text:
                answer = self.http.post(action, data={"prompt": "login", "login": self.login, "password": PASSWORD})
            else:
                answer = self.http.post(action, data={"prompt": "consent"})
        raise AssertionError(f"the provider kept asking: {answer.url}")

    def signed_in_as(self) -> str | None:
        page = self.http.get(self.server.url + "/account/apps/", follow_redirects=False)
        if page.status_code != 200:
            return None
        found = re.search(r"Signed in as <strong>([^<]+)</strong>", page.text)
        return html.unescape(found[1]) if found else None


def path_of(answer: httpx2.Response) -> str:
    return urlsplit(str(answer.url)).path
