"""The official MCP conformance suite (npm `@modelcontextprotocol/conformance`), installed on
demand and run against our servers.

The suite needs Node >= 22; where the machine has an older Node, the npm package `node@22` (a
Node binary published on the npm registry) is installed next to it. The suite has no option for
an `Authorization` header, so `--bearer` is added by a small preload module that puts the header
on every request to the server's origin (global fetch and undici's dispatcher).
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import npm_install

PACKAGE = "@modelcontextprotocol/conformance"
STABLE = "0.1.16"
NEXT = "0.2.0-alpha.12"
CACHE = Path(os.environ.get("CONFORMANCE_CACHE", Path.home() / ".cache" / "mcp-django-conformance"))

INJECT_HEADERS_JS = r"""
// Adds the headers in CONFORMANCE_HEADERS (a JSON object) to every request whose origin is
// CONFORMANCE_ORIGIN: the suite's MCP client uses fetch, some scenarios use undici directly.
import { createRequire } from 'node:module';
const origin = new URL(process.env.CONFORMANCE_ORIGIN).origin;
const extra = Object.entries(JSON.parse(process.env.CONFORMANCE_HEADERS || '{}'));
const ours = (url) => { try { return new URL(String(url)).origin === origin; } catch { return false; } };

const originalFetch = globalThis.fetch;
globalThis.fetch = function (input, init) {
  const url = typeof input === 'string' || input instanceof URL ? String(input) : input && input.url;
  if (!ours(url)) return originalFetch.call(this, input, init);
  const headers = new Headers((init && init.headers) || (input instanceof Request ? input.headers : undefined));
  for (const [name, value] of extra) if (!headers.has(name)) headers.set(name, value);
  return originalFetch.call(this, input, { ...(init || {}), headers });
};

try {
  const undici = createRequire(process.env.CONFORMANCE_PACKAGE_JSON)('undici');
  const withHeaders = (headers) => {
    const result = Array.isArray(headers) ? [...headers] : { ...(headers || {}) };
    for (const [name, value] of extra) {
      if (Array.isArray(result)) result.push(name, value); else if (!(name in result)) result[name] = value;
    }
    return result;
  };
  undici.setGlobalDispatcher(undici.getGlobalDispatcher().compose((dispatch) => (opts, handler) =>
    dispatch(ours(opts.origin) ? { ...opts, headers: withHeaders(opts.headers) } : opts, handler)));
} catch (error) {
  process.stderr.write(`conformance: no undici header injection: ${error.message}\n`);
}

// The header-validation scenarios send raw node:http requests (to keep exact header spellings),
// which neither fetch nor undici sees.
{
  const http = createRequire(import.meta.url)('node:http');
  const request = http.request;
  http.request = function (options, ...rest) {
    if (options && typeof options === 'object' && !(options instanceof URL) && options.hostname
        && ours(`http://${options.hostname}${options.port ? ':' + options.port : ''}`)) {
      const headers = { ...(options.headers || {}) };
      const present = new Set(Object.keys(headers).map((name) => name.toLowerCase()));
      for (const [name, value] of extra) if (!present.has(name.toLowerCase())) headers[name] = value;
      options = { ...options, headers };
    }
    return request.call(this, options, ...rest);
  };
}
"""


@dataclass
class Suite:
    version: str
    directory: Path
    node: str

    @property
    def cli(self) -> str:
        return str(self.directory / "node_modules" / PACKAGE / "dist" / "index.js")

    def command(self, *args: str) -> list[str]:
        return [self.node, self.cli, *args]

    def environment(self, origin: str | None = None, bearer: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        if bearer:
            preload = self.directory / "inject-headers.mjs"
            preload.write_text(INJECT_HEADERS_JS)
            env.update(
                CONFORMANCE_ORIGIN=origin or "",
                CONFORMANCE_HEADERS=json.dumps({"Authorization": f"Bearer {bearer}"}),
                CONFORMANCE_PACKAGE_JSON=str(self.directory / "package.json"),
                NODE_OPTIONS=f"--import=file://{preload}",
            )
        return env


def installed_version(directory: Path) -> str | None:
    return npm_install.installed_version(directory, PACKAGE)


def install(version: str = STABLE) -> Suite:
    """The suite at `version`, installed into the cache on first use (npm registry)."""
    directory = CACHE / version
    package_json = '{"name": "conformance-harness", "private": true}\n'
    node = npm_install.install_package(directory, PACKAGE, version, package_json, "the MCP conformance suite")
    return Suite(version, directory, node)


@dataclass
class Check:
    scenario: str
    id: str
    status: str
    message: str


@dataclass
class Results:
    checks: list[Check] = field(default_factory=list)
    output: str = ""
    returncode: int = 0
    scenarios: set[str] = field(default_factory=set)  # every scenario that reported, checks or not

    def with_status(self, status: str) -> list[Check]:
        return [check for check in self.checks if check.status == status]

    @property
    def passed(self) -> list[Check]:
        return self.with_status("SUCCESS")

    @property
    def failed(self) -> list[Check]:
        return self.with_status("FAILURE")

    def summary(self) -> str:
        lines = [f"{len(self.passed)} passed, {len(self.failed)} failed"]
        lines += [f"  FAIL {c.scenario} :: {c.id}: {c.message}" for c in self.failed]
        return "\n".join(lines)


def read_results(directory: Path, output: str = "", returncode: int = 0) -> Results:
    """Every check of every `checks.json` the CLI wrote under `directory`."""
    results = Results(output=output, returncode=returncode)
    for path in sorted(glob.glob(str(directory / "**" / "checks.json"), recursive=True)):
        # Result folders are named <command>-<scenario>-<timestamp> (2026-12-07T02-15-30-434Z).
        scenario = re.sub(r"-\d{4}-\d{2}-\d{2}T[\d-]+Z$", "", Path(path).parent.name)
        for command in ("server-", "authorization-server-"):
            scenario = scenario.removeprefix(command)
        results.scenarios.add(scenario)
        for check in json.loads(Path(path).read_text()):
            results.checks.append(
                Check(
                    scenario,
                    check.get("id", "?"),
                    check.get("status", "?"),
                    " ".join(str(check.get("errorMessage") or check.get("description") or "").split())[:300],
                )
            )
    return results


def run_server_suite(
    suite: Suite,
    url: str,
    out: Path,
    bearer: str | None,
    timeout: int = 600,
    selection: tuple[str, ...] = ("--suite", "all"),
) -> Results:
    """`conformance server --suite all` (or another `selection`, such as `--requirements
    2026-07-28`) against an MCP endpoint."""
    out.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        suite.command("server", "--url", url, *selection, "-o", str(out)),
        env=suite.environment(origin=url, bearer=bearer),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return read_results(out, completed.stdout + completed.stderr, completed.returncode)


def required_server_scenarios(suite: Suite, revision: str) -> tuple[list[str], list[str]]:
    """The server scenarios a spec revision requires, and those it runs without scoring, as the
    suite's own frozen requirement file (`requirements/<revision>.yaml`) lists them."""
    import yaml

    path = suite.directory / "node_modules" / PACKAGE / "requirements" / f"{revision}.yaml"
    document = yaml.safe_load(path.read_text())
    unscored = [entry["scenario"] for entry in document.get("not_scored", []) if entry.get("leg") == "server"]
    return list(document["server"]), unscored


def run_authorization_metadata(suite: Suite, issuer: str, out: Path, timeout: int = 120) -> Results:
    """`conformance authorization --scenario authorization-server-metadata-endpoint`."""
    out.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        suite.command(
            "authorization", "--url", issuer, "--scenario", "authorization-server-metadata-endpoint", "-o", str(out)
        ),
        env=suite.environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return read_results(out, completed.stdout + completed.stderr, completed.returncode)
