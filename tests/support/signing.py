"""A client's side of private_key_jwt (RFC 7523) for the tests: a key pair, its public JWK, and
signed client assertions, made with PyJWT and `cryptography` as a real client would."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from authserver.client_auth import ASSERTION_TYPE

GENERATORS = {
    "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "PS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
}


@dataclass
class ClientKey:
    algorithm: str = "RS256"
    kid: str = field(default_factory=lambda: "key-" + secrets.token_hex(4))
    private: Any = None

    def __post_init__(self) -> None:
        if self.private is None:
            self.private = GENERATORS[self.algorithm]()

    @property
    def jwk(self) -> dict:
        """The public key as a JWK, as the client publishes it."""
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        key = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**key, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def jwks(self, *others: ClientKey) -> dict:
        return {"keys": [self.jwk, *(other.jwk for other in others)]}

    def assertion(self, client_id: str, audience: Any, headers: dict | None = None, **claims: Any) -> str:
        """A client assertion for `client_id`; `claims` override (None removes one)."""
        now = int(time.time())
        body = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60}
        body["jti"] = secrets.token_urlsafe(16)
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        return jwt.encode(body, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **(headers or {})})


def assertion_fields(assertion: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
