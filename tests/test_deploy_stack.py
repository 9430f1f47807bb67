"""What the web container runs, run as processes: two replicas of the web service (two
`docker/entrypoint.sh` process trees on two ports, started together, two workers each) against one
database (PostgreSQL in CI), behind one public https origin.

A stand-in for the TLS-terminating proxy (tests/support/proxy.py) sends every request over plain
HTTP with the headers a proxy adds (Host, X-Forwarded-Proto, X-Forwarded-For):
- to one replica: the whole discovery chain, the OAuth flow and MCP calls must work with
  everything bound to https://mcp.example.test (PUBLIC_URL);
- alternating between both: anything one process kept in its own memory (a session, a CSRF
  secret, a throttle count, a CIMD backoff, an MCP session) would break the flow.
Then the proxy profile's own docker/Caddyfile runs with Caddy in front of both replicas: real TLS
(from a local CA), round robin, the whole flow.
"""

from __future__ import annotations

import http.server
import json
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from democlient import flow, mcp_calls
from tests.conftest import publish_cimd_document
from tests.support.deploy import ROOT, VENV_BIN, EntrypointServer, port_free_on, start_all, stop_all
from tests.support.dns import StubDNS
from tests.support.proxy import PinnedTransport, ProxyTransport
from tests.support.server import ADMIN_USERNAME, DEMO_PASSWORD, DEMO_USERNAME, free_port

pytestmark = pytest.mark.e2e

PUBLIC = "https://mcp.example.test"
CLIENT_IP = "198.51.100.7"
REDIRECT_URI = "http://127.0.0.1:33418/callback"
REGISTRATION_LIMIT = 3
REPLICA_HOSTS = ("127.0.0.2", "127.0.0.3")


@pytest.fixture(scope="module")
def replicas() -> Iterator[tuple[EntrypointServer, EntrypointServer]]:
    # Like replicas on a compose network: one port, an address each (the proxy finds them by name).
    port = port_free_on(*REPLICA_HOSTS)
    settings = {
        "REGISTRATION_RATE_LIMIT": str(REGISTRATION_LIMIT),
        "REGISTRATION_RATE_WINDOW": "3600",
        "EXTRA_ALLOWED_HOSTS": ",".join(REPLICA_HOSTS),
        "ACCESS_LOG": "-",
    }
    first = EntrypointServer("replica-a", public_url=PUBLIC, env=settings, host=REPLICA_HOSTS[0], port=port)
    # Same database, and the same stand-in for the web servers that host CIMD documents.
    second = EntrypointServer(
        "replica-b",
        public_url=PUBLIC,
        database=first.database,
        env={**settings, "CIMD_STUB_DOCUMENTS": first.environment()["CIMD_STUB_DOCUMENTS"]},
        host=REPLICA_HOSTS[1],
        port=port,
    )
    start_all(first, second)
    try:
        yield first, second
    finally:
        stop_all(first, second)


@pytest.fixture(scope="module")
def server(replicas) -> EntrypointServer:
    """The replica the single-backend tests talk to."""
    return replicas[0]


# --- One replica behind the TLS proxy ----------------------------------------------------------
@pytest.fixture(scope="module")
def proxy(server: EntrypointServer) -> Iterator[ProxyTransport]:
    transport = ProxyTransport([server.local_url], client_ip=CLIENT_IP)
    yield transport
    transport.shutdown()


@pytest.fixture
def client(proxy: ProxyTransport) -> Iterator[httpx2.Client]:
    with httpx2.Client(transport=proxy, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def walk(server: EntrypointServer, proxy: ProxyTransport) -> dict:
    """The whole chain once, as an MCP client and its user's browser do it; each answer kept."""
    seen: dict = {}
    with httpx2.Client(transport=proxy, timeout=30, follow_redirects=False) as http:
        seen["challenge"] = http.post(PUBLIC + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        seen["prm"] = http.get(PUBLIC + "/.well-known/oauth-protected-resource/mcp")
        issuer = seen["prm"].json()["authorization_servers"][0]
        seen["asm"] = http.get(issuer + "/.well-known/oauth-authorization-server")
        asm = seen["asm"].json()
        seen["registration"] = http.post(
            asm["registration_endpoint"],
            json={
                "client_name": "Behind the proxy",
                "redirect_uris": [REDIRECT_URI],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
            },
        )
        client_id = seen["registration"].json()["client_id"]
        resource = seen["prm"].json()["resource"]
        request = flow.AuthorizationRequest(client_id, REDIRECT_URI, "mcp:read mcp:write", resource)
        browser = flow.Browser(PUBLIC, DEMO_USERNAME, DEMO_PASSWORD, transport=proxy)
        try:
            seen["callback"] = browser.authorize(request.url(asm["authorization_endpoint"]))
            seen["browser_cookies"] = list(browser.http.cookies.jar)
            seen["pages"] = list(browser.pages)
        finally:
            browser.close()
        seen["request"] = request
        seen["token"] = flow.exchange_code(http, asm["token_endpoint"], request, seen["callback"].code)
        access = seen["token"].json()["access_token"]
        seen["initialize"] = mcp_calls.initialize(http, PUBLIC + "/mcp", access)
        seen["whoami"] = mcp_calls.call(
            http, PUBLIC + "/mcp", access, "tools/call", {"name": "whoami", "arguments": {}}
        )
        seen["modern"] = mcp_calls.call(http, PUBLIC + "/mcp", access, "tools/list", {}, version=mcp_calls.MODERN)
    return seen


def test_entrypoint_prepares_the_database_then_execs_gunicorn_with_uvicorn_workers(
    server: EntrypointServer, client: httpx2.Client
) -> None:
    # The entrypoint became gunicorn (exec), which runs WEB_CONCURRENCY=2 uvicorn workers.
    assert "gunicorn config.asgi:application -c gunicorn.conf.py" in server.command_line()
    assert len(server.worker_pids()) == 2
    assert client.get(PUBLIC + "/healthz").headers["server"] == "uvicorn"

    lines = [json.loads(line) for line in server.log_text().splitlines() if '"logger": "prestart"' in line]
    messages = [line["message"] for line in lines]
    assert messages[0] == "starting" and lines[0]["role"] == "combined" and lines[0]["public_url"] == PUBLIC
    assert "Operations to perform:" in messages  # migrate ran (which replica applied them: below)
    assert messages[-1] == "ready to serve"

    users = dict(server.database.execute("SELECT username, is_superuser FROM auth_user ORDER BY username"))
    assert users[DEMO_USERNAME] in (False, 0) and users[ADMIN_USERNAME] in (True, 1)
    server.database.execute("SELECT cache_key FROM django_cache")  # raises unless createcachetable ran


def test_discovery_chain_names_the_https_origin_everywhere(walk: dict) -> None:
    challenge = walk["challenge"]
    assert challenge.status_code == 401
    assert challenge.headers["www-authenticate"].startswith("Bearer ")
    assert (
        f'resource_metadata="{PUBLIC}/.well-known/oauth-protected-resource/mcp"'
        in challenge.headers["www-authenticate"]
    )

    assert walk["prm"].status_code == 200
    prm = walk["prm"].json()
    assert prm["resource"] == PUBLIC + "/mcp"
    assert prm["authorization_servers"] == [PUBLIC]

    assert walk["asm"].status_code == 200
    asm = walk["asm"].json()
    assert asm["issuer"] == PUBLIC
    assert asm["authorization_endpoint"] == PUBLIC + "/authorize"
    assert asm["token_endpoint"] == PUBLIC + "/token"
    assert asm["registration_endpoint"] == PUBLIC + "/register"
    assert asm["code_challenge_methods_supported"] == ["S256"]

    assert walk["registration"].status_code == 201
    registered = walk["registration"].json()
    assert registered["registration_client_uri"] == f"{PUBLIC}/register/{registered['client_id']}"


def test_login_consent_and_token_behind_the_proxy(walk: dict) -> None:
    assert [what for what, _url in walk["pages"]] == ["login", "consent"]
    assert all(url.startswith(PUBLIC + "/") for _what, url in walk["pages"])
    callback = walk["callback"]
    assert callback.error is None, callback.params
    assert callback.params["iss"] == PUBLIC
    assert callback.params["state"] == walk["request"].state

    assert walk["token"].status_code == 200
    token = walk["token"].json()
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "mcp:read mcp:write"
    assert token["refresh_token"]

    # The session cookie was set Secure: Django saw the request as https (X-Forwarded-Proto).
    session = [cookie for cookie in walk["browser_cookies"] if cookie.name == "sessionid"]
    assert len(session) == 1 and session[0].secure is True


def test_authenticated_mcp_calls_with_a_token_bound_to_the_https_resource(walk: dict) -> None:
    assert walk["initialize"].status == 200
    assert walk["initialize"].result["serverInfo"]["name"] == "notes-mcp"
    assert walk["whoami"].status == 200
    identity = walk["whoami"].result["structuredContent"]
    assert identity["user"] == DEMO_USERNAME
    assert identity["scopes"] == ["mcp:read", "mcp:write"]
    assert walk["modern"].status == 200
    assert "whoami" in [tool["name"] for tool in walk["modern"].result["tools"]]


def test_the_http_spelling_of_the_resource_is_not_served(walk: dict, proxy: ProxyTransport) -> None:
    client_id = walk["registration"].json()["client_id"]
    request = flow.AuthorizationRequest(client_id, REDIRECT_URI, "mcp:read", "http://mcp.example.test/mcp")
    browser = flow.Browser(PUBLIC, DEMO_USERNAME, DEMO_PASSWORD, transport=proxy)
    try:
        callback = browser.authorize(request.url(PUBLIC + "/authorize"))
    finally:
        browser.close()
    assert callback.error == "invalid_target"
    assert callback.params["iss"] == PUBLIC


def test_hsts_only_when_the_proxy_says_https(server: EntrypointServer, client: httpx2.Client) -> None:
    proxied = client.get(PUBLIC + "/.well-known/oauth-authorization-server")
    assert proxied.status_code == 200
    assert proxied.headers["strict-transport-security"] == "max-age=31536000"
    direct = httpx2.get(server.local_url + "/.well-known/oauth-authorization-server", timeout=10)
    assert direct.status_code == 200
    assert "strict-transport-security" not in direct.headers


def test_health_endpoints(server: EntrypointServer, client: httpx2.Client) -> None:
    healthz = client.get(PUBLIC + "/healthz")
    assert healthz.status_code == 200
    assert healthz.json() == {"status": "ok"}
    assert "no-cache" in healthz.headers["cache-control"]
    readyz = client.get(PUBLIC + "/readyz")
    assert readyz.status_code == 200
    assert readyz.json() == {"status": "ready", "database": "ok"}
    assert client.post(PUBLIC + "/healthz").status_code == 405


def test_image_healthcheck_script(server: EntrypointServer) -> None:
    script = str(ROOT / "docker" / "healthcheck.py")
    env = {"PATH": "/usr/bin:/bin", "BIND": f"{server.host}:{server.port}"}  # as the server was started
    for path in ("/healthz", "/readyz"):
        assert subprocess.run([sys.executable, script, path], env=env, timeout=30).returncode == 0
    missing = subprocess.run([sys.executable, script, "/nothing-here"], env=env, timeout=30)
    assert missing.returncode == 1
    closed = {"PATH": "/usr/bin:/bin", "BIND": f"{server.host}:9"}
    assert subprocess.run([sys.executable, script], env=closed, timeout=30).returncode == 1


def test_image_healthcheck_script_asks_loopback_for_a_wildcard_bind() -> None:
    # The image binds 0.0.0.0:8000; the check then asks 127.0.0.1.
    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"status": "ok"}' if self.path == "/healthz" else b'{"status": "starting"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    probe = http.server.HTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=probe.serve_forever, daemon=True).start()
    try:
        script = str(ROOT / "docker" / "healthcheck.py")
        env = {"PATH": "/usr/bin:/bin", "BIND": f"0.0.0.0:{probe.server_port}"}
        assert subprocess.run([sys.executable, script], env=env, timeout=30).returncode == 0
        assert subprocess.run([sys.executable, script, "/other"], env=env, timeout=30).returncode == 1
    finally:
        probe.shutdown()
        probe.server_close()


def test_logs_are_json_lines_without_any_secret(server: EntrypointServer, walk: dict) -> None:
    text = server.log_text()
    app_lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    events = [line.get("event") for line in app_lines]
    assert "token_issued" in events and "client_registered" in events
    registered = [line for line in app_lines if line.get("event") == "client_registered"]
    # X-Forwarded-For from the trusted proxy became the client address.
    assert registered[0]["ip"] == CLIENT_IP
    token = walk["token"].json()
    for secret in (
        token["access_token"],
        token["refresh_token"],
        walk["callback"].code,
        walk["request"].pkce.verifier,
        DEMO_PASSWORD,
        server.environment()["SECRET_KEY"],
        server.environment()["ADMIN_PASSWORD"],
    ):
        assert secret not in text


def test_cleanup_job_prunes_stale_clients(server: EntrypointServer, client: httpx2.Client, walk: dict) -> None:
    stale = flow.register(
        client,
        PUBLIC + "/register",
        {"client_name": "Abandoned", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
    )["client_id"]
    server.database.execute(
        "UPDATE authserver_client SET created = created - INTERVAL '30 days' WHERE client_id = %s"
        if server.database.is_postgres
        else "UPDATE authserver_client SET created = datetime(created, '-30 days') WHERE client_id = %s",
        (stale,),
    )
    used = walk["registration"].json()["client_id"]

    done = server.run(str(ROOT / "docker" / "cleanup.sh"), "--once")
    assert done.returncode == 0, done.stderr
    remaining = {row[0] for row in server.database.execute("SELECT client_id FROM authserver_client")}
    assert stale not in remaining
    assert used in remaining


def test_prestart_stops_on_a_configuration_mistake(server: EntrypointServer) -> None:
    # A restart of the container against the same database: migrations have nothing to do, and
    # an administrator without a password stops the start with a plain JSON error.
    done = server.run(sys.executable, str(ROOT / "docker" / "prestart.py"), env={"ADMIN_PASSWORD": ""})
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert "No migrations to apply." in [line["message"] for line in lines]
    assert lines[-1]["level"] == "ERROR"
    assert re.search(r"admin.*no password", lines[-1]["message"])


def test_prestart_prints_the_callback_urls_to_register_at_the_identity_providers(server: EntrypointServer) -> None:
    done = server.run(sys.executable, str(ROOT / "docker" / "prestart.py"))
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line)["message"] for line in done.stdout.splitlines()]
    for path in ("/accounts/oidc/sso/login/callback/", "/accounts/github/login/callback/"):
        assert any(message.endswith(PUBLIC + path) for message in messages), messages


def test_prestart_gives_up_when_the_database_never_answers() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "prestart.py")],
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:9/none",
            "DATABASE_WAIT_SECONDS": "2",
            "SECRET_KEY": "x" * 50,
            "DEBUG": "0",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert "waiting for the database" in [line["message"] for line in lines]
    assert lines[-1] == {**lines[-1], "level": "ERROR", "message": "the database did not answer within 2s"}


# --- Both replicas, every request alternating -------------------------------------------------
def alternating(replicas: tuple[EntrypointServer, EntrypointServer], client_ip: str) -> ProxyTransport:
    return ProxyTransport([server.local_url for server in replicas], client_ip=client_ip)


def test_both_replicas_prepared_the_same_database_once(replicas) -> None:
    first, second = replicas
    applied = [
        server.log_text().count('"message": "Applying authserver.0001_initial... OK"') for server in (first, second)
    ]
    # Started together: one migrated, the other waited for the lock and found nothing to do.
    assert sorted(applied) == [0, 1]
    assert "No migrations to apply." in (first.log_text() + second.log_text())
    assert len(first.worker_pids()) == 2 and len(second.worker_pids()) == 2


def test_the_whole_flow_alternating_between_replicas(replicas) -> None:
    first, second = replicas
    proxy = alternating(replicas, "198.51.100.20")
    a, b = first.local_url, second.local_url
    try:
        with httpx2.Client(transport=proxy, timeout=30, follow_redirects=False) as http:
            asm = http.get(PUBLIC + "/.well-known/oauth-authorization-server").json()  # A
            registered = flow.register(  # B
                http,
                asm["registration_endpoint"],
                {"client_name": "Replicated", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
            )
            request = flow.AuthorizationRequest(
                registered["client_id"], REDIRECT_URI, "mcp:read mcp:write", PUBLIC + "/mcp"
            )
            browser = flow.Browser(PUBLIC, DEMO_USERNAME, DEMO_PASSWORD, transport=proxy)
            try:
                # authorize (A) → login form (B) → login (A) → authorize again (B) → consent (A)
                callback = browser.authorize(request.url(asm["authorization_endpoint"]))
            finally:
                browser.close()
            assert callback.code, callback.params
            assert callback.params["iss"] == PUBLIC

            exchanged = flow.exchange_code(http, asm["token_endpoint"], request, callback.code)  # B
            assert exchanged.status_code == 200, exchanged.text
            tokens = exchanged.json()
            access = tokens["access_token"]

            initialized = mcp_calls.initialize(http, PUBLIC + "/mcp", access)  # A
            assert initialized.status == 200
            listed = mcp_calls.call(http, PUBLIC + "/mcp", access, "tools/list", {})  # B, no session to find
            assert listed.status == 200
            assert "create_note" in [tool["name"] for tool in listed.result["tools"]]
            created = mcp_calls.call(  # A
                http,
                PUBLIC + "/mcp",
                access,
                "tools/call",
                {"name": "create_note", "arguments": {"title": "Written on one replica", "body": "read on another"}},
            )
            assert created.status == 200, created.message
            note_id = created.result["structuredContent"]["id"]
            read = mcp_calls.call(  # B
                http, PUBLIC + "/mcp", access, "tools/call", {"name": "get_note", "arguments": {"note_id": note_id}}
            )
            assert read.status == 200
            assert read.result["structuredContent"]["body"] == "read on another"
            modern = mcp_calls.call(  # A
                http,
                PUBLIC + "/mcp",
                access,
                "tools/call",
                {"name": "whoami", "arguments": {}},
                version=mcp_calls.MODERN,
            )
            assert modern.status == 200
            assert modern.result["structuredContent"]["user"] == DEMO_USERNAME

            refreshed = flow.refresh(http, asm["token_endpoint"], registered["client_id"], tokens["refresh_token"])  # B
            assert refreshed.status_code == 200, refreshed.text
            renewed = refreshed.json()["access_token"]
            for _replica in (a, b):  # A, then B
                whoami = mcp_calls.call(
                    http, PUBLIC + "/mcp", renewed, "tools/call", {"name": "whoami", "arguments": {}}
                )
                assert whoami.status == 200
                assert whoami.result["structuredContent"]["user"] == DEMO_USERNAME
            # The rotated refresh token is spent everywhere, not only where it was rotated.
            replayed = flow.refresh(http, asm["token_endpoint"], registered["client_id"], tokens["refresh_token"])
            assert replayed.status_code == 400
            assert replayed.json()["error"] == "invalid_grant"
    finally:
        proxy.shutdown()

    hits = proxy.hits
    assert all(hits[i].backend != hits[i + 1].backend for i in range(len(hits) - 1))
    steps = [(hit.backend, hit.method, hit.path) for hit in hits]
    assert steps[:13] == [
        (a, "GET", "/.well-known/oauth-authorization-server"),
        (b, "POST", "/register"),
        (a, "GET", "/authorize"),
        (b, "GET", "/accounts/login/"),
        (a, "POST", "/accounts/login/"),
        (b, "GET", "/authorize"),
        (a, "POST", "/authorize"),
        (b, "POST", "/token"),
        (a, "POST", "/mcp"),
        (b, "POST", "/mcp"),
        (a, "POST", "/mcp"),
        (b, "POST", "/mcp"),
        (a, "POST", "/mcp"),
    ]
    assert steps[13] == (b, "POST", "/token")  # the refresh
    assert steps[14:16] == [(a, "POST", "/mcp"), (b, "POST", "/mcp")]
    assert steps[16] == (a, "POST", "/token")  # the replay


def test_the_registration_throttle_is_counted_across_replicas(replicas) -> None:
    window = 3600
    if window - time.time() % window < 30:  # counters are per fixed window: do not straddle two
        time.sleep(window - time.time() % window + 1)
    proxy = alternating(replicas, "203.0.113.50")
    body = {"client_name": "Throttled", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}
    try:
        with httpx2.Client(transport=proxy, timeout=30) as http:
            answers = [http.post(PUBLIC + "/register", json=body) for _ in range(REGISTRATION_LIMIT + 2)]
        with httpx2.Client(transport=alternating(replicas, "203.0.113.51"), timeout=30) as http:
            elsewhere = http.post(PUBLIC + "/register", json=body)
    finally:
        proxy.shutdown()
    assert [answer.status_code for answer in answers] == [201] * REGISTRATION_LIMIT + [429, 429]
    # The limit was reached with registrations on both replicas, and both refuse past it.
    assert {hit.backend for hit in proxy.hits[:REGISTRATION_LIMIT]} == {s.local_url for s in replicas}
    assert {hit.backend for hit in proxy.hits[REGISTRATION_LIMIT:]} == {s.local_url for s in replicas}
    assert answers[-1].json()["error"] == "too_many_requests"
    assert int(answers[-1].headers["retry-after"]) > 0
    assert elsewhere.status_code == 201  # another address has its own count


def test_a_cimd_failure_backoff_is_shared_by_replicas(replicas) -> None:
    first, second = replicas
    broken = "https://tools.example.test/clients/late.json"
    working = "https://tools.example.test/clients/ready.json"

    def document(client_id: str) -> dict:
        return {
            "client_id": client_id,
            "client_name": "URL-identified",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
        }

    def authorize(server: EntrypointServer, client_id: str) -> httpx2.Response:
        request = flow.AuthorizationRequest(client_id, REDIRECT_URI, "mcp:read", PUBLIC + "/mcp")
        proxy = ProxyTransport([server.local_url], client_ip="198.51.100.30")
        with httpx2.Client(transport=proxy, timeout=30, headers={"Accept": "text/html"}) as http:
            return http.get(request.url(PUBLIC + "/authorize"))

    publish_cimd_document(first, working, document(working))
    refused = authorize(first, broken)  # its document is not there yet: fetch fails, backoff set
    assert refused.status_code == 400
    publish_cimd_document(first, broken, document(broken))
    # The other replica honours the backoff the first one recorded (shared cache) and does not
    # fetch again, while a URL that is not backed off resolves there at once.
    assert authorize(second, broken).status_code == 400
    ready = authorize(second, working)
    assert ready.status_code == 302
    assert ready.headers["location"].startswith("/accounts/login/")
    backoff_rows = first.database.execute(
        "SELECT COUNT(*) FROM django_cache WHERE cache_key LIKE %s", ("%oauth2_provider:cimd:backoff:%",)
    )
    assert backoff_rows == [(1,)]


# --- The proxy profile's Caddy, with its real TLS, in front of both replicas -----------------------
@pytest.fixture(scope="module")
def caddy(replicas, tmp_path_factory) -> Iterator[tuple[int, Path]]:
    """docker/Caddyfile run by Caddy as in the proxy profile: `web` resolves to both replicas
    (a stand-in for Docker's DNS), and a local CA instead of Let's Encrypt signs the certificate."""
    first, second = replicas
    home = tmp_path_factory.mktemp("caddy")
    dns = StubDNS({"web": [first.host, second.host]}).start()
    https_port = free_port()
    (home / "Caddyfile").write_text(
        "{\n"
        "\tlocal_certs\n\tskip_install_trust\n\tadmin off\n"
        f"\thttp_port {free_port()}\n\thttps_port {https_port}\n\tstorage file_system {home / 'data'}\n"
        "}\n"
        f"import {ROOT / 'docker' / 'Caddyfile'}\n"
    )
    log = open(home / "caddy.log", "ab")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [str(Path(VENV_BIN) / "caddy"), "run", "--config", str(home / "Caddyfile"), "--adapter", "caddyfile"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "PUBLIC_URL": PUBLIC,
            "UPSTREAM_PORT": str(first.port),
            "UPSTREAM_RESOLVER": dns.address,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    root = home / "data" / "pki" / "authorities" / "local" / "root.crt"
    try:
        deadline = time.monotonic() + 60
        while not root.exists():
            assert process.poll() is None and time.monotonic() < deadline, (home / "caddy.log").read_text()
            time.sleep(0.2)
        yield https_port, root
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
        dns.stop()


def test_the_proxy_profiles_caddy_terminates_tls_and_balances_both_replicas(replicas, caddy) -> None:
    https_port, root = caddy
    tls = PinnedTransport(("127.0.0.1", https_port), verify=ssl.create_default_context(cafile=str(root)))
    marks = [f"/healthz?through=caddy-{n}" for n in range(4)]
    try:
        with httpx2.Client(transport=tls, timeout=30, follow_redirects=False) as http:
            deadline = time.monotonic() + 30
            while True:  # until Caddy has its certificate and has resolved the replicas
                try:
                    if http.get(PUBLIC + "/readyz").status_code == 200:
                        break
                except httpx2.HTTPError:
                    pass
                assert time.monotonic() < deadline, "Caddy did not start proxying"
                time.sleep(0.3)
            answers = [http.get(PUBLIC + mark) for mark in marks]

            # The whole flow through it: TLS ends at Caddy, the replicas see https via its headers.
            asm = http.get(PUBLIC + "/.well-known/oauth-authorization-server")
            registered = flow.register(
                http,
                asm.json()["registration_endpoint"],
                {"client_name": "Through Caddy", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
            )
            request = flow.AuthorizationRequest(registered["client_id"], REDIRECT_URI, "mcp:read", PUBLIC + "/mcp")
            browser = flow.Browser(PUBLIC, DEMO_USERNAME, DEMO_PASSWORD, transport=tls)
            try:
                callback = browser.authorize(request.url(asm.json()["authorization_endpoint"]))
            finally:
                browser.close()
            assert callback.code, callback.params
            exchanged = flow.exchange_code(http, asm.json()["token_endpoint"], request, callback.code)
            assert exchanged.status_code == 200, exchanged.text
            access = exchanged.json()["access_token"]
            whoami = mcp_calls.call(http, PUBLIC + "/mcp", access, "tools/call", {"name": "whoami", "arguments": {}})
    finally:
        tls.shutdown()

    assert [answer.status_code for answer in answers] == [200] * 4
    assert all(answer.headers["strict-transport-security"] == "max-age=31536000" for answer in answers)
    assert asm.json()["issuer"] == PUBLIC
    assert whoami.status == 200
    assert whoami.result["structuredContent"]["user"] == DEMO_USERNAME
    # Round robin over the replicas Caddy found by name: each served half of the marked requests.
    served = [sum(server.log_text().count(f'"GET {mark} HTTP/1.1"') for mark in marks) for server in replicas]
    assert served == [2, 2]
