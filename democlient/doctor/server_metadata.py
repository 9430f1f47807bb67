"""The checks of the authorization-server metadata (RFC 8414, OpenID discovery): every location
clients try, the issuer, the required fields, and what it offers (PKCE, registration, signed URL
client ids, scopes, `iss`, grants)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .findings import FAIL, SEVERITY, Finding, fail, location_finding, ok, skip, skip_unless, warn
from .probe import Probe, asm_problem, is_loopback

# A check of the authorization-server metadata runs only when clients found it.
needs_server_metadata = skip_unless(lambda probe: probe.asm is not None, "no authorization-server metadata")


def asm_location_check(kind: str) -> Callable[[Probe], Finding]:
    def judge(probe: Probe) -> Finding:
        if probe.issuer is None:
            return skip("no issuer to look up (no protected-resource metadata)")
        urls = [url for k, url in probe.asm_locations if k == kind]
        found_url = probe.asm_found[0] if probe.asm_found else None
        findings = []
        for url in urls:
            other = found_url is not None and found_url != url
            finding = location_finding(probe.asm_answers[url], "authorization-server metadata", not other, asm_problem)
            if other and finding.status == FAIL and finding.facts.get("kind") in ("html", "server_error"):
                position = [u for _k, u in probe.asm_locations]
                if position.index(url) > position.index(found_url):
                    # Clients stop at the first document, so they never see this one.
                    finding = warn(
                        f"{probe.asm_answers[url].describe()}: harmless for clients that stop at {found_url} "
                        "first, a trap for any that try OpenID discovery first",
                        **finding.facts,
                    )
            findings.append(finding)
        worst = max(findings, key=lambda f: SEVERITY[f.status])
        return Finding(worst.status, "; ".join(f.detail for f in findings), worst.facts)

    return judge


def check_asm_found(probe: Probe) -> Finding:
    if probe.issuer is None:
        return skip("no issuer to look up (no protected-resource metadata)")
    if probe.asm_found is None:
        tried = "; ".join(answer.describe() for answer in probe.asm_answers.values())
        return fail(f"no authorization-server metadata for {probe.issuer} at any location clients try: {tried}")
    return ok(f"found at {probe.asm_found[0]}")


@needs_server_metadata
def check_asm_issuer(probe: Probe) -> Finding:
    issuer = probe.asm.get("issuer")
    if issuer != probe.issuer:
        return fail(
            f"issuer is {issuer!r} but the protected-resource metadata names {probe.issuer!r}: clients compare "
            "them as plain strings (RFC 8414 §3.3) and discard the metadata",
            trailing_slash=isinstance(issuer, str) and issuer.rstrip("/") == (probe.issuer or "").rstrip("/"),
        )
    return ok(f"issuer = {issuer}, identical to the protected-resource metadata's entry")


def check_asm_issuer_path(probe: Probe) -> Finding:
    if probe.issuer is None:
        return skip("no issuer")
    path = urlsplit(probe.issuer).path
    if path in ("", "/"):
        return ok(f"the issuer {probe.issuer} has no path")
    root = probe.issuer_root_asm
    served = root is not None and root.kind == "document"
    return warn(
        f"the issuer {probe.issuer} has a path; the bare-root RFC 8414 URL "
        + ("serves a document too" if served else "does not serve it (Claude Code looks only there)"),
        root_served=served,
    )


@needs_server_metadata
def check_asm_fields(probe: Probe) -> Finding:
    missing = [
        key for key in ("issuer", "authorization_endpoint", "token_endpoint") if not isinstance(probe.asm.get(key), str)
    ]
    if missing:
        return fail(f"missing {', '.join(missing)}")
    if "code" not in (probe.asm.get("response_types_supported") or []):
        return fail('response_types_supported must list "code" (the TypeScript SDK rejects the document otherwise)')
    insecure = [
        key
        for key in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint")
        if isinstance(probe.asm.get(key), str)
        and not probe.asm[key].startswith("https://")
        and not is_loopback(probe.asm[key])
    ]
    if insecure:
        return fail(f"plain-http endpoints off loopback: {', '.join(insecure)}")
    return ok("issuer, authorization_endpoint, token_endpoint and response_types_supported (code) are there")


@needs_server_metadata
def check_asm_pkce(probe: Probe) -> Finding:
    methods = probe.asm.get("code_challenge_methods_supported")
    if not methods or "S256" not in methods:
        return fail(f"code_challenge_methods_supported = {methods!r}: without S256 MCP clients must refuse to go on")
    if "plain" in methods:
        return warn(f"code_challenge_methods_supported = {methods}: plain is allowed too (RFC 9700 says S256 only)")
    return ok(f"code_challenge_methods_supported = {methods}")


def registration_options(asm: dict[str, Any]) -> list[str]:
    options = []
    if asm.get("client_id_metadata_document_supported") is True:
        options.append("client ID metadata documents (CIMD)")
    if asm.get("registration_endpoint"):
        options.append("dynamic registration (RFC 7591)")
    return options


@needs_server_metadata
def check_asm_registration(probe: Probe) -> Finding:
    options = registration_options(probe.asm)
    if not options:
        return warn("pre-registered clients only: every user must enter a client id by hand", options=[])
    return ok("clients can register by " + " and ".join(options), options=options)


@needs_server_metadata
def check_asm_cimd(probe: Probe) -> Finding:
    if probe.asm.get("client_id_metadata_document_supported") is not True:
        return warn("client_id_metadata_document_supported is not true (CIMD is the MCP 2026-07-28 SHOULD)")
    if "none" not in (probe.asm.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]):
        return warn('CIMD is advertised but token_endpoint_auth_methods_supported lacks "none" (claude.ai needs both)')
    return ok('client_id_metadata_document_supported = true, with "none" among the token auth methods')


@needs_server_metadata
def check_asm_dcr(probe: Probe) -> Finding:
    endpoint = probe.asm.get("registration_endpoint")
    if not endpoint:
        return warn(
            "no registration_endpoint: VS Code and Cursor then need a client id entered by hand",
            cimd=probe.asm.get("client_id_metadata_document_supported") is True,
        )
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        return fail(f"registration_endpoint {endpoint!r} is not an absolute URL")
    if "none" not in (probe.asm.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]):
        return warn('token_endpoint_auth_methods_supported lacks "none": public (native) clients cannot register')
    return ok(f"registration_endpoint = {endpoint}, public clients allowed")


@needs_server_metadata
def check_asm_private_key_jwt(probe: Probe) -> Finding:
    """ChatGPT's way in when CIMD is advertised: its URL client id, signed with private_key_jwt."""
    if probe.asm.get("client_id_metadata_document_supported") is not True:
        return skip("CIMD is not advertised, so ChatGPT registers by RFC 7591 instead")
    methods = probe.asm.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "private_key_jwt" not in methods:
        return fail(
            f"CIMD is advertised with token_endpoint_auth_methods_supported = {methods}: ChatGPT then identifies "
            "itself by its URL and authenticates with private_key_jwt, which this server does not list"
        )
    algorithms = probe.asm.get("token_endpoint_auth_signing_alg_values_supported")
    if not algorithms:
        return warn("private_key_jwt is listed without token_endpoint_auth_signing_alg_values_supported")
    if "RS256" not in algorithms:
        return fail(f"token_endpoint_auth_signing_alg_values_supported = {algorithms} lacks RS256, which ChatGPT uses")
    return ok(f"URL client ids may sign with private_key_jwt ({', '.join(algorithms)})")


@needs_server_metadata
def check_asm_scopes(probe: Probe) -> Finding:
    """Some clients request the authorization server's scopes_supported, not the resource's."""
    scopes = probe.asm.get("scopes_supported")
    if not isinstance(scopes, list) or not scopes:
        return warn("the authorization-server metadata has no scopes_supported")
    needed = (probe.prm or {}).get("scopes_supported") or []
    missing = [scope for scope in needed if scope not in scopes]
    if missing:
        return fail(f"scopes_supported = {scopes} lacks {missing}, which the protected resource lists")
    return ok(f"scopes_supported = {scopes}, every scope of the protected resource included")


@needs_server_metadata
def check_asm_offline_access(probe: Probe) -> Finding:
    scopes = probe.asm.get("scopes_supported")
    if isinstance(scopes, list) and "offline_access" in scopes:
        return ok("offline_access is listed in scopes_supported (SEP-2207): clients that add it are accepted")
    return warn(
        "offline_access is not in the authorization server's scopes_supported: a server that refuses scopes it "
        "does not list answers invalid_scope to the clients that add it anyway"
    )


@needs_server_metadata
def check_asm_iss(probe: Probe) -> Finding:
    if probe.asm.get("authorization_response_iss_parameter_supported") is not True:
        return warn("authorization_response_iss_parameter_supported is not true (RFC 9207 `iss`, a 2026-07-28 SHOULD)")
    return ok("authorization_response_iss_parameter_supported = true (clients then require a matching iss)")


@needs_server_metadata
def check_asm_grant_types(probe: Probe) -> Finding:
    grants = probe.asm.get("grant_types_supported")
    if grants is None:
        return ok("grant_types_supported absent: authorization_code is the default (RFC 8414 §2)")
    if "authorization_code" not in grants:
        return fail(f"grant_types_supported = {grants}: no authorization_code")
    if "refresh_token" not in grants:
        return warn(f"grant_types_supported = {grants}: no refresh_token, users sign in again when tokens expire")
    return ok(f"grant_types_supported = {grants}")
