"""Authorization codes for the code-exchange scenario of `make bench`, made out of band.

Runs with our server's settings and database; reads a JSON job on stdin (client_id, username,
redirect_uri, scope, resource, count) and prints {"lines": ["code verifier", ...]}: grants as
django-oauth-toolkit stores them after a consent (PKCE S256 challenge, the resource bound), so
that the scenario measures the exchange at /token alone. The peer mints its own the same way
(bench/peer_server.py, /bench/codes). They live ten minutes, not DOT's 60 seconds, so that a
run's pool cannot expire under it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import get_application_model, get_grant_model  # noqa: E402
from oauthlib.common import generate_token  # noqa: E402


def mint(job: dict) -> list[str]:
    client = get_application_model().objects.get(client_id=job["client_id"])
    user = get_user_model().objects.get(username=job["username"])
    expires = timezone.now() + timedelta(minutes=10)
    grants, lines = [], []
    for _ in range(int(job["count"])):
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        code = generate_token()
        grants.append(
            get_grant_model()(
                application=client,
                user=user,
                code=code,
                expires=expires,
                redirect_uri=job["redirect_uri"],
                scope=job["scope"],
                code_challenge=challenge,
                code_challenge_method="S256",
                nonce="",
                claims="{}",
                resource=[job["resource"]],
            )
        )
        lines.append(f"{code} {verifier}")
    get_grant_model().objects.bulk_create(grants, batch_size=1000)
    return lines


if __name__ == "__main__":
    print(json.dumps({"lines": mint(json.loads(sys.stdin.read()))}))
