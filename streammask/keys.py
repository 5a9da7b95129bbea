"""Masking key material: loaded from an env var or a file (never the policy), split into subkeys.

Subkeys are derived with HKDF-SHA256 (``cryptography``) per purpose, e.g. ``tokenize:customer_id``,
so two domains or two strategies never share key material, and a new master key changes every mapping.

The key id is a name an operator chooses; the fingerprint tells key *material* apart, so a new secret under
an old id shows (audit records, checkpoints, ``streammask_policy_info``) and is refused at start. It is
HMAC-SHA256 under the ``fingerprint`` subkey of a fixed public label, cut to 64 bits: a PRF output under a
subkey no masking purpose uses, so it says nothing about the key or any masking subkey (no more than one
masked value does), and being 64 bits of a key of at least 128, about 2**64 keys share each fingerprint, so
it cannot confirm a guessed key either. 64 bits tell the few keys of one deployment apart with a collision
chance of about n**2 / 2**65.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from streammask.errors import KeyError_

MIN_KEY_BYTES = 16
FINGERPRINT_PURPOSE = "fingerprint"
FINGERPRINT_LABEL = b"streammask key fingerprint v1"
FINGERPRINT_HEX = 16  # 64 bits


@dataclass(frozen=True)
class MasterKey:
    """The secret the whole mapping hangs on, with the public id that goes to audit records."""

    secret: bytes = field(repr=False)
    key_id: str

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise KeyError_(
                f"masking key {self.key_id!r} is {len(self.secret)} bytes; use at least {MIN_KEY_BYTES} "
                "(e.g. `openssl rand -hex 32`)"
            )

    def subkey(self, purpose: str, length: int = 32) -> bytes:
        """A key for one purpose (strategy and domain), independent of every other purpose's key."""
        return HKDF(
            algorithm=hashes.SHA256(), length=length, salt=b"streammask/v1", info=purpose.encode()
        ).derive(self.secret)

    @cached_property
    def fingerprint(self) -> str:
        """Which key material this is, as 16 hex digits: equal for the same secret, unrelated otherwise,
        and of no help in guessing the secret (see the module docstring)."""
        return key_fingerprint(self)


def key_fingerprint(key: MasterKey) -> str:
    """HMAC-SHA256(HKDF(secret, "fingerprint"), "streammask key fingerprint v1"), first 16 hex digits."""
    digest = hmac.digest(key.subkey(FINGERPRINT_PURPOSE), FINGERPRINT_LABEL, "sha256")
    return digest.hex()[:FINGERPRINT_HEX]


def _decode_secret(text: str) -> bytes:
    """Keys are written as hex (preferred) or as raw text; surrounding whitespace is ignored."""
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        return text.encode()


def load_from_env(var: str, key_id: str) -> MasterKey:
    value = os.environ.get(var)
    if not value:
        raise KeyError_(f"environment variable {var} holding the masking key {key_id!r} is not set or empty")
    return MasterKey(_decode_secret(value), key_id)


def load_from_file(path: Path, key_id: str) -> MasterKey:
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyError_(
            f"cannot read key file {path} for key {key_id!r}: {exc.strerror or type(exc).__name__}"
        ) from None
    if not text.strip():
        raise KeyError_(f"key file {path} for key {key_id!r} is empty")
    return MasterKey(_decode_secret(text), key_id)
