"""An npm package for the tests (the MCP conformance suite, the OpenID provider), installed once
into a cache directory from the npm registry, with a Node >= 22 to run it: the machine's when it
is new enough, otherwise `node@22` (a Node binary published on npm) installed beside the package.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

NODE_MAJOR = 22


def node_major(node: str) -> int:
    try:
        out = subprocess.run([node, "-p", "process.versions.node"], capture_output=True, text=True, timeout=30)
        return int(out.stdout.strip().split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def installed_version(directory: Path, package: str) -> str | None:
    try:
        return json.loads((directory / "node_modules" / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def install_package(directory: Path, package: str, version: str, package_json: str, purpose: str) -> str:
    """Install `package@version` into `directory` (once; concurrent test processes wait on a file
    lock) and return the Node binary to run it with. `package_json` is the directory's own
    package.json when it has none; `purpose` names what needs it in the errors."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        system_node = shutil.which("node")
        system_is_new = bool(system_node) and node_major(system_node) >= NODE_MAJOR
        local_node = str(directory / "node_modules" / "node" / "bin" / "node")
        wanted = []
        if installed_version(directory, package) != version:
            wanted.append(f"{package}@{version}")
        if not system_is_new and node_major(local_node) < NODE_MAJOR:
            wanted.append(f"node@{NODE_MAJOR}")
        if wanted:
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError(f"npm is needed to install {purpose}")
            if not (directory / "package.json").exists():
                (directory / "package.json").write_text(package_json)
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--save-exact", "--loglevel=error", *wanted],
                cwd=directory,
                check=True,
                timeout=600,
                capture_output=True,
            )
        node = system_node if system_is_new else local_node
        if node_major(node) < NODE_MAJOR:
            raise RuntimeError(f"no Node >= {NODE_MAJOR} for {purpose} (tried {node})")
        if installed_version(directory, package) != version:
            raise RuntimeError(f"{package}@{version} did not install")
    return node
