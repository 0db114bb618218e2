"""The `Upstash-Signature` JWT (qstash-api.md 5.2): HS256 with the current signing key.

It must pass PyJWT's strict decode in the Python SDK's Receiver: `iss`, `sub`, `exp` and
`nbf` present, no `aud`, and `body` = base64url(SHA-256(exact body bytes)).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

import jwt

LIFETIME_SECONDS = 300


def body_hash(body: bytes) -> str:
    """base64url of the body's SHA-256, padded as QStash sends it (receivers strip `=`)."""
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode()


def sign(url: str, body: bytes, key: str, now: float | None = None) -> str:
    """A token for one delivery of `body` to exactly `url`."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": "Upstash",
        "sub": url,
        "exp": issued + LIFETIME_SECONDS,
        # nbf 0 (as QStash sends since 2024): a receiver whose clock runs behind still accepts.
        "nbf": 0,
        "iat": issued,
        "jti": "jwt_" + secrets.token_hex(12),
        "body": body_hash(body),
    }
    return jwt.encode(claims, key.encode(), algorithm="HS256")
