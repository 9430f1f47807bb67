"""The checks of the MCP endpoint itself: TLS, and the 401 challenge a request without a token (or
with a bad one) gets, which is where every client starts discovery."""

from __future__ import annotations

from collections.abc import Callable

from .findings import Finding, fail, ok, skip, warn
from .probe import Probe, is_loopback, parse_challenge


def check_https(probe: Probe) -> Finding:
    if probe.url.startswith("https://"):
        return ok(f"{probe.url} uses https")
    if is_loopback(probe.url):
        return ok(f"{probe.url} is plain http on a loopback address (fine for local development)")
    return fail(f"{probe.url} is plain http: OAuth 2.1 requires TLS, and hosted clients refuse it")


def check_challenge_status(probe: Probe) -> Finding:
    answer = probe.unauthenticated
    if answer.status == 401:
        return ok("POST without a token → 401")
    if answer.status is None:
        return fail(answer.describe())
    if answer.status == 200:
        return fail("POST without a token → 200: the server does not require authorization (claude.ai ignores "
                    "a challenge on a 200)")  # fmt: skip
    return fail(f"POST without a token → {answer.status_label}, not 401")


def needs_challenge(judge: Callable[[Probe, str, dict[str, str]], Finding]) -> Callable[[Probe], Finding]:
    """Run a check of the challenge's parameters only when there is a Bearer challenge."""

    def wrapped(probe: Probe) -> Finding:
        if probe.unauthenticated.status != 401:
            return skip("no 401 to inspect")
        if probe.challenge is None or probe.challenge[0].lower() != "bearer":
            return skip("no Bearer challenge to inspect")
        scheme, params = probe.challenge
        return judge(probe, scheme, params)

    wrapped.__name__ = judge.__name__
    return wrapped


def check_challenge_header(probe: Probe) -> Finding:
    if probe.unauthenticated.status != 401:
        return skip("no 401 to inspect")
    value = probe.unauthenticated.headers.get("www-authenticate")
    if not value:
        return fail("the 401 has no WWW-Authenticate header: 2025-06-18 clients find the metadata only through it")
    if probe.challenge is None or probe.challenge[0].lower() != "bearer":
        return fail(f"WWW-Authenticate is {value!r}, not a Bearer challenge")
    return ok(f"WWW-Authenticate: {value}")


@needs_challenge
def check_challenge_resource_metadata(probe: Probe, scheme: str, params: dict[str, str]) -> Finding:
    url = params.get("resource_metadata")
    if not url:
        return warn("no resource_metadata parameter: clients fall back to the well-known URLs (2025-06-18 ones fail)")
    if not url.startswith(("https://", "http://")):
        return fail(f"resource_metadata={url!r} is not an absolute URL")
    return ok(f"resource_metadata={url}")


@needs_challenge
def check_challenge_scope(probe: Probe, scheme: str, params: dict[str, str]) -> Finding:
    if "scope" not in params:
        return warn("no scope parameter: clients then ask for every scope in scopes_supported")
    return ok(f'scope="{params["scope"]}"')


@needs_challenge
def check_challenge_no_error(probe: Probe, scheme: str, params: dict[str, str]) -> Finding:
    if "error" in params:
        return warn(f'error="{params["error"]}" although no token was sent (RFC 6750 §3.1 says no error code)')
    return ok("no error code when no token was sent (RFC 6750 §3.1)")


def check_invalid_token(probe: Probe) -> Finding:
    answer = probe.bad_token
    if answer.status != 401:
        return fail(f"POST with an invalid token → {answer.status_label}, not 401")
    parsed = parse_challenge(answer.headers.get("www-authenticate"))
    if parsed is None:
        return warn("POST with an invalid token → 401 without WWW-Authenticate")
    if parsed[1].get("error") != "invalid_token":
        return warn(f"POST with an invalid token → 401 with error={parsed[1].get('error')!r}, not invalid_token")
    return ok('POST with an invalid token → 401 error="invalid_token"')
