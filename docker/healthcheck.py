"""The image's HEALTHCHECK (the slim image has no curl): exit 0 when this container's server
answers `/healthz` (or the path given, e.g. `/readyz`) with status "ok"/"ready", 1 otherwise.

It reads the address from BIND (gunicorn's bind address, 0.0.0.0:8000 in the image), as
gunicorn does, and asks on loopback when that is a wildcard.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

HEALTHY = {"ok", "ready"}


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/healthz"
    host, _, port = os.environ.get("BIND", "").rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):  # noqa: S104 (a wildcard bind, not one we make)
        host = "127.0.0.1"
    url = f"http://{host}:{port or os.environ.get('PORT', '8000')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 (a fixed http URL)
            healthy = response.status == 200 and json.load(response).get("status") in HEALTHY
    except (OSError, ValueError):
        healthy = False
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
