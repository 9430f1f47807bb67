"""The well-known MCP clients: one table that both the admin's client presets and the front page's
"Connect your client" read, so the two never disagree.

For each client it says what an administrator would otherwise look up to register it by hand
(redirect URIs, client type: the admin's "add client" presets) and how a person connects it to
this server (the front page, `frontpage`): the steps, in the client's own words, and the exact
text to paste (a command line or a configuration file), built for this server's MCP URL.

Clients that register themselves (dynamic registration, or a URL client id) need no preset; a
client with no redirect URIs here (the SDKs: every application picks its own) is shown on the
front page only.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from .models import Client

# (server name, MCP URL) → the text to paste.
Snippet = Callable[[str, str], str]


@dataclass(frozen=True)
class Preset:
    """A well-known MCP client: how to register it, and how to connect it."""

    key: str
    name: str
    redirect_uris: tuple[str, ...]  # empty: not offered as an admin preset
    client_type: str
    about: str  # where the redirect URIs come from, shown beside the admin's form
    next_step: str  # what to do with the client id once saved
    # How a person connects it (the front page). Steps are short Markdown (**a label**, `code`);
    # `{mcp_url}` and `{server_name}` in them are replaced with this server's.
    steps: tuple[str, ...] = ()
    snippet: Snippet | None = None
    snippet_label: str = ""  # where the snippet goes
    snippet_after: int = 1  # how many steps come before it
    documentation: str = ""  # the client's own documentation the steps follow
    # Connects from its vendor's cloud, not from the user's computer: the MCP URL must be public https.
    hosted: bool = False
    jwks_uri: str = ""  # where the client publishes its keys, for private_key_jwt

    @property
    def is_admin_preset(self) -> bool:
        return bool(self.redirect_uris)


# --- The text to paste ---------------------------------------------------------------------------------
def claude_code_command(server_name: str, mcp_url: str) -> str:
    return f"claude mcp add --transport http {shlex.quote(server_name)} {shlex.quote(mcp_url)}"


def vscode_config(server_name: str, mcp_url: str) -> str:
    return json.dumps({"servers": {server_name: {"type": "http", "url": mcp_url}}}, indent=2)


def cursor_config(server_name: str, mcp_url: str) -> str:
    return json.dumps({"mcpServers": {server_name: {"url": mcp_url}}}, indent=2)


def inspector_command(server_name: str, mcp_url: str) -> str:
    return f"npx @modelcontextprotocol/inspector --transport http --server-url {shlex.quote(mcp_url)}"


def python_sdk_example(server_name: str, mcp_url: str) -> str:
    # The shape of what tests/test_sdk_client_e2e.py runs against this server.
    return f"""\
import asyncio

import httpx2
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata

MCP_URL = {mcp_url!r}


async def main() -> None:
    auth = OAuthClientProvider(
        server_url=MCP_URL,
        client_metadata=OAuthClientMetadata(
            client_name="My application",
            redirect_uris=["http://127.0.0.1:33418/callback"],
        ),
        storage=my_token_storage,  # your TokenStorage: the tokens and the client id it registered
        redirect_handler=open_in_browser,  # async (authorization_url) -> None
        callback_handler=wait_for_callback,  # async () -> AuthorizationCodeResult
    )
    async with (
        httpx2.AsyncClient(auth=auth) as http,
        Client(streamable_http_client(MCP_URL, http_client=http)) as client,
    ):
        print(await client.list_tools())


asyncio.run(main())"""


# --- The table ---------------------------------------------------------------------------------------------
# Where each entry comes from (checked against each client's documentation in December 2026):
# - redirect URIs, as the clients' public issue trackers report them: Claude's hosted callback on
#   claude.ai and claude.com (PrefectHQ/fastmcp#1564, #1628); Claude Code's CIMD document lists
#   http://localhost/callback and http://127.0.0.1/callback and signs in on an ephemeral port
#   (anthropics/claude-code#37767, #41011); VS Code registers http://127.0.0.1:33418/,
#   http://127.0.0.1/ and its vscode.dev callbacks, and falls back to another port when 33418 is
#   busy (microsoft/vscode#278512); Cursor's cursor:// and www.cursor.com/agents callbacks
#   (makeplane/plane-mcp-server#159); ChatGPT's connector_platform_oauth_redirect and per-app
#   connector/oauth/<id> callbacks (the URL client id documents it sends);
# - claude: "Get started with custom connectors using remote MCP",
#   https://support.claude.com/en/articles/11175166, and https://claude.com/docs/connectors/faq
#   (individual plans: Customize › Connectors, https://claude.ai/customize/connectors, + then "Add
#   custom connector", Settings › Connectors in some versions; Team and Enterprise: an Owner adds the
#   connector for the organization first; Claude connects from Anthropic's cloud, so the server must
#   be reachable from the internet);
# - claude-code: https://code.claude.com/docs/en/mcp and its quickstart (`claude mcp add --transport
#   http <name> <url>`, run in a terminal; `/mcp` in a session to authenticate);
# - vscode: https://code.visualstudio.com/docs/copilot/customization/mcp-servers ("MCP: Add Server",
#   HTTP, Global or Workspace; `.vscode/mcp.json` with "servers" and "type": "http");
# - cursor: https://cursor.com/docs/mcp (`~/.cursor/mcp.json` or `.cursor/mcp.json` with
#   "mcpServers" and a "url"; Cursor signs in with OAuth by itself);
# - chatgpt: "Developer mode and MCP apps in ChatGPT", https://help.openai.com/en/articles/12584461,
#   and https://platform.openai.com/docs/guides/developer-mode (Settings › Apps › Advanced settings ›
#   Developer mode, then Create app with the MCP server URL and OAuth; workspace admins enable
#   developer mode on Business, Enterprise and Edu; public https only);
# - mcp-inspector: https://github.com/modelcontextprotocol/inspector (README and
#   docs/mcp-server-configuration.md of v2: `--transport http --server-url`, Node.js ≥ 22.19, the web
#   interface on port 6274);
# - sdks: the Python SDK's examples/snippets/clients/oauth_client.py and the TypeScript SDK's
#   docs/client.md and examples/client/src/simpleOAuthClient.ts
#   (https://github.com/modelcontextprotocol/python-sdk, .../typescript-sdk).
PRESETS_AND_GUIDES: tuple[Preset, ...] = (
    Preset(
        "claude",
        "Claude (web and desktop)",
        ("https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback"),
        Client.CLIENT_CONFIDENTIAL,
        "Claude's hosted callback, used by claude.ai and by the desktop app alike.",
        "In Claude, add a custom connector with this server's /mcp address and enter the client ID and "
        "secret in its advanced settings.",
        steps=(
            "In Claude (claude.ai or the desktop app) open **Customize › Connectors** (**Settings › Connectors** "
            "in some versions) and add a custom connector (**+** › **Add custom connector**).",
            "Enter a name and the remote MCP server URL `{mcp_url}`, then **Add**.",
            "Choose **Connect**: Claude sends you to this server to sign in and allow it. It registers itself; "
            "a client ID and secret from this server's administrator go under **Advanced settings**.",
            "On Team and Enterprise plans an Owner adds the connector for the organization first; each member "
            "then connects it.",
        ),
        documentation="https://support.claude.com/en/articles/11175166",
        hosted=True,
    ),
    Preset(
        "claude-code",
        "Claude Code",
        ("http://localhost/callback", "http://127.0.0.1/callback"),
        Client.CLIENT_PUBLIC,
        "Claude Code receives the answer on a local port it picks at sign-in; any port is accepted "
        "on these loopback addresses.",
        "Give Claude Code this client ID in its MCP server settings; a public client has no secret.",
        steps=(
            "Run this in your terminal (add `--scope user` before the name to have it in every project):",
            "In Claude Code type `/mcp`, pick **{server_name}** and choose **Authenticate**: your browser opens "
            "this server's sign-in page.",
        ),
        snippet=claude_code_command,
        snippet_label="terminal",
        documentation="https://code.claude.com/docs/en/mcp",
    ),
    Preset(
        "vscode",
        "VS Code",
        (
            "http://127.0.0.1:33418/",
            "http://127.0.0.1/",
            "https://vscode.dev/redirect",
            "https://insiders.vscode.dev/redirect",
        ),
        Client.CLIENT_PUBLIC,
        "VS Code listens on 127.0.0.1 (port 33418, or another when that one is busy); vscode.dev is its web callback.",
        "When VS Code asks for a client ID for this server, enter this one; a public client has no secret.",
        steps=(
            "Run **MCP: Add Server** from the Command Palette, choose **HTTP**, enter `{mcp_url}` and the name "
            "`{server_name}`, then **Global** (your profile) or **Workspace**.",
            "Or put the server in `.vscode/mcp.json` (or in your profile's, **MCP: Open User Configuration**):",
            "Start it from the `mcp.json` editor or **MCP: List Servers**; VS Code asks you to sign in to this "
            "server in your browser.",
        ),
        snippet=vscode_config,
        snippet_label=".vscode/mcp.json",
        snippet_after=2,
        documentation="https://code.visualstudio.com/docs/copilot/customization/mcp-servers",
    ),
    Preset(
        "cursor",
        "Cursor",
        ("cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback"),
        Client.CLIENT_PUBLIC,
        "Cursor's own URI scheme for the desktop app (allowed by PRIVATE_REDIRECT_SCHEMES), and its "
        "hosted callback for agents.",
        "Enter this client ID in Cursor's MCP server settings; a public client has no secret.",
        steps=(
            "Add the server to `~/.cursor/mcp.json` (every project) or to `.cursor/mcp.json` in a project:",
            "The first time Cursor connects it opens your browser to sign in to this server (or choose "
            "**Connect** next to **{server_name}** in Cursor's MCP settings).",
        ),
        snippet=cursor_config,
        snippet_label="~/.cursor/mcp.json",
        documentation="https://cursor.com/docs/mcp",
    ),
    Preset(
        "chatgpt",
        "ChatGPT",
        ("https://chatgpt.com/connector_platform_oauth_redirect",),
        Client.CLIENT_CONFIDENTIAL,
        "ChatGPT's connector callback. ChatGPT also shows each app its own callback "
        "(https://chatgpt.com/connector/oauth/ followed by the app's id) while you create the app: add that line "
        "too. To have ChatGPT sign its requests with its key instead of a secret, choose private_key_jwt under "
        "“How it authenticates”: ChatGPT's JWKS URL is filled in.",
        "In ChatGPT, create an app with this server's /mcp address and enter the client ID (and, unless it "
        "signs with private_key_jwt, the secret) in its advanced OAuth settings.",
        steps=(
            "Turn on developer mode: **Settings › Apps › Advanced settings › Developer mode** (on Business, "
            "Enterprise and Edu plans a workspace admin enables it in the workspace settings).",
            "In **Settings › Apps** choose **Create app**: a name, the MCP server URL `{mcp_url}` and **OAuth** "
            "as the authentication; confirm that you trust it and create it.",
            "ChatGPT sends you to this server to sign in and allow it. In a chat, pick the app under "
            "**+ › Developer mode**.",
        ),
        documentation="https://help.openai.com/en/articles/12584461",
        hosted=True,
        jwks_uri="https://chatgpt.com/oauth/jwks.json",  # as ChatGPT's client metadata document names it
    ),
    Preset(
        "mcp-inspector",
        "MCP Inspector",
        ("http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug"),
        Client.CLIENT_PUBLIC,
        "The MCP Inspector's web interface on its default port 6274, for the normal and the debug flow.",
        "Enter this client ID in the Inspector's authentication settings; a public client has no secret.",
        steps=(
            "Run this in a terminal (Node.js 22.19 or later); the Inspector opens in your browser:",
            "Choose **Connect**: the Inspector registers itself and sends you to this server to sign in.",
        ),
        snippet=inspector_command,
        snippet_label="terminal",
        documentation="https://github.com/modelcontextprotocol/inspector",
    ),
    Preset(
        "sdks",
        "Official SDKs",
        (),
        Client.CLIENT_PUBLIC,
        "Applications built on an SDK register themselves with their own redirect URIs.",
        "Configure the application with this client ID.",
        steps=(
            "**Python** (`pip install mcp`): an `OAuthClientProvider` as the HTTP client's `auth` discovers, "
            "registers and signs in by itself; the SDK's `examples/snippets/clients/oauth_client.py` is a "
            "complete client.",
            '**TypeScript**: `new StreamableHTTPClientTransport(new URL("{mcp_url}"), { authProvider })`; '
            "see the SDK's `examples/client/src/simpleOAuthClient.ts`.",
            "To watch every step against this server first: `make demo`.",
        ),
        snippet=python_sdk_example,
        snippet_label="Python",
        documentation="https://github.com/modelcontextprotocol/python-sdk",
    ),
)

# The admin's "add client" presets: the clients with fixed redirect URIs.
PRESETS: tuple[Preset, ...] = tuple(preset for preset in PRESETS_AND_GUIDES if preset.is_admin_preset)
PRESETS_BY_KEY = {preset.key: preset for preset in PRESETS}
