"""Keyed IP addresses that stay valid: a permutation (``tokenize``, ``format-preserve``) and a hash.

- IPv4 without prefix: each octet keeps its digit count (1 digit: 0-9, 2: 10-99, 3: 100-255); the four
  octets are one mixed-radix number permuted under that digit pattern, so length and validity hold.
- IPv6 without prefix: its hex digits are permuted like a uuid's (colons and ``::`` kept); a dotted
  IPv4 tail is permuted as an IPv4.
- with ``/prefix`` (inet with a netmask, cidr): the network bits and the host bits are permuted apart,
  and all-zero host bits stay zero, so a network stays a network; the prefix is kept.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from streammask.crypto import Permutation

# Octet values by digit count: (first value, how many).
_OCTETS = {1: (0, 10), 2: (10, 90), 3: (100, 156)}


class AddressPermutation:
    """A keyed bijection of IP address texts onto texts of the same family, form and prefix.

    ``hex_token`` permutes an IPv6's hex digits (the caller's hex tokenizer, case-insensitive), so an
    IPv6 is tokenized like any other hex shape of the domain."""

    def __init__(self, subkey: bytes, hex_token: Callable[[str], str]) -> None:
        self._subkey = subkey
        self._hex_token = hex_token
        self._perms: dict[bytes, Permutation] = {}

    def __call__(self, value: str) -> str:
        address, slash, prefix = value.partition("/")
        if slash:
            return self._network(address, int(prefix))
        if ":" not in address:
            return self._ipv4(address)
        if "." not in address:
            return self._hex_token(address)
        head, _, tail = address.rpartition(":")
        return self._hex_token(head + ":") + self._ipv4(tail)

    def _perm(self, n: int, tweak: bytes) -> Permutation:
        perm = self._perms.get(tweak)
        if perm is None:
            perm = self._perms[tweak] = Permutation(self._subkey, n, tweak)
        return perm

    def _ipv4(self, address: str) -> str:
        octets = address.split(".")
        pattern = "".join(str(len(o)) for o in octets)
        n, x = 1, 0
        for octet in octets:
            lo, count = _OCTETS[len(octet)]
            x = x * count + int(octet) - lo
            n *= count
        y = self._perm(n, b"ipv4:" + pattern.encode()).encrypt(x)
        out = []
        for octet in reversed(octets):
            lo, count = _OCTETS[len(octet)]
            y, d = divmod(y, count)
            out.append(str(lo + d))
        return ".".join(reversed(out))

    def _network(self, address: str, prefix: int) -> str:
        ip = ipaddress.ip_address(address)
        host_bits = ip.max_prefixlen - prefix
        n = int(ip)
        network, host = n >> host_bits, n & ((1 << host_bits) - 1)
        tag = b"%d/%d" % (ip.version, prefix)
        network = self._perm(1 << prefix, b"net" + tag).encrypt(network)
        if host:  # non-zero host bits stay non-zero: [1, 2**host_bits - 1]
            host = 1 + self._perm((1 << host_bits) - 1, b"host" + tag).encrypt(host - 1)
        return _format(ip.version, (network << host_bits) | host) + f"/{prefix}"


def hashed_address(hmac: Callable[[bytes], bytes], value: str) -> str:
    """A keyed address of ``value``'s family and form (IPv4, IPv6, dotted IPv6 tail, ``/prefix`` with
    all-zero host bits kept zero), from the HMAC of its canonical form: spellings of one address agree."""
    address, slash, prefix_text = value.partition("/")
    ip = ipaddress.ip_address(address)
    bits = ip.max_prefixlen
    digest = hmac(f"ip{ip.version}:{ip.compressed}/{prefix_text}".encode())
    n = int.from_bytes(digest[: bits // 8], "big")
    if slash:
        host_bits = bits - int(prefix_text)
        host_mask = (1 << host_bits) - 1
        host = 0
        if int(ip) & host_mask:
            host = 1 + int.from_bytes(digest[16:], "big") % host_mask
        n = (n & ~host_mask) | host
        return _format(ip.version, n) + f"/{prefix_text}"
    if ip.version == 6 and "." in address:
        groups = [f"{(n >> (16 * i)) & 0xFFFF:x}" for i in range(7, 1, -1)]
        return ":".join(groups) + ":" + str(ipaddress.IPv4Address(n & 0xFFFFFFFF))
    return _format(ip.version, n)


def _format(version: int, n: int) -> str:
    return str(ipaddress.IPv4Address(n)) if version == 4 else ipaddress.IPv6Address(n).compressed
