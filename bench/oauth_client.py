"""A headless OAuth 2.1 client for the benchmark (standard library only, loopback only).

From an MCP URL it walks the discovery chain (401 → `WWW-Authenticate` resource_metadata →
protected-resource metadata → authorization-server metadata), registers a public client by
dynamic registration, runs authorization code + PKCE (S256) with `resource` (RFC 8707) without a
browser, filling in the login and consent forms it meets on the way, and exchanges the code.
`seeds` more flows give refresh tokens for the rotating refresh scenario. It works against our
server (Django sign-in and consent pages) and the peer (which consents by itself).

Nothing here talks to anything but 127.0.0.0/8, ::1 or localhost.
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import http.cookiejar
import ipaddress
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

TIMEOUT = 30.0
REDIRECT_URI = "http://127.0.0.1:9/bench-callback"  # never contacted: the flow stops at the redirect
JSONRPC_ACCEPT = "application/json, text/event-stream"
APPROVE = re.compile(r"(?i)allow|approve|accept|authori[sz]e|consent|confirm|yes|grant")


class FlowError(RuntimeError):
    pass


def check_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise FlowError(f"refusing non-loopback URL {url!r}: the benchmark talks to this machine only")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Http:
    """urllib with a cookie jar (the sign-in session), no redirects followed, loopback only."""

    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPCookieProcessor(self.jar), urllib.request.ProxyHandler({})
        )

    def request(self, method: str, url: str, headers: dict | None = None, data: bytes | None = None) -> Response:
        check_loopback(url)
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 (loopback)
        try:
            with self.opener.open(req, timeout=TIMEOUT) as r:
                return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())

    def get(self, url: str, headers: dict | None = None) -> Response:
        return self.request("GET", url, headers)

    def post_form(self, url: str, form: dict, headers: dict | None = None) -> Response:
        sent = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", url, sent, urllib.parse.urlencode(form).encode())

    def post_json(self, url: str, obj, headers: dict | None = None) -> Response:
        sent = {"Content-Type": "application/json", **(headers or {})}
        return self.request("POST", url, sent, json.dumps(obj).encode())


def bearer_params(value: str | None) -> dict[str, str]:
    """Parameters of the first Bearer challenge of a `WWW-Authenticate` value."""
    found = re.search(r"(?i)\bbearer\b(.*)", value or "")
    if not found:
        return {}
    params: dict[str, str] = {}
    for key, quoted, plain in re.findall(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', found.group(1)):
        params.setdefault(key.lower(), quoted or plain)
    return params


def well_known(url: str, suffix: str) -> str:
    """RFC 8414 / RFC 9728: /.well-known/<suffix> inserted between the origin and the path."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path if parts.path not in ("", "/") else ""
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{suffix}{path}", "", ""))


@dataclass
class Discovery:
    mcp_url: str
    prm_url: str
    prm: dict
    asm_url: str
    asm: dict


def discover(h: Http, mcp_url: str) -> Discovery:
    """Walk the chain from the MCP URL as a client would."""
    probe = h.post_json(mcp_url, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"Accept": JSONRPC_ACCEPT})
    if probe.status != 401:
        raise FlowError(f"an MCP request without a token gave {probe.status}, not 401")
    candidates = [
        bearer_params(probe.header("www-authenticate")).get("resource_metadata"),
        well_known(mcp_url, "oauth-protected-resource"),
    ]
    prm_url, prm = "", {}
    for url in filter(None, candidates):
        answer = h.get(url, {"Accept": "application/json"})
        if answer.status == 200:
            prm_url, prm = url, answer.json()
            break
    if not prm.get("authorization_servers"):
        raise FlowError("no protected-resource metadata naming an authorization server")
    issuer = prm["authorization_servers"][0]
    asm_url = well_known(issuer, "oauth-authorization-server")
    answer = h.get(asm_url, {"Accept": "application/json"})
    if answer.status != 200:
        raise FlowError(f"no authorization-server metadata at {asm_url} ({answer.status})")
    return Discovery(mcp_url, prm_url, prm, asm_url, answer.json())


class _Forms(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._current = {"action": a.get("action", ""), "method": a.get("method", "get").lower(), "fields": []}
            self.forms.append(self._current)
        elif self._current is not None and tag in ("input", "button"):
            kind = a.get("type", "text" if tag == "input" else "submit").lower()
            self._current["fields"].append({"type": kind, "name": a.get("name", ""), "value": a.get("value", "")})

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def fill_form(form: dict, username: str | None, password: str | None) -> dict[str, str]:
    """Hidden fields as they are, the credentials, and the approving submit button."""
    data: dict[str, str] = {}
    submitted = False
    for f in form["fields"]:
        name, kind = f["name"], f["type"]
        if not name:
            continue
        if kind == "submit":
            if not submitted and APPROVE.search(name + " " + f["value"]):
                data[name], submitted = f["value"], True
        elif kind in ("checkbox", "radio"):
            data.setdefault(name, f["value"] or "on")
        elif kind == "password" and password is not None:
            data[name] = password
        elif kind in ("text", "email") and username is not None and re.search(r"(?i)user|login|email", name):
            data[name] = username
        else:
            data[name] = f["value"]
    return data


def authorize(h: Http, url: str, username: str | None, password: str | None) -> dict[str, str]:
    """Follow redirects and submit the forms met until the redirect back to REDIRECT_URI."""
    method, data = "GET", None
    for _ in range(12):
        if method == "GET":
            r = h.get(url, {"Accept": "text/html,application/json"})
        else:
            r = h.post_form(url, data, {"Referer": url, "Accept": "text/html,application/json"})
        if r.status in (301, 302, 303, 307, 308):
            location = urllib.parse.urljoin(url, r.header("location") or "")
            if location.startswith(REDIRECT_URI):
                answer = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
                if "error" in answer:
                    raise FlowError(f"authorization error: {answer}")
                return answer
            url, method, data = location, "GET", None
            continue
        if r.status == 200 and "html" in (r.header("content-type") or ""):
            parser = _Forms()
            parser.feed(r.text())
            with_password = [f for f in parser.forms if any(x["type"] == "password" for x in f["fields"])]
            approving = [
                f
                for f in parser.forms
                if any(x["type"] == "submit" and APPROVE.search(x["name"] + " " + x["value"]) for x in f["fields"])
            ]
            form = (with_password or approving or parser.forms or [None])[0]
            if form is None:
                raise FlowError(f"the page at {url} has no form to submit")
            data = fill_form(form, username, password)
            action = urllib.parse.urljoin(url, form["action"] or url)
            if form["method"] == "post":
                url, method = action, "POST"
            else:
                url, method = action + ("&" if "?" in action else "?") + urllib.parse.urlencode(data), "GET"
            continue
        raise FlowError(f"unexpected {r.status} from {url}: {r.text()[:300]}")
    raise FlowError("too many hops in the authorization flow")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


@dataclass
class Credentials:
    """What the load scenarios need from one server."""

    mcp_url: str
    prm_url: str
    asm_url: str
    token_endpoint: str
    resource: str
    scope: str
    client_id: str
    access_token: str
    refresh_tokens: list[str]
    client_secret: str = ""  # a confidential client's (client_secret_post)
    redirect_uri: str = REDIRECT_URI


def obtain(
    mcp_url: str, username: str | None = None, password: str | None = None, seeds: int = 0, confidential: bool = False
) -> Credentials:
    """Discover, register (a public client, or a confidential one with client_secret_post), and
    run 1 + `seeds` authorization-code flows."""
    h = Http()
    d = discover(h, mcp_url)
    resource = d.prm.get("resource") or mcp_url
    scope = " ".join(d.prm.get("scopes_supported") or [])
    metadata = {
        "client_name": "bench",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post" if confidential else "none",
    }
    if scope:
        metadata["scope"] = scope
    registered = h.post_json(d.asm["registration_endpoint"], metadata, {"Accept": "application/json"})
    if registered.status not in (200, 201):
        raise FlowError(f"registration failed: {registered.status} {registered.text()[:300]}")
    client_id = registered.json()["client_id"]
    client_secret = registered.json().get("client_secret", "") if confidential else ""
    if confidential and not client_secret:
        raise FlowError("the confidential registration gave no client_secret")
    tokens = []
    for _ in range(1 + max(0, seeds)):
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
            "resource": resource,
        }
        if scope:
            query["scope"] = scope
        endpoint = d.asm["authorization_endpoint"]
        answer = authorize(
            h, endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(query), username, password
        )
        if answer.get("state") != state:
            raise FlowError("state mismatch in the authorization response")
        form = {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": resource,
        }
        if client_secret:
            form["client_secret"] = client_secret
        exchanged = h.post_form(d.asm["token_endpoint"], form, {"Accept": "application/json"})
        if exchanged.status != 200:
            raise FlowError(f"code exchange failed: {exchanged.status} {exchanged.text()[:300]}")
        tokens.append(exchanged.json())
    return Credentials(
        mcp_url=mcp_url,
        prm_url=d.prm_url,
        asm_url=d.asm_url,
        token_endpoint=d.asm["token_endpoint"],
        resource=resource,
        scope=scope,
        client_id=client_id,
        access_token=tokens[0]["access_token"],
        refresh_tokens=[t["refresh_token"] for t in tokens[1:] if t.get("refresh_token")],
        client_secret=client_secret,
    )


@dataclass
class SignIn:
    """One POST of a sign-in form, as a browser sends it: its URL, headers (the CSRF cookie)
    and body. Django's CSRF token is not single-use, so the same request can be sent again."""

    url: str
    headers: list[str]
    body: str


def sign_in_request(login_url: str, username: str, password: str) -> SignIn:
    """The sign-in page's form, filled in: fetched once, for the sign-in scenario."""
    h = Http()
    page = h.get(login_url, {"Accept": "text/html"})
    if page.status != 200:
        raise FlowError(f"the sign-in page gave {page.status}")
    parser = _Forms()
    parser.feed(page.text())
    form = next((f for f in parser.forms if any(x["type"] == "password" for x in f["fields"])), None)
    if form is None:
        raise FlowError("the sign-in page has no password form")
    data = fill_form(form, username, password)
    cookies = "; ".join(f"{c.name}={c.value}" for c in h.jar)
    return SignIn(
        url=urllib.parse.urljoin(login_url, form["action"] or login_url),
        headers=[
            "Content-Type: application/x-www-form-urlencoded",
            "Accept: text/html",
            f"Cookie: {cookies}",
            f"Referer: {login_url}",
        ],
        body=urllib.parse.urlencode(data),
    )
