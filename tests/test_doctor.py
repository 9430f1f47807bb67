"""The discovery doctor, against our own live server (everything passes) and against small
deliberately broken MCP servers built here (it names each fault and exits non-zero)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from democlient.doctor import CHECKS, CLIENTS, FAIL, PASS, SKIP, WARN, diagnose, parse_challenge
from tests.support.fake_mcp import fake_mcp_server
from tests.support.server import ROOT

CLIENT_IDS = {"python-sdk", "typescript-sdk", "mcp-inspector", "claude", "claude-code", "chatgpt", "vscode", "cursor"}


def statuses(report: dict) -> dict[str, str]:
    return {check["id"]: check["status"] for check in report["checks"]}


def failing(report: dict) -> set[str]:
    return {check["id"] for check in report["checks"] if check["status"] == FAIL}


def verdicts(report: dict) -> dict[str, str]:
    return {client["id"]: client["verdict"] for client in report["clients"]}


def run_doctor(url: str) -> tuple[int, dict]:
    """The command as people run it, in the same process (the settings are the test's)."""
    out = io.StringIO()
    try:
        call_command("mcp_doctor", url, "--json", stdout=out)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, json.loads(out.getvalue())


# --- The table itself -----------------------------------------------------------------------------
def test_check_ids_are_unique_and_every_client_rule_names_a_check() -> None:
    ids = [check.id for check in CHECKS]
    assert len(ids) == len(set(ids))
    assert {client.id for client in CLIENTS} == CLIENT_IDS
    for client in CLIENTS:
        for rule in client.rules:
            assert rule.check in ids, (client.id, rule.check)
            assert rule.on in (WARN, FAIL)
            assert rule.source.strip(), (client.id, rule.check)  # each rule next to its source


def test_parse_challenge() -> None:
    assert parse_challenge('Bearer resource_metadata="https://h/.well-known/x", scope="a b"') == (
        "Bearer",
        {"resource_metadata": "https://h/.well-known/x", "scope": "a b"},
    )
    assert parse_challenge('Bearer error=invalid_token, error_description="say \\"no\\""') == (
        "Bearer",
        {"error": "invalid_token", "error_description": 'say "no"'},
    )
    assert parse_challenge(None) is None


# --- Our own server ------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_our_server_passes_every_check(stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "manage.py", "mcp_doctor", stack.mcp_url, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert {check["id"] for check in report["checks"]} == {check.id for check in CHECKS}
    assert statuses(report) == {check.id: PASS for check in CHECKS}, [
        (c["id"], c["detail"]) for c in report["checks"] if c["status"] != PASS
    ]
    assert report["summary"] == {PASS: len(CHECKS), WARN: 0, FAIL: 0, SKIP: 0}
    assert verdicts(report) == dict.fromkeys(CLIENT_IDS, "works")
    for check in report["checks"]:
        assert check["detail"] and check["fix"] is None


@pytest.mark.e2e
def test_human_report_of_our_server(stack) -> None:
    out = io.StringIO()
    call_command("mcp_doctor", stack.mcp_url, "--no-color", stdout=out)
    text = out.getvalue()
    assert f"MCP discovery doctor → {stack.mcp_url}" in text
    assert "✔ PASS  prm.resource" in text
    assert "\x1b[" not in text
    assert f"{len(CHECKS)} passed, 0 warnings, 0 failed, 0 skipped" in text
    assert "works                 Claude (claude.ai and Desktop)" in text


# --- Servers that get it wrong ---------------------------------------------------------------------
def test_a_correct_fake_server_passes() -> None:
    """The fakes below differ from this one by their fault alone."""
    with fake_mcp_server() as url:
        code, report = run_doctor(url)
    assert code == 0
    assert failing(report) == set()
    assert {cid for cid, status in statuses(report).items() if status != PASS} == set()
    assert verdicts(report) == dict.fromkeys(CLIENT_IDS, "works")


@pytest.mark.parametrize(
    ("fault", "expected_failures", "broken_clients"),
    [
        (
            "issuer_trailing_slash",
            {"asm.issuer"},
            CLIENT_IDS,
        ),
        (
            "resource_mismatch",
            {"prm.resource"},
            {"claude", "claude-code", "chatgpt", "vscode", "cursor"},
        ),
        (
            "html_wellknown",
            {"prm.path_inserted", "http.json"},
            {"typescript-sdk", "mcp-inspector", "claude", "chatgpt"},
        ),
        (
            "no_cors",
            {"cors.prm", "cors.asm", "cors.oauth"},
            {"mcp-inspector"},
        ),
        (
            "no_s256",
            {"asm.pkce"},
            CLIENT_IDS,
        ),
        (
            "no_www_authenticate",
            {"challenge.header"},
            {"claude"},
        ),
        (
            # CIMD advertised with only "none" (stock django-oauth-toolkit 3.4): ChatGPT cannot get in.
            "cimd_none_only",
            {"asm.private_key_jwt"},
            {"chatgpt"},
        ),
    ],
)
def test_doctor_names_each_fault(fault: str, expected_failures: set[str], broken_clients: set[str]) -> None:
    with fake_mcp_server(fault) as url:
        code, report = run_doctor(url)
    assert code == 1
    assert report["ok"] is False
    assert failing(report) == expected_failures
    for check in report["checks"]:
        if check["status"] == FAIL:
            assert check["detail"] and check["fix"], check
    assert {cid for cid, verdict in verdicts(report).items() if verdict == "fails"} == broken_clients
    for client in report["clients"]:
        if client["verdict"] != "works":
            assert client["reasons"], client


def test_fault_details_say_what_is_wrong() -> None:
    with fake_mcp_server("issuer_trailing_slash") as url:
        origin = url.removesuffix("/mcp")
        report = diagnose(url)
    issuer = next(c for c in report["checks"] if c["id"] == "asm.issuer")
    assert f"issuer is '{origin}/' but the protected-resource metadata names '{origin}'" in issuer["detail"]

    with fake_mcp_server("html_wellknown") as url:
        report = diagnose(url)
    path_inserted = next(c for c in report["checks"] if c["id"] == "prm.path_inserted")
    assert "/.well-known/oauth-protected-resource/mcp → 200 an HTML page" in path_inserted["detail"]
    # The Python SDK skips the HTML answer and finds the root document: degraded, not broken.
    assert verdicts(report)["python-sdk"] == "works with caveats"

    with fake_mcp_server("resource_mismatch") as url:
        report = diagnose(url)
    resource = next(c for c in report["checks"] if c["id"] == "prm.resource")
    assert "the SDKs accept this same-origin prefix, claude.ai does not" in resource["detail"]
    assert verdicts(report)["python-sdk"] == "works"

    with fake_mcp_server("no_www_authenticate") as url:
        report = diagnose(url)
    assert statuses(report)["challenge.scope"] == SKIP
    assert statuses(report)["prm.found"] == PASS  # found at the well-known URLs instead


def test_several_faults_at_once_are_all_named() -> None:
    with fake_mcp_server("no_s256", "issuer_trailing_slash", "no_cors") as url:
        code, report = run_doctor(url)
    assert code == 1
    assert failing(report) == {"asm.pkce", "asm.issuer", "cors.prm", "cors.asm", "cors.oauth"}


def test_nothing_listening_fails_cleanly() -> None:
    from tests.support.server import free_port

    code, report = run_doctor(f"http://127.0.0.1:{free_port()}/mcp")
    assert code == 1
    assert statuses(report)["challenge.status"] == FAIL
    assert statuses(report)["prm.found"] == FAIL
    assert statuses(report)["asm.found"] == SKIP
    assert verdicts(report) == dict.fromkeys(CLIENT_IDS, "fails")


def test_chatgpt_fails_where_cimd_has_no_private_key_jwt_and_the_doctor_says_how_to_fix_it() -> None:
    with fake_mcp_server("cimd_none_only") as url:
        report = diagnose(url)
    check = next(c for c in report["checks"] if c["id"] == "asm.private_key_jwt")
    assert check["status"] == FAIL
    assert "token_endpoint_auth_methods_supported = ['none']" in check["detail"]
    assert "private_key_jwt" in check["fix"]
    chatgpt = next(c for c in report["clients"] if c["id"] == "chatgpt")
    assert chatgpt["verdict"] == "fails"
    assert [(r["check"], r["source"].split(";")[0]) for r in chatgpt["reasons"]] == [
        ("asm.private_key_jwt", "engram-app/Engram#1637")
    ]
    # Claude and the SDKs use "none" with CIMD: they still work.
    assert verdicts(report)["claude"] == verdicts(report)["python-sdk"] == "works"


def test_clients_that_add_offline_access_fail_where_the_server_does_not_list_it() -> None:
    with fake_mcp_server("no_offline_access") as url:
        code, report = run_doctor(url)
    assert code == 0  # a warning: the server itself may accept it, and the SDKs add it only when listed
    assert statuses(report)["asm.offline_access"] == WARN
    assert {cid for cid, verdict in verdicts(report).items() if verdict == "fails"} == {"claude-code", "vscode"}


def test_without_cimd_chatgpt_registers_itself() -> None:
    from democlient.doctor import Finding, verdict

    findings = {"asm.private_key_jwt": Finding(SKIP, "CIMD is not advertised"), "asm.dcr": Finding(PASS, "ok")}
    chatgpt = next(profile for profile in CLIENTS if profile.id == "chatgpt")
    assert verdict(chatgpt, findings)["verdict"] == "works"
    findings["asm.dcr"] = Finding(WARN, "no registration_endpoint", {"cimd": False})
    assert verdict(chatgpt, findings)["verdict"] == "works with caveats"
    findings["asm.dcr"] = Finding(WARN, "no registration_endpoint", {"cimd": True})  # it uses its URL instead
    assert verdict(chatgpt, findings)["verdict"] == "works"
