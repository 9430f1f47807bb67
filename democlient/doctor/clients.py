"""How each well-known MCP client really behaves, as one table the discovery doctor reads.

Per client, its rules: if a check of the doctor (`CHECKS` in `democlient.doctor.checks`) ends in
`on` (fail or warn), the client breaks or works with caveats, because `why`, as `source` reports: a
public issue or pull request, the SDK's own code, or the specification. A rule without its source
does not belong here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .findings import FAIL, WARN, Finding

BREAKS, DEGRADES = "fails", "works with caveats"
VERDICT_ORDER = {"works": 0, DEGRADES: 1, BREAKS: 2}
MCP_SPEC = "MCP authorization spec (2025-06-18 and later)"


@dataclass(frozen=True)
class Rule:
    """If `check` ends in `on` (fail or warn), this client `effect`s (breaks or degrades), because `why`,
    as `source` says. `when` narrows the rule to findings with particular facts."""

    check: str
    on: str
    effect: str
    why: str
    source: str
    when: Callable[[Finding], bool] | None = None


@dataclass(frozen=True)
class ClientProfile:
    id: str
    name: str
    rules: tuple[Rule, ...]


def core_rules(who: str) -> tuple[Rule, ...]:
    """What every spec-following client needs."""
    return (
        Rule("challenge.status", FAIL, BREAKS, "it starts discovery only from a 401", MCP_SPEC),
        Rule("prm.found", FAIL, BREAKS, "it finds no protected-resource metadata", "RFC 9728; " + MCP_SPEC),
        Rule("asm.found", FAIL, BREAKS, "it finds no authorization-server metadata", "RFC 8414; " + MCP_SPEC),
        Rule("asm.fields", FAIL, BREAKS, "the authorization-server metadata lacks required fields", "RFC 8414 §2"),
        Rule("asm.pkce", FAIL, BREAKS, "MCP clients must refuse a server without PKCE S256", MCP_SPEC),
        Rule(
            "asm.issuer",
            FAIL,
            BREAKS,
            f"{who} compares issuer as a plain string and discards the metadata",
            "RFC 8414 §3.3",
        ),
        Rule("mcp.https", FAIL, DEGRADES, "plain http off loopback exposes tokens", "OAuth 2.1 §1.5"),
    )


def registration_rules(needs_dcr: bool) -> tuple[Rule, ...]:
    rules = [Rule("asm.registration", WARN, DEGRADES, "it needs a client id entered by hand", MCP_SPEC)]
    if needs_dcr:
        rules.append(
            Rule("asm.dcr", WARN, DEGRADES, "it registers by RFC 7591 or asks for a client id by hand", "RFC 7591")
        )
    return tuple(rules)


def is_5xx(finding: Finding) -> bool:
    return finding.facts.get("kind") == "server_error"


def not_same_origin_prefix(finding: Finding) -> bool:
    return not finding.facts.get("same_origin_prefix")


# The official SDKs (and the clients built on them) accept a resource that is the URL dialled or a
# same-origin prefix of it.
SDK_RESOURCE_RULE = Rule(
    "prm.resource",
    FAIL,
    BREAKS,
    "its SDK accepts only a resource that is the URL or a same-origin prefix of it",
    "the SDKs' check_resource_allowed (Python, mcp.shared.auth_utils) and selectResourceURL (TypeScript)",
    when=not_same_origin_prefix,
)
ADDS_OFFLINE_ACCESS = "it adds offline_access to its request whether or not the server lists it"
NO_HEADER_FALLBACK = "it falls back to the well-known URLs without the header"
PATH_FIRST = "it probes the path-inserted metadata URL first"

CLIENTS: tuple[ClientProfile, ...] = (
    ClientProfile(
        "python-sdk",
        "Official Python SDK",
        (
            *core_rules("the SDK"),
            SDK_RESOURCE_RULE,
            Rule(
                "asm.rfc8414",
                FAIL,
                BREAKS,
                "a 5xx from an AS metadata URL aborts its discovery",
                "modelcontextprotocol/python-sdk, mcp/client/auth (only a 4xx falls through to the next URL)",
                when=is_5xx,
            ),
            Rule(
                "prm.path_inserted",
                FAIL,
                DEGRADES,
                "it skips an unusable answer and tries the root location",
                "SEP-985; modelcontextprotocol/python-sdk, mcp/client/auth/utils.py",
            ),
            Rule("challenge.header", FAIL, DEGRADES, NO_HEADER_FALLBACK, "SEP-985"),
            Rule("asm.cimd", WARN, DEGRADES, "it uses a URL client id only when the server advertises CIMD", "SEP-991"),
            *registration_rules(needs_dcr=False),
        ),
    ),
    ClientProfile(
        "typescript-sdk",
        "Official TypeScript SDK",
        (
            *core_rules("the SDK"),
            SDK_RESOURCE_RULE,
            Rule(
                "prm.path_inserted",
                FAIL,
                BREAKS,
                "it falls back to the root only on a 4xx/502, not on HTML",
                "modelcontextprotocol/typescript-sdk, packages/client/src/client/auth.ts",
            ),
            Rule("challenge.header", FAIL, DEGRADES, NO_HEADER_FALLBACK, "SEP-985"),
            Rule("cors.prm", FAIL, DEGRADES, "in a browser it cannot read the metadata", "Fetch standard (CORS)"),
            Rule("cors.asm", FAIL, DEGRADES, "in a browser it cannot read the metadata", "Fetch standard (CORS)"),
            *registration_rules(needs_dcr=False),
        ),
    ),
    ClientProfile(
        "mcp-inspector",
        "MCP Inspector (browser)",
        (
            *core_rules("its TypeScript SDK"),
            SDK_RESOURCE_RULE,
            Rule(
                "prm.path_inserted",
                FAIL,
                BREAKS,
                "its SDK falls back to the root only on a 4xx/502",
                "modelcontextprotocol/typescript-sdk, packages/client/src/client/auth.ts",
            ),
            Rule(
                "cors.prm",
                FAIL,
                BREAKS,
                "it runs OAuth discovery in the browser and needs CORS on the metadata",
                "modelcontextprotocol/inspector#752",
            ),
            Rule(
                "cors.asm",
                FAIL,
                BREAKS,
                "it runs OAuth discovery in the browser and needs CORS on the metadata",
                "modelcontextprotocol/inspector#752",
            ),
            Rule(
                "cors.oauth",
                FAIL,
                BREAKS,
                "it registers and redeems the code from the browser",
                "modelcontextprotocol/inspector#752",
            ),
            Rule(
                "cors.mcp",
                WARN,
                DEGRADES,
                "direct connections need CORS on the MCP endpoint (the proxy does not)",
                "Fetch standard (CORS); the Inspector's direct connection mode",
            ),
            *registration_rules(needs_dcr=True),
        ),
    ),
    ClientProfile(
        "claude",
        "Claude (claude.ai and Desktop)",
        (
            *core_rules("it"),
            Rule(
                "challenge.header",
                FAIL,
                BREAKS,
                "it reads the challenge of the 401 to start discovery",
                "anthropics/claude-ai-mcp#134",
            ),
            Rule("prm.resource", FAIL, BREAKS, "it requires resource to match the URL exactly", "claude-ai-mcp#560"),
            Rule("prm.path_inserted", FAIL, BREAKS, PATH_FIRST, "claude-ai-mcp#690"),
            Rule("prm.path_inserted", WARN, DEGRADES, PATH_FIRST, "claude-ai-mcp#690"),
            Rule(
                "asm.issuer_path",
                WARN,
                DEGRADES,
                "issuers with a path made it invent /authorize on the MCP origin",
                "anthropics/claude-ai-mcp#82, #214",
            ),
            Rule(
                "asm.cimd",
                WARN,
                DEGRADES,
                'it uses its URL client id only with CIMD advertised and "none"',
                "SEP-991; lion-reader PR #1519",
            ),
            Rule(
                "asm.scopes",
                FAIL,
                BREAKS,
                "it requests the authorization server's whole scopes_supported, so its tokens lack the missing scopes",
                "anthropics/claude-ai-mcp#228",
            ),
            Rule(
                "asm.scopes",
                WARN,
                DEGRADES,
                "it requests the authorization server's scopes_supported, and without one asks for no scope",
                "anthropics/claude-ai-mcp#228",
            ),
            *registration_rules(needs_dcr=False),
        ),
    ),
    ClientProfile(
        "claude-code",
        "Claude Code",
        (
            *core_rules("it"),
            Rule("prm.resource", FAIL, BREAKS, "it requires resource to match the URL", "RFC 9728 §3.3"),
            Rule(
                "asm.issuer_path",
                WARN,
                BREAKS,
                "for an issuer with a path it fetches only the bare-root RFC 8414 URL",
                "anthropics/claude-code#95270",
                when=lambda f: not f.facts.get("root_served"),
            ),
            Rule(
                "asm.cimd",
                WARN,
                DEGRADES,
                "it prefers its URL client id (CIMD)",
                "its CIMD document claude.ai/oauth/claude-code-client-metadata (anthropics/claude-code#37767)",
            ),
            Rule("asm.offline_access", WARN, BREAKS, ADDS_OFFLINE_ACCESS, "anthropics/claude-code#41610"),
            *registration_rules(needs_dcr=False),
        ),
    ),
    ClientProfile(
        "chatgpt",
        "ChatGPT",
        (
            *core_rules("it"),
            Rule("prm.resource", FAIL, BREAKS, "it binds tokens to the resource the metadata names", "RFC 8707"),
            Rule(
                "prm.path_inserted",
                FAIL,
                BREAKS,
                "it probes /.well-known/oauth-protected-resource/mcp; HTML there breaks it",
                "TREK#959",
            ),
            Rule("prm.path_inserted", WARN, DEGRADES, PATH_FIRST, "TREK#959"),
            Rule(
                "asm.private_key_jwt",
                FAIL,
                BREAKS,
                "with CIMD advertised it uses its URL client id and signs with private_key_jwt (RS256), and does "
                "not fall back to registering itself",
                "engram-app/Engram#1637; Altinity/altinity-mcp#118; pocket-id/pocket-id#1718",
            ),
            Rule(
                "asm.dcr",
                WARN,
                DEGRADES,
                "without CIMD it registers by RFC 7591, or asks for a client id by hand",
                "RFC 7591; MCP client registration (a URL client id first, then RFC 7591)",
                when=lambda f: not f.facts.get("cimd"),
            ),
            *registration_rules(needs_dcr=False),
        ),
    ),
    ClientProfile(
        "vscode",
        "VS Code",
        (
            *core_rules("it"),
            Rule(
                "prm.resource",
                FAIL,
                BREAKS,
                "it rejects a resource that is not the MCP URL",
                "modelcontextprotocol/python-sdk#1400",
            ),
            Rule("asm.offline_access", WARN, BREAKS, ADDS_OFFLINE_ACCESS, "microsoft/vscode#249663"),
            *registration_rules(needs_dcr=True),
        ),
    ),
    ClientProfile(
        "cursor",
        "Cursor",
        (
            *core_rules("it"),
            Rule("prm.resource", FAIL, BREAKS, "it binds tokens to the resource the metadata names", "RFC 8707"),
            *registration_rules(needs_dcr=True),
        ),
    ),
)


def verdict(profile: ClientProfile, findings: dict[str, Finding]) -> dict[str, Any]:
    reasons = []
    worst = "works"
    for rule in profile.rules:
        finding = findings.get(rule.check)
        if finding is None or finding.status != rule.on or (rule.when and not rule.when(finding)):
            continue
        reasons.append({"check": rule.check, "effect": rule.effect, "why": rule.why, "source": rule.source})
        if VERDICT_ORDER[rule.effect] > VERDICT_ORDER[worst]:
            worst = rule.effect
    return {"id": profile.id, "name": profile.name, "verdict": worst, "reasons": reasons}
