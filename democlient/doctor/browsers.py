"""The checks a browser client needs: CORS on the metadata, the OAuth endpoints and the MCP
endpoint, and JSON (never HTML or a redirect) at every well-known URL."""

from __future__ import annotations

from collections.abc import Callable

from .findings import Finding, fail, ok, skip, warn
from .probe import BROWSER_ORIGIN, Exchange, Probe


def cors_allows(answer: Exchange) -> bool:
    allowed = answer.headers.get("access-control-allow-origin")
    return allowed in ("*", BROWSER_ORIGIN)


def cors_for(urls: Callable[[Probe], list[str]], method: str, headers: str, what: str) -> Callable[[Probe], Finding]:
    def judge(probe: Probe) -> Finding:
        targets = [u for u in urls(probe) if u]
        if not targets:
            return skip(f"no {what} to check")
        problems, notes = [], []
        for url in targets:
            preflight = probe.preflight(url, method, headers)
            if not cors_allows(preflight) or (preflight.status or 0) >= 400:
                problems.append(f"OPTIONS {url} → {preflight.status_label} without Access-Control-Allow-Origin")
                continue
            allowed_headers = preflight.headers.get("access-control-allow-headers", "").lower()
            wanted = [h for h in headers.split(",") if h and h not in allowed_headers and allowed_headers != "*"]
            if wanted:
                notes.append(f"{url} does not allow the header(s) {', '.join(wanted)}")
            if method == "GET" and not cors_allows(probe.from_browser(url)):
                problems.append(f"GET {url} from {BROWSER_ORIGIN} has no Access-Control-Allow-Origin")
        if problems:
            return fail("; ".join(problems))
        if notes:
            return warn("; ".join(notes) + " (the TypeScript SDK retries without MCP-Protocol-Version)")
        return ok(f"a browser page at {BROWSER_ORIGIN} may read the {what}")

    return judge


def check_cors_mcp(probe: Probe) -> Finding:
    answer = probe.fetch(
        "POST",
        probe.url,
        {"Origin": BROWSER_ORIGIN, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
        b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
    )
    if not cors_allows(answer):
        return warn(
            f"POST {probe.url} from {BROWSER_ORIGIN} → {answer.status_label} without Access-Control-Allow-Origin: "
            "browser clients must go through a proxy (the MCP Inspector's default)"
        )
    exposed = answer.headers.get("access-control-expose-headers", "").lower()
    if answer.status == 401 and "www-authenticate" not in exposed and exposed != "*":
        return warn("the 401 does not expose WWW-Authenticate (Access-Control-Expose-Headers): browsers cannot read it")
    return ok(f"a browser page at {BROWSER_ORIGIN} may call {probe.url} and read its challenge")


# Content types -------------------------------------------------------------------------------------------------
def check_json_answers(probe: Probe) -> Finding:
    """Every well-known answer fetched so far is JSON (or a clean 404), never HTML or a redirect."""
    wellknown = [
        a for a in probe.answers.values() if a.method == "GET" and "/.well-known/" in a.url and a.status is not None
    ]
    if not wellknown:
        return skip("no well-known URL answered")
    bad, loose = [], []
    for answer in {a.url: a for a in wellknown}.values():
        if answer.kind in ("html", "redirect"):
            bad.append(answer.describe())
        elif answer.kind == "document" and answer.content_type != "application/json":
            loose.append(f"{answer.url} is {answer.content_type or 'untyped'}")
    if bad:
        return fail("; ".join(bad))
    if loose:
        return warn("JSON served as " + "; ".join(loose))
    return ok(f"{len(wellknown)} well-known answers, all application/json or a clean 404, no redirects")
