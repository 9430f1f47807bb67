"""What a check concludes (`Finding`: pass, warn, fail or skip, with the reason), the shape of a
check (`Check`), and how one well-known URL's answer is judged (`location_finding`), which the
protected-resource and the authorization-server checks share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .probe import Exchange, Probe

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
SEVERITY = {SKIP: 0, PASS: 0, WARN: 1, FAIL: 2}


@dataclass
class Finding:
    status: str
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


def ok(detail: str, **facts: Any) -> Finding:
    return Finding(PASS, detail, facts)


def warn(detail: str, **facts: Any) -> Finding:
    return Finding(WARN, detail, facts)


def fail(detail: str, **facts: Any) -> Finding:
    return Finding(FAIL, detail, facts)


def skip(detail: str) -> Finding:
    return Finding(SKIP, detail)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    judge: Callable[[Probe], Finding]
    fix: str


def skip_unless(present: Callable[[Probe], bool], reason: str) -> Callable[[Callable], Callable[[Probe], Finding]]:
    """A decorator: the check runs only when `present(probe)`; otherwise it is skipped for `reason`
    (e.g. no metadata was found, so there is nothing to judge)."""

    def decorate(judge: Callable[[Probe], Finding]) -> Callable[[Probe], Finding]:
        @wraps(judge)
        def wrapped(probe: Probe) -> Finding:
            if not present(probe):
                return skip(reason)
            return judge(probe)

        return wrapped

    return decorate


def location_finding(answer: Exchange, role: str, needed: bool, validate: Callable[[Any], str | None]) -> Finding:
    """How a client fares at one well-known URL. `needed`: no other location serves the document."""
    kind = answer.kind
    if kind == "document":
        problem = validate(answer.json)
        if problem:
            return fail(f"{answer.describe()}, but not valid {role}: {problem}", kind="invalid")
        return ok(f"{answer.describe()}", kind=kind)
    if kind == "html":
        return fail(f"{answer.describe()}: clients expect JSON here and break on an HTML page", kind=kind)
    if kind == "redirect":
        target = answer.redirected_to
        html = target is not None and target.is_html
        return fail(
            f"{answer.describe()}: the SDK clients do not follow redirects for metadata"
            + (", and it leads to an HTML page" if html else ""),
            kind=kind,
        )
    if kind == "server_error":
        return fail(f"{answer.describe()}: a 5xx stops discovery in the Python SDK", kind=kind)
    if kind == "unreachable":
        return fail(answer.describe(), kind=kind)
    if kind == "missing":
        if needed:
            return warn(f"{answer.describe()}", kind=kind)
        return ok(f"{answer.describe()} (clients go on to the next location)", kind=kind)
    return fail(f"{answer.describe()}: neither a JSON document nor a clean 404", kind=kind)
