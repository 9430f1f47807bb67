"""A real OpenID Connect provider on loopback for the sign-in tests: panva's `oidc-provider` (npm,
OpenID Certified), run by Node >= 22 with tests/support/oidc_provider.mjs.

Installed on first use into the same cache as the MCP conformance suite (npm registry; `node@22`,
a Node binary published on npm, where the machine's Node is older). One provider process serves
the whole test session; each of our test servers registers its own client there (OpenID
Connect Dynamic Client Registration), with its own callback URL.

Its accounts sign in with any password; `sub` is the login.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import httpx2

from democlient.processes import ServerProcess
from tests.support import npm_install
from tests.support.conformance import CACHE
from tests.support.server import free_port

PACKAGE = "oidc-provider"
VERSION = "9.13.3"
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
PASSWORD = "any-password-works-here"
STAFF_GROUP = "mcp-admins"

# login → the claims the provider asserts for it.
ACCOUNTS: dict[str, dict] = {
    "ada": {
        "email": "ada@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
        "preferred_username": "ada",
        "groups": ["engineering"],
    },
    # Claims an address a local account has, which the provider did not verify.
    "mallory": {
        "email": "demo@example.com",
        "email_verified": False,
        "name": "Mallory",
        "preferred_username": "mallory",
    },
    # The verified address of the local account `other`.
    "olga": {"email": "other@example.com", "email_verified": True, "name": "Olga", "preferred_username": "olga"},
    "eve": {"email": "eve@elsewhere.org", "email_verified": True, "name": "Eve", "preferred_username": "eve"},
    "root": {
        "email": "root@example.com",
        "email_verified": True,
        "name": "Root Admin",
        "preferred_username": "root",
        "groups": [STAFF_GROUP, "engineering"],
    },
}


def install() -> tuple[str, Path]:
    """(node, directory with node_modules/oidc-provider), installed into the cache once."""
    directory = CACHE / f"{PACKAGE}-{VERSION}"
    package_json = '{"name": "oidc-provider-harness", "private": true, "type": "module"}\n'
    return npm_install.install_package(directory, PACKAGE, VERSION, package_json, "oidc-provider"), directory


class OidcProvider:
    """One running provider; `issuer` is its URL."""

    def __init__(self, access_token_ttl: int = 3600) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.access_token_ttl = access_token_ttl
        self.workdir = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
        self.log_path = self.workdir / "provider.log"
        self.server: ServerProcess | None = None

    def start(self) -> OidcProvider:
        node, directory = install()
        # The script is run from the install directory, where Node finds the package.
        script = directory / SCRIPT.name
        shutil.copyfile(SCRIPT, script)
        config = {
            "issuer": self.issuer,
            "port": self.port,
            "clients": [],
            "accounts": ACCOUNTS,
            "accessTokenTtl": self.access_token_ttl,
        }
        env = {**os.environ, "OP_CONFIG": json.dumps(config)}
        self.server = ServerProcess([node, str(script)], self.log_path, env=env, cwd=directory).launch()
        self.server.wait_ready(self.issuer + "/.well-known/openid-configuration", timeout=60)
        return self

    def register_client(self, callback_url: str) -> tuple[str, str]:
        """A confidential client for one of our servers (client_secret_post, as allauth
        authenticates when a provider offers it): (client_id, client_secret)."""
        answer = httpx2.post(
            self.issuer + "/reg",
            json={
                "redirect_uris": [callback_url],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_post",
                "client_name": "MCP authorization server under test",
            },
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return body["client_id"], body["client_secret"]

    def userinfo(self, access_token: str) -> httpx2.Response:
        return httpx2.get(self.issuer + "/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=10)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=10)
