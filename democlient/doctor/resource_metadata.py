"""The checks of the protected-resource metadata (RFC 9728): every location clients try, and what
the document says (resource, authorization servers, scopes)."""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url

from .findings import WARN, Finding, fail, location_finding, ok, skip, skip_unless, warn
from .probe import Probe, origin_of, prm_problem, valid_prm

# A check of the protected-resource metadata runs only when clients found it.
needs_resource_metadata = skip_unless(lambda probe: probe.prm is not None, "no protected-resource metadata")


def check_prm_header_url(probe: Probe) -> Finding:
    url = probe.header_prm_url
    if not url:
        return skip("the challenge names no resource_metadata URL")
    others = any(a.kind == "document" and valid_prm(a.json) for u, a in probe.prm_answers.items() if u != url)
    return location_finding(probe.prm_answers[url], "protected-resource metadata", not others, prm_problem)


def check_prm_path_inserted(probe: Probe) -> Finding:
    url = probe.path_prm_url
    if url is None:
        return skip("the MCP URL has no path: the path-inserted location is the root one")
    root = probe.metadata(probe.root_prm_url)
    finding = location_finding(probe.metadata(url), "protected-resource metadata", True, prm_problem)
    if finding.status == WARN and root.kind == "document":
        finding.detail += " (the root location serves the document; Claude and ChatGPT probe this one first)"
    return finding


def check_prm_root(probe: Probe) -> Finding:
    path_answer = probe.metadata(probe.path_prm_url) if probe.path_prm_url else None
    served_elsewhere = path_answer is not None and path_answer.kind == "document" and valid_prm(path_answer.json)
    return location_finding(
        probe.metadata(probe.root_prm_url), "protected-resource metadata", not served_elsewhere, prm_problem
    )


def check_prm_found(probe: Probe) -> Finding:
    if probe.prm is None:
        tried = "; ".join(answer.describe() for answer in probe.prm_answers.values())
        return fail(f"no valid protected-resource metadata at any location clients try: {tried}")
    where = next(u for u, a in probe.prm_answers.items() if a.kind == "document" and valid_prm(a.json))
    return ok(f"found at {where}")


def check_prm_resource(probe: Probe) -> Finding:
    copies = {u: a.json for u, a in probe.prm_answers.items() if a.kind == "document" and valid_prm(a.json)}
    if not copies:
        return skip("no protected-resource metadata")
    wrong = {u: doc.get("resource") for u, doc in copies.items() if doc.get("resource") != probe.url}
    if not wrong:
        return ok(f"resource = {probe.url} (the URL dialled) in every copy")
    resource = next(iter(wrong.values()))
    tolerated = isinstance(resource, str) and check_resource_allowed(resource_url_from_server_url(probe.url), resource)
    detail = "; ".join(f"{u} says resource={r!r}" for u, r in wrong.items())
    return fail(
        f"{detail}, but the URL dialled is {probe.url} (RFC 9728 §3.3 requires them identical)"
        + (" — the SDKs accept this same-origin prefix, claude.ai does not" if tolerated else "")
        + another_name_advice(probe.url, resource),
        same_origin_prefix=tolerated,
    )


def another_name_advice(dialled: str, resource: object) -> str:
    """When the server names the same endpoint under another origin (a loopback alias such as
    localhost for 127.0.0.1, a proxy's internal name), which URL to dial instead, or what to set."""
    if not isinstance(resource, str) or not resource.startswith(("https://", "http://")):
        return ""
    if urlsplit(resource).path != urlsplit(dialled).path or origin_of(resource) == origin_of(dialled):
        return ""
    return (
        f". The server calls itself {origin_of(resource)}: you dialled it under another name. Use {resource} in "
        f"your client; or, if clients really reach it at {origin_of(dialled)}, set the server's public URL to "
        f"that (PUBLIC_URL={origin_of(dialled)} for this project)"
    )


@needs_resource_metadata
def check_prm_authorization_servers(probe: Probe) -> Finding:
    servers = probe.prm.get("authorization_servers")
    bad = [s for s in servers if urlsplit(s).query or urlsplit(s).fragment or not urlsplit(s).netloc]
    if bad:
        return fail(f"authorization_servers has entries that are not issuer identifiers: {bad}")
    if len(servers) > 1:
        return warn(f"{len(servers)} authorization servers: clients use only the first, {servers[0]}")
    return ok(f"authorization_servers = {servers}")


@needs_resource_metadata
def check_prm_scopes(probe: Probe) -> Finding:
    scopes = probe.prm.get("scopes_supported")
    if not scopes:
        return warn("no scopes_supported: clients without a scope hint will omit scope")
    if "offline_access" in scopes:
        return warn("scopes_supported lists offline_access, which the MCP spec says it should not")
    return ok(f"scopes_supported = {scopes}")
