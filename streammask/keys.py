"""Masking key material: loaded from an env var or a file (never the policy), split into subkeys.

Subkeys are derived with HKDF-SHA256 (``cryptography``) per purpose, e.g. ``tokenize:customer_id``,
so two domains or two strategies never share key material, and a new master key changes every mapping.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from streammask.errors import KeyError_

MIN_KEY_BYTES = 16


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
