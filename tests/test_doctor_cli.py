"""The doctor one command away: `python manage.py mcp_doctor URL` on a fresh checkout with no
environment at all (it only reads the network), `make doctor`, a transcript whose labels say what
each answer was, and the mismatch named when a server is dialled under another name."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest

from democlient.doctor import FAIL, diagnose
from tests.support.fake_mcp import fake_mcp_server
from tests.support.server import ROOT, free_port


@pytest.fixture(scope="module")
def fresh_checkout(tmp_path_factory) -> Path:
    """The repository's files as a clone has them: tracked and new ones, nothing ignored (no
    virtualenv, no database, no .env, no collected static files)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    target = tmp_path_factory.mktemp("checkout")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    assert not (target / ".venv").exists() and not (target / "db.sqlite3").exists()
    return target


def doctor_without_environment(checkout: Path, url: str) -> subprocess.CompletedProcess:
    """`python manage.py mcp_doctor URL` with no environment variable at all (not even PATH)."""
    return subprocess.run(
        [sys.executable, "manage.py", "mcp_doctor", url],
        cwd=checkout,
        env={},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.e2e
def test_a_fresh_checkout_runs_the_doctor_with_no_environment(fresh_checkout: Path, stack) -> None:
    done = doctor_without_environment(fresh_checkout, stack.mcp_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith(f"MCP discovery doctor → {stack.mcp_url}\n")
    assert "✘ FAIL" not in done.stdout
    assert "What the server answered" in done.stdout
    assert f'  POST {stack.mcp_url} → 401 Unauthorized (error "invalid_request")\n' in done.stdout
    assert f"  GET {stack.url}/.well-known/oauth-protected-resource/mcp → 200 a JSON document\n" in done.stdout
    assert re.search(r"\d+ passed, 0 warnings, 0 failed, 0 skipped", done.stdout)
    assert not (fresh_checkout / "db.sqlite3").exists()  # it touched no database


def test_a_fresh_checkout_reports_a_server_that_does_not_answer(fresh_checkout: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    done = doctor_without_environment(fresh_checkout, url)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "POST with an invalid token → no answer (ConnectError" in done.stdout
    assert f"  POST {url}: no answer (ConnectError" in done.stdout
    assert "→ None" not in done.stdout


def test_the_readmes_own_command_prints_its_report_on_a_fresh_checkout(fresh_checkout: Path) -> None:
    """Exactly `python manage.py mcp_doctor http://127.0.0.1:8000/mcp`: whatever answers there (a
    `make run`, another server, or nothing), a report, never a settings traceback."""
    done = doctor_without_environment(fresh_checkout, "http://127.0.0.1:8000/mcp")
    assert done.returncode in (0, 1), done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("MCP discovery doctor → http://127.0.0.1:8000/mcp\n")
    assert re.search(r"\n\d+ passed, \d+ warnings, \d+ failed, \d+ skipped\n$", done.stdout)


def test_make_doctor_runs_it_with_the_virtualenv() -> None:
    dry = subprocess.run(
        ["make", "-n", "doctor", "URL=https://mcp.example.com/mcp"], cwd=ROOT, capture_output=True, text=True
    )
    assert dry.returncode == 0, dry.stderr
    assert '.venv/bin/python manage.py mcp_doctor "https://mcp.example.com/mcp"' in dry.stdout
    readme = (ROOT / "README.md").read_text()
    assert "make doctor URL=https://" in readme
    run = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True)
    assert "manage.py mcp_url" in run.stdout  # `make run` prints the one URL to paste


def test_the_transcript_labels_each_answer_by_its_status() -> None:
    with fake_mcp_server() as url:
        report = diagnose(url)
    exchanges = report["exchanges"]
    assert f'POST {url} → 401 Unauthorized (error "unauthorized")' in exchanges
    origin = url.removesuffix("/mcp")
    assert f'GET {origin}/.well-known/openid-configuration → 404 Not Found (error "not_found")' in exchanges
    for line in exchanges:
        status = re.search(r" → (\d{3}) ", line)
        if status and int(status.group(1)) >= 400:
            assert f"{status.group(1)} {HTTPStatus(int(status.group(1))).phrase}" in line, line
        assert "not found" not in line  # the old label, whatever the status


@pytest.mark.e2e
def test_a_server_dialled_under_another_name_is_named_with_the_fix(stack) -> None:
    other = stack.mcp_url.replace("//127.0.0.1:", "//localhost:")
    report = diagnose(other)
    resource = next(check for check in report["checks"] if check["id"] == "prm.resource")
    assert resource["status"] == FAIL
    assert f"The server calls itself {stack.url}: you dialled it under another name." in resource["detail"]
    assert f"Use {stack.mcp_url} in your client" in resource["detail"]
    assert f"PUBLIC_URL={other.removesuffix('/mcp')}" in resource["detail"]
    assert resource["fix"]
