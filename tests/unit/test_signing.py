"""Signatures verify with the official SDK's Receiver, exactly as a destination would."""

from __future__ import annotations

import base64
import hashlib
import os
import re

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


@pytest.mark.parametrize("body", [b"", b"abc", b"\xfb\xff" * 100, os.urandom(1021)])
def test_body_hash_is_padded_base64url_of_the_sha256(body: bytes) -> None:
    """As the SDKs' Receivers compute it; '+' and '/' never appear (base64url)."""
    expected = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode()
    assert body_hash(body) == expected
    assert expected.endswith("=")
    assert not {"+", "/"} & set(body_hash(body))


def _token_id(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def test_token_ids_are_24_hex_digits_and_do_not_repeat() -> None:
    ids = {_token_id(sign(URL, b"abc", "k" * 32, now=1_700_000_000)) for _ in range(20_000)}
    assert len(ids) == 20_000
    assert all(re.fullmatch(r"jwt_[0-9a-f]{24}", token_id) for token_id in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_draws_other_token_ids_than_its_parent() -> None:
    """The id generator is per process: a child that kept its parent's state would sign
    with the very ids the parent signs with next."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, _token_id(sign(URL, b"", "k" * 32)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        childs = pipe.read()
    assert childs.startswith("jwt_")
    assert childs != _token_id(sign(URL, b"", "k" * 32))
