"""Signatures verify with the official SDK's Receiver, exactly as a destination would."""

from __future__ import annotations

import jwt
import pytest
from qstash import Receiver
from qstash.errors import SignatureError

from broker.settings import DEV_CURRENT_SIGNING_KEY, DEV_NEXT_SIGNING_KEY
from workers.signing import body_hash, sign

URL = "https://example.com/api?x=1"


def test_receiver_accepts_our_signature() -> None:
    """qstash.Receiver verifies body and URL with the current key."""
    body = '{"hello": "world"}'
    token = sign(URL, body.encode(), DEV_CURRENT_SIGNING_KEY)
    receiver = Receiver(
        current_signing_key=DEV_CURRENT_SIGNING_KEY, next_signing_key=DEV_NEXT_SIGNING_KEY
    )
    receiver.verify(signature=token, body=body, url=URL)


def test_receiver_rejects_other_body_or_url() -> None:
    """A changed body or URL fails verification."""
    token = sign(URL, b"original", DEV_CURRENT_SIGNING_KEY)
    receiver = Receiver(
        current_signing_key=DEV_CURRENT_SIGNING_KEY, next_signing_key=DEV_NEXT_SIGNING_KEY
    )
    with pytest.raises(SignatureError):
        receiver.verify(signature=token, body="tampered", url=URL)
    with pytest.raises(SignatureError):
        receiver.verify(signature=token, body="original", url="https://example.com/other")


def test_claims() -> None:
    """HS256 with iss, sub, exp = iat + 300, nbf, jti and the body hash; no aud."""
    token = sign(URL, b"abc", "k" * 32, now=1_700_000_000)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == "Upstash"
    assert claims["sub"] == URL
    assert claims["iat"] == 1_700_000_000
    assert claims["exp"] == 1_700_000_300
    assert claims["nbf"] == 0
    assert claims["jti"].startswith("jwt_")
    assert claims["body"] == body_hash(b"abc")
    assert "aud" not in claims
