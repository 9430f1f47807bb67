"""`make bench`: this server against the MCP SDK's own auth stack (bench/peer_server.py), side by
side on this machine, and docs/performance.md from the figures.

Phases (each bounded in time; the knobs are environment variables, see bench/README.md):
1. like-for-like: our gunicorn with ONE worker against the single-process peer, every scenario,
   ROUNDS rounds, the two sides alternating (who goes first alternates too);
2. as deployed: our gunicorn with the deployed worker count, same scenarios and alternation;
3. the other token-cache setting: one worker with the cache off (MCP_TOKEN_CACHE_SECONDS=0) when
   it is on by default (PostgreSQL), else on (CACHE_SECONDS), the authenticated MCP scenarios;
4. JSON answers: one worker with MCP_JSON_RESPONSE=1, the authenticated MCP scenarios;
5. database queries per request, counted in-process (bench/queries.py);
6. the authenticated call's latency with 1,000 and with 1,000,000 rows in the access-token table,
   cache off, so that every call looks its token up;
7. memory: the resident memory of one worker idle, under load and through a soak of mixed
   traffic (SOAK seconds), and of the whole `make run` stack.

Our server runs with production settings (DEBUG off, gunicorn + uvicorn workers from
gunicorn.conf.py) on a fresh PostgreSQL database of its own when PostgreSQL is reachable
(DATABASE_URL, or 127.0.0.1:5432), else on a SQLite file; the database is dropped at the end.
Only loopback addresses are ever contacted; every load run is bounded by `wrk -d`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import re
import runpy
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

import oauth_client  # noqa: E402
import report  # noqa: E402

from democlient.processes import GUNICORN, READY_PATH, ServerProcess, free_port  # noqa: E402

PY = sys.executable
LEGACY = "2025-11-25"
MODERN = "2026-07-28"


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


@dataclass
class Config:
    duration: int = 5  # seconds measured per wrk run
    warmup: int = 1  # seconds of wrk before each measured run (not counted)
    rounds: int = 3  # rounds of the like-for-like phase
    rounds_secondary: int = 2  # rounds of the as-deployed and cache phases
    conns: int = 8  # wrk connections (closed loop)
    latency_rounds: int = 3  # wrk -c1 runs per table size in the 1M phase
    rows: int = 1_000_000  # access-token rows for the large-table phase
    cache_seconds: int = 5  # MCP_TOKEN_CACHE_SECONDS of the cache phase where the default is off
    deployed_workers: int = 0  # 0: what gunicorn.conf.py picks
    tool: str = "whoami"  # the tools/call target: the cheapest real tool (reads the user's name)
    server_cpus: str = ""  # taskset list for both servers, e.g. "0" (empty: no pinning)
    wrk_cpus: str = ""
    phases: str = "ratio deployed cache json queries rows memory"
    scenarios: str = "prm asm mcp_401 list_2025 call_2025 list_2026 call_2026 refresh refresh_conf code signin"
    soak: int = 600  # seconds of mixed traffic in the memory phase
    output: str = str(ROOT / "docs" / "performance.md")

    @classmethod
    def from_env(cls) -> Config:
        c = cls()
        c.duration = int(env_number("DURATION", c.duration))
        c.warmup = int(env_number("WARMUP", c.warmup))
        c.rounds = int(env_number("ROUNDS", c.rounds))
        c.rounds_secondary = int(env_number("ROUNDS_SECONDARY", min(c.rounds, c.rounds_secondary)))
        c.conns = int(env_number("CONNS", c.conns))
        c.latency_rounds = int(env_number("LATENCY_ROUNDS", min(c.rounds, c.latency_rounds)))
        c.rows = int(env_number("ROWS", c.rows))
        c.cache_seconds = int(env_number("CACHE_SECONDS", c.cache_seconds))
        c.deployed_workers = int(env_number("DEPLOYED_WORKERS", 0))
        if not c.deployed_workers and os.environ.get("WEB_CONCURRENCY", "").strip():
            c.deployed_workers = int(os.environ["WEB_CONCURRENCY"])
        c.tool = os.environ.get("BENCH_TOOL", c.tool)
        c.server_cpus = os.environ.get("SERVER_CPUS", "")
        c.wrk_cpus = os.environ.get("WRK_CPUS", "")
        c.phases = os.environ.get("PHASES", c.phases)
        c.scenarios = os.environ.get("SCENARIOS", c.scenarios)
        c.output = os.environ.get("BENCH_OUTPUT", c.output)
        c.soak = int(env_number("SOAK", c.soak))
        return c


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu_idle(seconds: float = 1.0) -> dict[str, float]:
    """Idle share of each CPU over `seconds`: other tenants of a shared machine show up here."""

    def snapshot() -> dict[str, tuple[int, int]]:
        found = {}
        for line in Path("/proc/stat").read_text().splitlines():
            f = line.split()
            if f[0].startswith("cpu") and f[0] != "cpu":
                values = [int(x) for x in f[1:9]]
                found[f[0]] = (values[3] + values[4], sum(values))
        return found

    before = snapshot()
    time.sleep(seconds)
    after = snapshot()
    return {
        cpu: round(100 * (after[cpu][0] - before[cpu][0]) / max(1, after[cpu][1] - before[cpu][1]), 1)
        for cpu in sorted(before)
    }


def pinned(command: list[str], cpus: str) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus and shutil.which("taskset") else command


# --- The database --------------------------------------------------------------------------------


def postgres_admin_url() -> str | None:
    """A PostgreSQL server to create the benchmark's database on, if one answers."""
    url = os.environ.get("DATABASE_URL", "")
    candidates = [url] if url.startswith(("postgres://", "postgresql://")) else []
    candidates.append("postgres://postgres@127.0.0.1:5432/postgres")
    import psycopg

    for candidate in candidates:
        try:
            with psycopg.connect(candidate, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return candidate
        except psycopg.Error:
            continue
    return None


@contextlib.contextmanager
def bench_database(workdir: Path):
    """A fresh database for this run (dropped afterwards): PostgreSQL if reachable, else SQLite."""
    if os.environ.get("BENCH_DATABASE", "").lower() == "sqlite":
        admin = None
    else:
        admin = postgres_admin_url()
    if admin is None:
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    import psycopg

    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.partition("?")[0].rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped database {name}")


# --- The two servers ------------------------------------------------------------------------------


@dataclass
class OurServer:
    database_url: str
    workdir: Path
    workers: int | None = 1  # None: gunicorn.conf.py's default
    extra_env: dict[str, str] = field(default_factory=dict)
    cpus: str = ""
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    server: ServerProcess | None = None

    username = "bench"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BENCH_")) and k != "DATABASE_URL"}
        env.pop("WEB_CONCURRENCY", None)
        unlimited = str(10**9)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            PYTHONPATH=str(ROOT),
            DEBUG="0",
            SECRET_KEY=self.secret_key,
            PUBLIC_URL=self.url,
            PORT=str(self.port),
            BIND=f"127.0.0.1:{self.port}",
            DATABASE_URL=self.database_url,
            DEMO_USERNAME=self.username,
            DEMO_PASSWORD=self.password,
            ADMIN_USERNAME="",
            MCP_CONFORMANCE_FIXTURES="0",
            # One load generator on 127.0.0.1 would hit the per-address abuse limits at once; the
            # counters are still kept (two writes per token request), the limits are just high.
            TOKEN_RATE_LIMIT=unlimited,
            TOKEN_GLOBAL_RATE_LIMIT=unlimited,
            LOGIN_RATE_LIMIT=unlimited,
            LOGIN_GLOBAL_RATE_LIMIT=unlimited,
            REGISTRATION_RATE_LIMIT=unlimited,
            REGISTRATION_GLOBAL_RATE_LIMIT=unlimited,
        )
        if self.workers is not None:
            env["WEB_CONCURRENCY"] = str(self.workers)
        env.update(self.extra_env)
        return env

    def variant(self, **changes) -> OurServer:
        """The same server (port, PUBLIC_URL, database, keys: the tokens stay valid) with other
        settings; start it after stopping this one."""
        return dataclasses.replace(self, server=None, **changes)

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [PY, "manage.py", *args],
            cwd=ROOT,
            env=self.environment(),
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout

    def setting(self, name: str) -> str:
        """One of the server's settings, as its own settings module computes it."""
        code = f"from django.conf import settings; print(settings.{name})"
        printed = self.manage("shell", "--no-imports", "-c", code)
        return printed.strip().splitlines()[-1]

    def prepare(self) -> None:
        self.manage("migrate", "--noinput")
        self.manage("createcachetable")
        self.manage("seed_users")

    def start(self) -> OurServer:
        log_path = self.workdir / f"server-{self.port}.log"
        self.server = ServerProcess(pinned(GUNICORN, self.cpus), log_path, env=self.environment()).launch()
        self.server.wait_ready(self.url + READY_PATH)
        return self

    @property
    def process(self) -> subprocess.Popen | None:
        return self.server.process if self.server else None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@dataclass
class Peer:
    workdir: Path
    cpus: str = ""
    port: int = field(default_factory=free_port)
    server: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Peer:
        command = pinned([PY, str(HERE / "peer_server.py"), "--host", "127.0.0.1", "--port", str(self.port)], self.cpus)
        self.server = ServerProcess(command, self.workdir / "peer.log", cwd=HERE).launch()
        self.server.wait_ready(self.url + READY_PATH)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


# --- Scenarios and wrk ----------------------------------------------------------------------------


@dataclass
class Side:
    """One server under load: its name and what the scenarios need from it (a scenario a side
    does not offer, such as the peer's sign-in, is measured on the other side only)."""

    name: str
    creds: oauth_client.Credentials
    tool: str
    seeds_file: Path
    confidential: oauth_client.Credentials | None = None
    confidential_seeds_file: Path | None = None
    codes_file: Path | None = None
    mint_codes: Callable[[int], list[str]] | None = None
    sign_in: oauth_client.SignIn | None = None
    code_rate: float = 1000.0  # codes redeemed per second, last seen (how many to mint next)


def rpc_body(method: str, params: dict | None, modern: bool) -> str:
    body: dict = {"jsonrpc": "2.0", "id": 1, "method": method}
    if modern:
        params = dict(params or {})
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        }
    if params is not None:
        body["params"] = params
    return json.dumps(body, separators=(",", ":"))


def mcp_headers(token: str | None, modern: bool, method: str, name: str | None = None) -> list[str]:
    headers = [
        "Content-Type: application/json",
        "Accept: application/json, text/event-stream",
        f"MCP-Protocol-Version: {MODERN if modern else LEGACY}",
    ]
    if modern:
        headers.append(f"Mcp-Method: {method}")
        if name:
            headers.append(f"Mcp-Name: {name}")
    if token:
        headers.append(f"Authorization: Bearer {token}")
    return headers


@dataclass
class Request:
    """One wrk run's request: what to send and what every answer must be."""

    method: str
    url: str
    headers: list[str]
    body: str = ""
    expect: int = 200
    check: str = ""
    script: str = "static.lua"
    extra_env: dict[str, str] = field(default_factory=dict)


SCENARIO_LABELS = report.LABELS  # every scenario, in report order


def request_for(scenario: str, side: Side) -> Request | None:
    c = side.creds
    if scenario == "prm":
        return Request("GET", c.prm_url, ["Accept: application/json"], check="json")
    if scenario == "asm":
        return Request("GET", c.asm_url, ["Accept: application/json"], check="json")
    if scenario == "mcp_401":
        return Request(
            "POST",
            c.mcp_url,
            mcp_headers(None, False, "tools/list"),
            rpc_body("tools/list", None, False),
            401,
            "www-auth",
        )
    if scenario in ("list_2025", "list_2026"):
        modern = scenario.endswith("2026")
        return Request(
            "POST",
            c.mcp_url,
            mcp_headers(c.access_token, modern, "tools/list"),
            rpc_body("tools/list", None, modern),
            check="jsonrpc",
        )
    if scenario in ("call_2025", "call_2026"):
        modern = scenario.endswith("2026")
        return Request(
            "POST",
            c.mcp_url,
            mcp_headers(c.access_token, modern, "tools/call", side.tool),
            rpc_body("tools/call", {"name": side.tool, "arguments": {}}, modern),
            check="jsonrpc",
        )
    if scenario in ("refresh", "refresh_conf"):
        confidential = scenario == "refresh_conf"
        creds = side.confidential if confidential else c
        seeds = side.confidential_seeds_file if confidential else side.seeds_file
        if creds is None:
            return None
        return Request(
            "POST",
            creds.token_endpoint,
            ["Accept: application/json"],
            script="refresh.lua",
            extra_env={
                "BENCH_SEEDS": str(seeds),
                "BENCH_CLIENT_ID": creds.client_id,
                "BENCH_CLIENT_SECRET": creds.client_secret,
                "BENCH_RESOURCE": creds.resource,
            },
        )
    if scenario == "code":
        if side.mint_codes is None:
            return None
        return Request(
            "POST",
            c.token_endpoint,
            ["Accept: application/json"],
            script="code.lua",
            extra_env={
                "BENCH_SEEDS": str(side.codes_file),
                "BENCH_CLIENT_ID": c.client_id,
                "BENCH_CLIENT_SECRET": "",
                "BENCH_REDIRECT_URI": c.redirect_uri,
                "BENCH_RESOURCE": c.resource,
            },
        )
    if scenario == "signin":
        if side.sign_in is None:
            return None
        return Request("POST", side.sign_in.url, side.sign_in.headers, side.sign_in.body, expect=302)
    raise ValueError(f"unknown scenario {scenario!r}")


RESULT = re.compile(r"^RESULT (\S+) (\S+) (\S+) (\S+) (OK|FAIL)\((.*)\)$", re.M)


def wrk(request: Request, name: str, seconds: int, conns: int, cpus: str, raw: Path) -> dict:
    env = {
        **os.environ,
        "BENCH_LUA_DIR": str(HERE / "lua"),
        "BENCH_NAME": name,
        "BENCH_EXPECT": str(request.expect),
        "BENCH_METHOD": request.method,
        "BENCH_BODY": request.body,
        "BENCH_CHECK": request.check,
        "BENCH_THREADS": "1",
        "BENCH_UNIQUE_ID": "1",
        **request.extra_env,
    }
    command = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", "-s", str(HERE / "lua" / request.script)]
    for header in request.headers:
        command += ["-H", header]
    command.append(request.url)
    done = subprocess.run(pinned(command, cpus), env=env, capture_output=True, text=True, timeout=seconds + 60)
    with raw.open("a") as f:
        f.write(f"$ wrk {name} -c{conns} -d{seconds}s {request.method} {request.url}\n{done.stdout}{done.stderr}\n")
    found = RESULT.search(done.stdout)
    if not found:
        return {"rps": None, "p50": None, "p99": None, "ok": False, "detail": f"no result (exit {done.returncode})"}
    _, rps, p50, p99, ok, detail = found.groups()
    return {"rps": float(rps), "p50": float(p50), "p99": float(p99), "ok": ok == "OK", "detail": detail}


@dataclass
class Runner:
    config: Config
    raw: Path
    results: list[dict] = field(default_factory=list)

    def measure(self, phase: str, scenario: str, side: Side, round_no: int, conns: int | None = None) -> dict | None:
        request = request_for(scenario, side)
        if request is None:
            return None
        conns = conns or self.config.conns
        if scenario == "code":
            # Codes for the warm-up and the measured run, from the fastest rate seen so far, with room
            # (rates move by half between runs on a shared machine).
            wanted = max(1000, int(side.code_rate * (self.config.warmup + self.config.duration) * 2.5))
            write_seeds(side.codes_file, side.mint_codes(wanted))
        if self.config.warmup:
            wrk(request, scenario, self.config.warmup, conns, self.config.wrk_cpus, self.raw)
        row = wrk(request, scenario, self.config.duration, conns, self.config.wrk_cpus, self.raw)
        if scenario == "code" and row["rps"]:
            side.code_rate = max(side.code_rate, row["rps"])
        row.update(phase=phase, scenario=scenario, side=side.name, round=round_no, conns=conns)
        self.results.append(row)
        flag = "" if row["ok"] else f"  FAILED: {row['detail']}"
        log(
            f"  {phase} r{round_no} {scenario:<10} {side.name:<5} {row['rps']} req/s p50 {row['p50']} ms "
            f"p99 {row['p99']} ms{flag}"
        )
        return row

    def alternate(self, phase: str, sides: list[Side], scenarios: list[str], rounds: int, idle: list) -> None:
        """Every scenario on every side, `rounds` times; the side that goes first alternates."""
        for round_no in range(1, rounds + 1):
            snapshot = cpu_idle()
            idle.append(
                {
                    "phase": phase,
                    "round": round_no,
                    "idle": snapshot,
                    "loadavg": Path("/proc/loadavg").read_text().split()[:3],
                }
            )
            log(f"{phase}: round {round_no}/{rounds}, idle before: {snapshot}")
            for index, scenario in enumerate(scenarios):
                order = sides if (round_no + index) % 2 else list(reversed(sides))
                for side in order:
                    self.measure(phase, scenario, side, round_no)


# --- Helpers run in our server's environment ------------------------------------------------------


def run_helper(server: OurServer, script: str, payload: dict, timeout: int = 900) -> dict:
    """Run bench/<script> with our server's settings; it reads JSON on stdin and prints JSON."""
    env = server.environment()
    done = subprocess.run(
        [PY, str(HERE / script)],
        cwd=ROOT,
        env=env,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def code_job(creds: oauth_client.Credentials, **more) -> dict:
    """What a side needs to mint codes for the client of `creds` (and for whom, on ours)."""
    return {
        "client_id": creds.client_id,
        "redirect_uri": creds.redirect_uri,
        "scope": creds.scope,
        "resource": creds.resource,
        **more,
    }


def mint_our_codes(server: OurServer, creds: oauth_client.Credentials, count: int) -> list[str]:
    """Authorization codes of our server for the code scenario (bench/codes.py)."""
    return run_helper(server, "codes.py", code_job(creds, username=server.username, count=count))["lines"]


def mint_peer_codes(peer: Peer, creds: oauth_client.Credentials, count: int) -> list[str]:
    """The peer's, from its provider (bench/peer_server.py, /bench/codes)."""
    answer = oauth_client.Http().post_json(peer.url + "/bench/codes", code_job(creds, count=count))
    if answer.status != 200:
        raise RuntimeError(f"the peer minted no codes: {answer.status}")
    return [line for line in answer.text().splitlines() if line]


def seeds_needed(config: Config, passes: int) -> int:
    # wrk stops with up to `conns` refresh tokens in flight, each pass (warm-up included).
    return config.conns * (passes + 2) + 8


def write_seeds(path: Path, tokens: list[str]) -> None:
    path.write_text("".join(t + "\n" for t in tokens))


def machine_facts(database_url: str) -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    from importlib import metadata

    versions = {}
    for package in (
        "Django",
        "django-oauth-toolkit",
        "mcp",
        "starlette",
        "uvicorn",
        "gunicorn",
        "uvicorn-worker",
        "uvloop",
        "httptools",
        "a2wsgi",
        "psycopg",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "wrk": wrk_version[0] if wrk_version else "wrk",
        "database": "PostgreSQL" if database_url.startswith("postgres") else "SQLite",
    }


def deployed_default_workers() -> int:
    """The worker count gunicorn.conf.py picks when WEB_CONCURRENCY is not set."""
    saved = os.environ.pop("WEB_CONCURRENCY", None)
    try:
        return int(runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"])
    finally:
        if saved is not None:
            os.environ["WEB_CONCURRENCY"] = saved


# --- The run --------------------------------------------------------------------------------------


def prepare_sides(
    config: Config, ours: OurServer, peer: Peer, scenarios: list[str], phases: list[str], workdir: Path
) -> tuple[Side, Side]:
    """What each server needs for the scenarios: tokens from full OAuth flows (and refresh-token
    seeds), a confidential client's, code minting, our sign-in form."""
    passes = 2 * (config.rounds + config.rounds_secondary)
    # The queries phase takes 40 refresh tokens; the memory phase one, and up to `conns` per run.
    seeds = seeds_needed(config, passes) + 40 * ("queries" in phases) + (3 * config.conns + 8) * ("memory" in phases)
    log(f"tokens: full OAuth flows on both servers ({seeds} refresh-token seeds each)")
    ours_creds = oauth_client.obtain(ours.url + "/mcp", ours.username, ours.password, seeds=seeds)
    peer_creds = oauth_client.obtain(peer.url + "/mcp", seeds=seeds)
    ours_side = Side("ours", ours_creds, config.tool, workdir / "ours.seeds")
    peer_side = Side("peer", peer_creds, config.tool, workdir / "peer.seeds")
    write_seeds(ours_side.seeds_file, ours_creds.refresh_tokens)
    write_seeds(peer_side.seeds_file, peer_creds.refresh_tokens)
    if "refresh_conf" in scenarios:
        log("tokens of a confidential client (client_secret_post) on both servers")
        for side, username, password in ((ours_side, ours.username, ours.password), (peer_side, None, None)):
            side.confidential = oauth_client.obtain(side.creds.mcp_url, username, password, seeds, confidential=True)
            side.confidential_seeds_file = workdir / f"{side.name}-confidential.seeds"
            write_seeds(side.confidential_seeds_file, side.confidential.refresh_tokens)
    if "code" in scenarios:
        ours_side.codes_file, peer_side.codes_file = workdir / "ours.codes", workdir / "peer.codes"
        ours_side.mint_codes = lambda count: mint_our_codes(ours, ours_creds, count)
        peer_side.mint_codes = lambda count: mint_peer_codes(peer, peer_creds, count)
        ours_side.code_rate, peer_side.code_rate = 500.0, 5000.0  # first guesses; then what was seen
    if "signin" in scenarios:
        # The peer has no sign-in of its own (its provider consents for a fixed subject).
        login_url = ours.url + "/accounts/login/"
        ours_side.sign_in = oauth_client.sign_in_request(login_url, ours.username, ours.password)
    return ours_side, peer_side


def main() -> int:
    if not shutil.which("wrk"):
        print("wrk is missing: `make bench` installs it (apt-get install wrk)", file=sys.stderr)
        return 2
    config = Config.from_env()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    workdir = ROOT / "var" / "bench" / stamp
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log(f"raw output in {workdir}")

    def interrupted(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    runner = Runner(config, workdir / "wrk.txt")
    data: dict = {
        "config": asdict(config),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "idle": [],
        "phases": config.phases.split(),
        "deployed_workers": config.deployed_workers or deployed_default_workers(),
    }
    with contextlib.ExitStack() as stack:
        run_phases(config, runner, data, workdir, stack)
        data["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        data["elapsed_seconds"] = round(time.monotonic() - started)
        data["results"] = runner.results
    (workdir / "results.json").write_text(json.dumps(data, indent=1))
    text = report.render(data)
    Path(config.output).write_text(text)
    print(report.console_table(data))
    log(f"wrote {config.output} and {workdir / 'results.json'} in {data['elapsed_seconds']} s")
    return 0


def run_phases(config: Config, runner: Runner, data: dict, workdir: Path, stack: contextlib.ExitStack) -> None:
    """The database and both servers (stopped by `stack`), then the chosen phases, their figures
    into `data`."""
    phases = data["phases"]
    scenarios = [s for s in config.scenarios.split() if s in SCENARIO_LABELS]
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
    database_url = stack.enter_context(bench_database(tmp))
    data["machine"] = machine_facts(database_url)
    log(f"database: {data['machine']['database']}")
    ours = OurServer(database_url, workdir, workers=1, cpus=config.server_cpus)
    log("migrating and seeding our server's database")
    ours.prepare()
    peer = Peer(workdir, cpus=config.server_cpus)
    stack.callback(peer.stop)
    stack.callback(ours.stop)
    peer.start()
    ours.start()

    ours_side, peer_side = prepare_sides(config, ours, peer, scenarios, phases, workdir)
    sides = [ours_side, peer_side]
    # On PostgreSQL the token cache is on by default (revocations are heard by every worker);
    # the "cache" phase measures the other setting.
    data["cache_default"] = int(ours.setting("MCP_TOKEN_CACHE_SECONDS"))
    data["cache_other"] = 0 if data["cache_default"] else config.cache_seconds
    if "ratio" in phases:
        runner.alternate("ratio", sides, scenarios, config.rounds, data["idle"])
    ours = variant_phases(config, runner, data, ours, sides, scenarios, stack)
    if ours.workers != 1 or ours.extra_env:
        ours = restarted(ours, stack, workers=1, extra_env={})
    if "queries" in phases:
        data["queries"] = queries_phase(config, ours, ours_side, data["cache_default"])
    if "rows" in phases:
        if data["cache_default"]:
            # Every call must look its token up, or the table's size could not matter.
            ours = restarted(ours, stack, workers=1, extra_env={"MCP_TOKEN_CACHE_SECONDS": "0"})
        data["rows"] = large_table_phase(runner, ours, ours_side, config, data["idle"])
    if "memory" in phases:
        ours = restarted(ours, stack, workers=1, extra_env={})
        try:
            data["memory"] = memory_phase(runner, ours, ours_side, config, workdir)
        except Exception as exc:  # noqa: BLE001 (the figures of the other phases are still written)
            log(f"memory phase failed: {exc!r}")
            data["errors"] = [*data.get("errors", []), f"memory phase: {exc!r}"]


def restarted(ours: OurServer, stack: contextlib.ExitStack, **changes) -> OurServer:
    """Our server stopped and started again with `changes` (stopped by `stack` at the end)."""
    ours.stop()
    ours = ours.variant(**changes)
    stack.callback(ours.stop)
    ours.start()
    return ours


def variant_phases(
    config: Config,
    runner: Runner,
    data: dict,
    ours: OurServer,
    sides: list,
    scenarios: list[str],
    stack: contextlib.ExitStack,
) -> OurServer:
    """The other configurations of our server, each against the same peer; returns our server as
    the last phase left it."""
    deployed = data["deployed_workers"]
    mcp_scenarios = [s for s in scenarios if s.startswith(("list_", "call_"))]
    variants = [
        ("deployed", {"workers": deployed, "extra_env": {}}, scenarios, deployed > 1),
        (
            "cache",
            {"workers": 1, "extra_env": {"MCP_TOKEN_CACHE_SECONDS": str(data["cache_other"])}},
            mcp_scenarios,
            True,
        ),
        ("json", {"workers": 1, "extra_env": {"MCP_JSON_RESPONSE": "1"}}, mcp_scenarios, True),
    ]
    for phase, changes, chosen, wanted in variants:
        if phase not in data["phases"] or not wanted or not chosen:
            continue
        ours = restarted(ours, stack, **changes)
        runner.alternate(phase, sides, chosen, config.rounds_secondary, data["idle"])
    return ours


def queries_phase(config: Config, ours: OurServer, ours_side, cache_default: int) -> dict:
    log("queries per request (in-process, counted on every database connection)")
    creds = ours_side.creds
    seeds_left = [t for t in ours_side.seeds_file.read_text().split() if t]
    found = run_helper(
        ours,
        "queries.py",
        {
            "mode": "count",
            "access_token": creds.access_token,
            "client_id": creds.client_id,
            "resource": creds.resource,
            "refresh_tokens": seeds_left[-40:],
            "tool": config.tool,
            "cache_seconds": cache_default or config.cache_seconds,
            "code_job": code_job(creds, username=ours.username),
        },
    )
    write_seeds(ours_side.seeds_file, seeds_left[:-40])
    log(f"queries: {json.dumps(found['summary'])}")
    return found


# --- Memory -----------------------------------------------------------------------------------


def process_memory(pid: int) -> dict[str, int]:
    """Resident (RSS) and proportional (PSS: shared pages divided among their sharers) memory of a
    process, in KiB."""
    found = {"rss_kib": 0, "pss_kib": 0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                found["rss_kib"] = int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                found["pss_kib"] = int(line.split()[1])
    return found


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def stack_memory(master: int) -> dict[str, int]:
    """The gunicorn master and its workers together."""
    parts = [process_memory(pid) for pid in [master, *children(master)]]
    return {key: sum(part[key] for part in parts) for key in ("rss_kib", "pss_kib")} | {"processes": len(parts)}


class Sampler(threading.Thread):
    """The memory of a process every `interval` seconds, while it runs."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[dict] = []
        self.stopped = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append({"t": round(time.monotonic() - self.started_at, 1), **process_memory(self.pid)})
            self.stopped.wait(self.interval)

    def stop(self) -> list[dict]:
        self.stopped.set()
        self.join(timeout=10)
        return self.samples


def mixed_request(side: Side, token: str) -> Request:
    c = side.creds
    path = lambda url: urllib.parse.urlsplit(url).path  # noqa: E731
    return Request(
        "GET",
        c.mcp_url,
        [],
        expect=0,
        script="mixed.lua",
        extra_env={
            "BENCH_EXPECT": "200,401",
            "BENCH_TOKEN": token,
            "BENCH_MCP_PATH": path(c.mcp_url),
            "BENCH_PRM_PATH": path(c.prm_url),
            "BENCH_ASM_PATH": path(c.asm_url),
            "BENCH_TOKEN_PATH": path(c.token_endpoint),
            "BENCH_TOOL": side.tool,
            "BENCH_SEEDS": str(side.seeds_file),
            "BENCH_CLIENT_ID": c.client_id,
            "BENCH_RESOURCE": c.resource,
        },
    )


def fresh_access_token(side: Side) -> str:
    """A new access token (the benchmark's first may be near its hour by now), by one refresh; its
    refresh token is left out of the pool, whose next rotation would revoke this access token."""
    seeds = [t for t in side.seeds_file.read_text().split() if t]
    c = side.creds
    form = {"grant_type": "refresh_token", "refresh_token": seeds[0], "client_id": c.client_id, "resource": c.resource}
    answer = oauth_client.Http().post_form(c.token_endpoint, form, {"Accept": "application/json"})
    if answer.status != 200:
        raise RuntimeError(f"no fresh access token: {answer.status} {answer.text()[:200]}")
    write_seeds(side.seeds_file, seeds[1:])
    return answer.json()["access_token"]


def memory_phase(runner: Runner, ours: OurServer, side: Side, config: Config, workdir: Path) -> dict:
    """One worker idle, under mixed load, through a soak of it; then the whole `make run` stack."""
    found: dict = {"soak_seconds": config.soak}
    time.sleep(2)
    worker = children(ours.process.pid)[0]
    found["idle"] = process_memory(worker)
    found["master_idle"] = process_memory(ours.process.pid)
    request = mixed_request(side, fresh_access_token(side))
    sampler = Sampler(worker, 0.2)
    sampler.start()
    found["load_run"] = wrk(request, "mixed", config.duration, config.conns, config.wrk_cpus, runner.raw)
    found["load"] = max(sampler.stop(), key=lambda sample: sample["rss_kib"])
    log(f"memory: worker idle {found['idle']}, under load {found['load']}; soak of {config.soak} s")
    sampler = Sampler(worker, 5.0)
    sampler.start()
    found["soak_run"] = wrk(request, "soak", config.soak, config.conns, config.wrk_cpus, runner.raw)
    found["soak"] = sampler.stop()
    found["stack"] = make_run_stack(runner, config, workdir)
    return found


def make_run_stack(runner: Runner, config: Config, workdir: Path) -> dict:
    """`make run`'s stack as it starts (DEBUG on, SQLite, gunicorn.conf.py's worker count), idle and
    after the mixed load."""
    stack_dir = workdir / "make-run"
    stack_dir.mkdir(exist_ok=True)
    server = OurServer(f"sqlite:///{stack_dir / 'db.sqlite3'}", workdir, workers=None, extra_env={"DEBUG": "1"})
    server.prepare()
    server.start()
    try:
        time.sleep(3)
        found = {"idle": stack_memory(server.process.pid)}
        creds = oauth_client.obtain(server.url + "/mcp", server.username, server.password, seeds=config.conns + 8)
        side = Side("make-run", creds, config.tool, stack_dir / "seeds")
        write_seeds(side.seeds_file, creds.refresh_tokens)
        found["load_run"] = wrk(
            mixed_request(side, creds.access_token), "mixed", config.duration, config.conns, config.wrk_cpus, runner.raw
        )
        found["after_load"] = stack_memory(server.process.pid)
    finally:
        server.stop()
    log(f"memory: make run stack {found}")
    return found


def large_table_phase(runner: Runner, ours: OurServer, side: Side, config: Config, idle: list) -> dict:
    """The authenticated call's latency (one connection, so no queueing) and the lookup's own
    time, with 1,000 and then `config.rows` rows in the access-token table."""
    found: dict = {"sizes": []}
    for target in (1000, config.rows):
        log(f"rows: filling the access-token table up to {target:,} rows")
        filled = run_helper(ours, "bulk_tokens.py", {"rows": target})
        timing = run_helper(ours, "queries.py", {"mode": "lookup", "access_token": side.creds.access_token})
        snapshot = cpu_idle()
        idle.append(
            {
                "phase": f"rows-{target}",
                "round": 1,
                "idle": snapshot,
                "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            }
        )
        runs = [
            runner.measure(f"rows-{target}", "call_2025", side, r, conns=1) for r in range(1, config.latency_rounds + 1)
        ]
        found["sizes"].append({"target": target, **filled, "lookup": timing, "runs": runs})
        log(f"rows: {filled['rows']:,} rows (insert {filled['seconds']} s); lookup {timing}")
    return found


if __name__ == "__main__":
    sys.exit(main())
