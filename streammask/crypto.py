"""Keyed primitives: a PRF and a format-preserving permutation of ``range(n)``.

``Prf.digest`` is keyed BLAKE2b-256 (RFC 7693's MAC mode, a PRF; 0.5 µs against HMAC-SHA256's 1.3 µs
per call here), used to pick replacements, characters and offsets. ``Prf.hmac`` is HMAC-SHA256, used
where the contract promises HMAC (the ``hash`` strategy).

The permutation is an unbalanced Feistel network in the style of NIST FF1 (radix 2, ten rounds) with
cycle walking, so any domain size works. Rounds use AES (``cryptography``) when the half fits 64 bits,
HMAC-SHA256 otherwise. Nothing here keeps global state: every object holds its own subkey.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ROUNDS = 10
# Domains up to 2**16 have halves of at most 8 bits: each round's 256 possible outputs are kept.
_TABULATED_HALF_BITS = 8
_PACK_ROUND = struct.Struct(">7sBQ").pack
_UNPACK_HALF = struct.Struct(">Q").unpack_from


class Prf:
    """A PRF under one subkey: ``digest(data)`` and uniform integers and byte streams derived from it."""

    __slots__ = ("_key", "_keyed", "_keyed32")

    def __init__(self, key: bytes) -> None:
        self._key = key[:64]
        # Keyed BLAKE2b states with the key block already absorbed, one per digest size (at most 64):
        # a copy plus update gives the same digest as a keyed call, without redoing the key setup.
        self._keyed: dict[int, hashlib.blake2b] = {}
        self._keyed32 = self._state(32)

    def _state(self, size: int) -> hashlib.blake2b:
        state = self._keyed.get(size)
        if state is None:
            state = self._keyed[size] = hashlib.blake2b(key=self._key, digest_size=size)
        return state

    def digest(self, data: bytes) -> bytes:
        h = self._keyed32.copy()
        h.update(data)
        return h.digest()

    def hmac(self, data: bytes) -> bytes:
        return hmac.digest(self._key, data, "sha256")

    def below(self, data: bytes, n: int) -> int:
        """A uniform-looking integer in ``range(n)``; bias is below 2**-190 for n < 2**64."""
        h = self._keyed32.copy()  # digest(), inlined: this is shift's and format-preserve's hot path
        h.update(data)
        return int.from_bytes(h.digest(), "big") % n

    def stream(self, data: bytes, length: int) -> bytes:
        """``length`` pseudo-random bytes for ``data`` (BLAKE2b-512 in counter mode)."""
        if length <= 64:
            h = (self._keyed.get(length) or self._state(length or 1)).copy()
            h.update(data)
            return h.digest()[:length]
        out = bytearray()
        counter = 0
        while len(out) < length:
            out += hashlib.blake2b(counter.to_bytes(4, "big") + data, key=self._key, person=b"stream").digest()
            counter += 1
        return bytes(out[:length])


class Permutation:
    """A keyed bijection of ``range(n)`` onto itself; ``tweak`` selects an independent permutation."""

    __slots__ = ("n", "_u", "_v", "_mask_u", "_mask_v", "_tweak", "_aes", "_hmac_key", "_wide", "_tables")

    def __init__(self, key: bytes, n: int, tweak: bytes = b"") -> None:
        if n < 1:
            raise ValueError("permutation domain must hold at least one value")
        self.n = n
        bits = max(2, (n - 1).bit_length())
        self._u = bits // 2
        self._v = bits - self._u
        self._mask_u = (1 << self._u) - 1
        self._mask_v = (1 << self._v) - 1
        self._tweak = hashlib.sha256(tweak + n.to_bytes((n.bit_length() + 8) // 8, "big")).digest()[:7]
        self._wide = self._v > 64
        self._aes = Cipher(algorithms.AES(key[:32]), modes.ECB()).encryptor()
        self._hmac_key = key
        # Small domains: round outputs (masked), filled on first use; -1 marks one not computed yet.
        self._tables = (
            [[-1] * (1 << self._v) for _ in range(ROUNDS)] if self._v <= _TABULATED_HALF_BITS else None
        )

    def _round(self, i: int, half: int, bits: int) -> int:
        if not self._wide:
            return int(_UNPACK_HALF(self._aes.update(_PACK_ROUND(self._tweak, i, half)))[0])
        nbytes = (bits + 7) // 8
        seed = self._tweak + bytes([i]) + half.to_bytes((half.bit_length() + 8) // 8, "big")
        out = b""
        counter = 0
        while len(out) < nbytes:
            out += hmac.digest(self._hmac_key, counter.to_bytes(4, "big") + seed, "sha256")
            counter += 1
        return int.from_bytes(out[:nbytes], "big")

    def _encrypt_once(self, x: int) -> int:
        if self._tables is not None:
            return self._encrypt_tabulated(x)
        u, v = self._u, self._v
        a, b = x >> v, x & self._mask_v  # a: u bits, b: v bits
        if not self._wide:  # the common case, inlined: one AES block per round
            aes, tweak, mask_u, mask_v = self._aes.update, self._tweak, self._mask_u, self._mask_v
            for i in range(0, ROUNDS, 2):
                a, b = b, a ^ (_UNPACK_HALF(aes(_PACK_ROUND(tweak, i, b)))[0] & mask_u)
                a, b = b, a ^ (_UNPACK_HALF(aes(_PACK_ROUND(tweak, i + 1, b)))[0] & mask_v)
            return (a << v) | b
        for i in range(ROUNDS):
            if i % 2 == 0:
                a, b = b, a ^ (self._round(i, b, u) & self._mask_u)
            else:
                a, b = b, a ^ (self._round(i, b, v) & self._mask_v)
        return (a << v) | b  # ROUNDS is even, so a holds u bits again

    def _encrypt_tabulated(self, x: int) -> int:
        """``_encrypt_once`` for small domains: each round output is computed once, then looked up."""
        v = self._v
        a, b = x >> v, x & self._mask_v
        for i, outputs in enumerate(self._tables or ()):
            f = outputs[b]
            if f < 0:
                f = outputs[b] = self._round(i, b, 0) & (self._mask_v if i % 2 else self._mask_u)
            a, b = b, a ^ f
        return (a << v) | b

    def _decrypt_once(self, y: int) -> int:
        u, v = self._u, self._v
        a, b = y >> v, y & self._mask_v
        for i in reversed(range(ROUNDS)):
            if i % 2 == 0:
                a, b = b ^ (self._round(i, a, u) & self._mask_u), a
            else:
                a, b = b ^ (self._round(i, a, v) & self._mask_v), a
        return (a << v) | b

    def encrypt(self, x: int) -> int:
        if not 0 <= x < self.n:
            raise ValueError("value outside the permutation's domain")
        y = self._encrypt_once(x)
        while y >= self.n:  # cycle walking: stays a bijection of range(n)
            y = self._encrypt_once(y)
        return y

    def decrypt(self, y: int) -> int:
        if not 0 <= y < self.n:
            raise ValueError("value outside the permutation's domain")
        x = self._decrypt_once(y)
        while x >= self.n:
            x = self._decrypt_once(x)
        return x
