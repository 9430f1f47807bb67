"""The reference peer of `make bench`: one process that is both an OAuth 2.1
authorization server and an MCP protected resource, built only from the MCP
Python SDK's public APIs (mcp.server.auth + MCPServer, streamable HTTP): what
a developer gets who builds the same thing from the SDK alone. It is a
benchmark peer, not a product: tokens live in process memory, consent is
automatic for a fixed demo subject.

It runs on the project's own virtualenv, so it uses exactly the `mcp` version
(requirements.txt) and the same uvicorn, uvloop and httptools as our server:
the comparison is between the two stacks, not between two installs.

Endpoints (with the defaults, base http://127.0.0.1:8765):
  /.well-known/oauth-authorization-server   AS metadata (RFC 8414)
  /.well-known/oauth-protected-resource/mcp PRM (RFC 9728, path-suffixed)
  /register /authorize /token /revoke       DCR, code+PKCE, refresh (rotating)
  /mcp                                      MCP streamable HTTP (bearer required)
  /bench/codes                              authorization codes for the code-exchange scenario

Run: python peer_server.py --port 8765 [--stateful] [--sse]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import secrets
import time
import warnings
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import uvicorn
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.server import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.types import ToolAnnotations
from pydantic import AnyUrl, BaseModel, Field

ACCESS_TTL = 3600
REFRESH_TTL = 30 * 24 * 3600
CODE_TTL = 300


class MemoryProvider(OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]):
    """In-memory AS provider: auto-approving authorize, single-use codes,
    rotating refresh tokens (old refresh + its access token die on use)."""

    def __init__(self, resource_url: str, scope: str, subject: str = "bench-user") -> None:
        self.resource_url = resource_url
        self.scope = scope
        self.subject = subject
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.refresh_to_access: dict[str, str] = {}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        # No login page: the bench subject consents to everything it is asked.
        code = secrets.token_urlsafe(32)
        assert client.client_id
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [self.scope],
            expires_at=time.time() + CODE_TTL,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource or self.resource_url,
            subject=self.subject,
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        return self.codes.get(authorization_code)

    def _issue(self, client_id: str, scopes: list[str], resource: str | None, subject: str | None) -> OAuthToken:
        now = int(time.time())
        at = secrets.token_urlsafe(32)
        rt = secrets.token_urlsafe(32)
        self.access[at] = AccessToken(
            token=at,
            client_id=client_id,
            scopes=scopes,
            expires_at=now + ACCESS_TTL,
            resource=resource,
            subject=subject,
        )
        self.refresh[rt] = RefreshToken(
            token=rt,
            client_id=client_id,
            scopes=scopes,
            expires_at=now + REFRESH_TTL,
            resource=resource,
            subject=subject,
        )
        self.refresh_to_access[rt] = at
        return OAuthToken(
            access_token=at, token_type="Bearer", expires_in=ACCESS_TTL, scope=" ".join(scopes), refresh_token=rt
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        if self.codes.pop(authorization_code.code, None) is None:
            raise TokenError("invalid_grant", "authorization code already used")
        assert client.client_id
        return self._issue(
            client.client_id, authorization_code.scopes, authorization_code.resource, authorization_code.subject
        )

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        return self.refresh.get(refresh_token)

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        if self.refresh.pop(refresh_token.token, None) is None:
            raise TokenError("invalid_grant", "refresh token already used")
        old_at = self.refresh_to_access.pop(refresh_token.token, None)
        if old_at:
            self.access.pop(old_at, None)
        assert client.client_id
        return self._issue(client.client_id, scopes, refresh_token.resource, refresh_token.subject)

    async def load_access_token(self, token: str) -> AccessToken | None:
        at = self.access.get(token)
        if at is None:
            return None
        if at.expires_at and at.expires_at < time.time():
            self.access.pop(token, None)
            return None
        return at

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.access.pop(token.token, None)
        if self.refresh.pop(token.token, None) is not None:
            at = self.refresh_to_access.pop(token.token, None)
            if at:
                self.access.pop(at, None)


# The same five tools as our server (notes/mcp_tools.py: names, parameters, descriptions,
# annotations and result schemas), so that `tools/list` carries the same list on both sides and
# `tools/call whoami` does the same thing, with the notes in this process's memory.
class Identity(BaseModel):
    user: str
    client_id: str
    scopes: list[str]


class NoteSummary(BaseModel):
    id: int
    title: str
    snippet: str = Field(description="The first characters of the note's body")
    updated: str


class SearchResult(BaseModel):
    notes: list[NoteSummary]
    total: int = Field(description="How many of the user's notes match, in all")


class NoteOut(BaseModel):
    id: int
    title: str
    body: str
    uri: str
    created: str
    updated: str


class Deleted(BaseModel):
    id: int
    deleted: bool


def register_notes_tools(server: MCPServer) -> None:
    notes: dict[str, dict[int, NoteOut]] = {}
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    def caller() -> AccessToken:
        token = get_access_token()
        if token is None:
            raise ToolError("no verified access token")
        return token

    def mine() -> dict[int, NoteOut]:
        return notes.setdefault(caller().subject or "", {})

    @server.tool(annotations=read_only)
    async def whoami() -> Identity:
        """Who this connection acts for: the signed-in user, the client, and the granted scopes."""
        token = caller()
        return Identity(user=token.subject or "", client_id=token.client_id, scopes=sorted(token.scopes))

    @server.tool(annotations=read_only)
    async def search_notes(
        query: Annotated[str, Field(description="Words that must all appear in the title or body")] = "",
        limit: Annotated[int, Field(ge=1, le=50, description="How many notes to return at most")] = 10,
    ) -> SearchResult:
        """Search the user's notes; an empty query lists the most recently changed ones."""
        words = query[:200].lower().split()
        found = [n for n in mine().values() if all(w in (n.title + " " + n.body).lower() for w in words)]
        found.sort(key=lambda n: (n.updated, n.id), reverse=True)
        return SearchResult(
            notes=[NoteSummary(id=n.id, title=n.title, snippet=n.body[:120], updated=n.updated) for n in found[:limit]],
            total=len(found),
        )

    @server.tool(annotations=read_only)
    async def get_note(note_id: int) -> NoteOut:
        """Read one of the user's notes in full."""
        note = mine().get(note_id)
        if note is None:
            raise ToolError(f"Note {note_id} does not exist")
        return note

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    async def create_note(
        title: Annotated[str, Field(min_length=1, max_length=200)],
        body: Annotated[str, Field(max_length=100_000)] = "",
    ) -> NoteOut:
        """Create a note for the user (needs the mcp:write scope)."""
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        note_id = max(mine(), default=0) + 1
        note = NoteOut(id=note_id, title=title.strip(), body=body, uri=f"notes://{note_id}", created=now, updated=now)
        mine()[note_id] = note
        return note

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True))
    async def delete_note(note_id: int) -> Deleted:
        """Delete one of the user's notes for good (needs the mcp:write scope)."""
        if mine().pop(note_id, None) is None:
            raise ToolError(f"Note {note_id} does not exist")
        return Deleted(id=note_id, deleted=True)


def build_app(host: str, port: int, scope: str, stateless: bool, json_response: bool):
    base = f"http://{host}:{port}"
    resource = f"{base}/mcp"
    provider = MemoryProvider(resource_url=resource, scope=scope)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auth = AuthSettings(
            issuer_url=base,  # str keeps the path-less issuer without a trailing slash
            resource_server_url=resource,
            required_scopes=[scope],
            validate_token_resource=True,
            client_registration_options=ClientRegistrationOptions(
                enabled=True, valid_scopes=[scope], default_scopes=[scope]
            ),
            revocation_options=RevocationOptions(enabled=True),
        )
    server = MCPServer(name="bench-peer", auth_server_provider=provider, auth=auth, log_level="WARNING")

    register_notes_tools(server)

    app = server.streamable_http_app(
        stateless_http=stateless, json_response=json_response, host=host, streamable_http_path="/mcp"
    )
    return with_code_minting(app, provider)


def with_code_minting(app, provider: MemoryProvider):
    """`app`, plus `POST /bench/codes` for the benchmark's code-exchange scenario: authorization
    codes made by the provider's own `authorize` (what the SDK's /authorize calls after its checks),
    as many as asked, one "code verifier" line each. The benchmark mints ours the same way, out of
    band (bench/codes.py), so that only the exchange at /token is measured on both sides."""

    async def mint(scope, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        job = json.loads(body)
        client = provider.clients[job["client_id"]]
        lines = []
        for _ in range(int(job["count"])):
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            params = AuthorizationParams(
                state=None,
                scopes=job["scope"].split(),
                code_challenge=challenge,
                redirect_uri=AnyUrl(job["redirect_uri"]),
                redirect_uri_provided_explicitly=True,
                resource=job["resource"],
            )
            redirect = await provider.authorize(client, params)
            lines.append(f"{parse_qs(urlsplit(redirect).query)['code'][0]} {verifier}")
        text = ("\n".join(lines) + "\n").encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": text})

    async def routed(scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/bench/codes" and scope["method"] == "POST":
            return await mint(scope, receive, send)
        return await app(scope, receive, send)

    return routed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--scope", default="mcp")
    p.add_argument("--stateful", action="store_true", help="session mode (Mcp-Session-Id) instead of stateless")
    p.add_argument("--sse", action="store_true", help="SSE responses instead of plain JSON")
    p.add_argument("--access-log", action="store_true")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    app = build_app(a.host, a.port, a.scope, stateless=not a.stateful, json_response=not a.sse)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", access_log=a.access_log)


if __name__ == "__main__":
    main()
