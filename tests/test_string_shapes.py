"""String shapes (uuid, MAC, IP address or network): detected, declared by the source type, and kept
valid by every strategy that masks strings."""

from __future__ import annotations

import ipaddress
import random
import re
import string
import uuid
from collections.abc import Callable

import events as ev
import orjson
import pytest
from helpers import compile_transform

from streammask.errors import MaskingError, TypeNotPreserved
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, Masked, Outcome
from streammask.plan import CompiledPolicy
from streammask.policy import parse_policy
from streammask.strategies import STRATEGIES
from streammask.strategies.base import RowContext
from streammask.strategies.shapes import Shape, declared_shapes, detect
from streammask.types import UUID, ColumnType

ROW = RowContext({})
RNG_SEED = 20240601
STRING = ColumnType("string")
UUID_T = ColumnType("string", UUID)
MAC_RE = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}((\1[0-9a-fA-F]{2}){2})?")
MASKING = ("tokenize", "format-preserve", "hash")


def source_typed(source_type: str, optional: bool = True, length: int | None = None) -> ColumnType:
    params = [("__debezium.source.column.type", source_type)]
    if length is not None:
        params.append(("__debezium.source.column.length", str(length)))
    return ColumnType("string", optional=optional, parameters=tuple(sorted(params)))


# -- detection -------------------------------------------------------------------------------------

DETECTED = [
    ("6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f", Shape.UUID),
    ("6F9619FF-8B86-D011-B42D-00C04FC964FF", Shape.UUID),
    ("08:00:2b:01:02:03", Shape.MAC),
    ("08-00-2B-01-02-03", Shape.MAC),
    ("08:00:2b:01:02:03:04:05", Shape.MAC),
    ("192.168.1.17", Shape.IP),
    ("0.0.0.0", Shape.IP),
    ("255.255.255.255/32", Shape.IP),
    ("10.0.0.0/8", Shape.IP),
    ("2001:db8::1", Shape.IP),
    ("::", Shape.IP),
    ("::ffff:1.2.3.4", Shape.IP),
    ("2001:DB8::/32", Shape.IP),
    ("fe80::1/128", Shape.IP),
    ("hello", Shape.TEXT),
    ("", Shape.TEXT),
    ("6f1c2a9e3b7d4c1a9e2f0a1b2c3d4e5f", Shape.TEXT),  # no dashes
    ("6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5g", Shape.TEXT),
    ("08:00:2b-01:02:03", Shape.TEXT),  # mixed separators
    ("08:00:2b:01:02", Shape.TEXT),
    ("192.168.01.17", Shape.TEXT),  # leading zero
    ("192.168.1.256", Shape.TEXT),
    ("1.2.3", Shape.TEXT),
    ("1.2.3.4/33", Shape.TEXT),
    ("1.2.3.4/08", Shape.TEXT),
    ("fe80::1%eth0", Shape.TEXT),  # zone id
    ("fe80::1/129", Shape.TEXT),
    ("12:30", Shape.TEXT),
    ("1:2:3:4:5:6:7:8:9", Shape.TEXT),
]


@pytest.mark.parametrize("value,shape", DETECTED, ids=[v or "empty" for v, _ in DETECTED])
def test_detect_tells_each_shape_from_text(value: str, shape: Shape) -> None:
    assert detect(value) is shape


def test_detect_among_declared_shapes_only() -> None:
    """An 8-pair MAC with colons parses as IPv6 too: a column declared INET takes it as an address."""
    assert detect("08:00:2b:01:02:03:04:05") is Shape.MAC
    assert detect("08:00:2b:01:02:03:04:05", (Shape.IP,)) is Shape.IP
    assert detect("192.168.1.17", (Shape.UUID,)) is Shape.TEXT


@pytest.mark.parametrize(
    "column,shapes",
    [
        (UUID_T, (Shape.UUID,)),
        (source_typed("UUID"), (Shape.UUID,)),
        (source_typed("uniqueidentifier"), (Shape.UUID,)),
        (source_typed("INET"), (Shape.IP,)),
        (source_typed("CIDR"), (Shape.IP,)),
        (source_typed("MACADDR"), (Shape.MAC,)),
        (source_typed("MACADDR8"), (Shape.MAC,)),
        (source_typed("VARCHAR"), None),
        (STRING, None),
    ],
)
def test_declared_shapes_come_from_the_source_type(column: ColumnType, shapes: tuple[Shape, ...] | None) -> None:
    assert declared_shapes(column) == shapes


# -- samples -----------------------------------------------------------------------------------------


def _rng(tag: str) -> random.Random:
    return random.Random(f"{RNG_SEED}{tag}")


def uuids(upper: bool = False, count: int = 60) -> list[str]:
    rng = _rng(f"uuid{upper}")
    values = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(count)]
    return [v.upper() for v in values] if upper else values


def macs(count: int = 60) -> list[str]:
    rng = _rng("mac")
    out = []
    for i in range(count):
        pairs = [f"{rng.getrandbits(8):02x}" for _ in range(8 if i % 3 == 0 else 6)]
        text = (":" if i % 2 else "-").join(pairs)
        out.append(text.upper() if i % 4 == 1 else text)
    return out


def ipv4s(count: int = 60) -> list[str]:
    rng = _rng("v4")
    return [str(ipaddress.IPv4Address(rng.getrandbits(32) >> rng.choice((0, 8, 16, 24)))) for _ in range(count)]


def ipv6s(count: int = 60) -> list[str]:
    rng = _rng("v6")
    out = []
    for i in range(count):
        address = ipaddress.IPv6Address(rng.getrandbits(128) >> rng.choice((0, 32, 64, 96)))
        if i % 3 == 0:
            out.append(address.exploded)
        elif i % 3 == 1:
            out.append(address.compressed)
        else:
            out.append(f"::ffff:{ipaddress.IPv4Address(rng.getrandbits(32))}")
    return out


def interfaces(count: int = 60) -> list[str]:
    """inet values with a netmask, host bits set."""
    rng = _rng("inet")
    out = []
    for i in range(count):
        bits = 32 if i % 2 else 128
        prefix = rng.randint(0, bits - 1)
        n = rng.getrandbits(bits) | 1  # host bits non-zero
        out.append(str(ipaddress.ip_interface((n, prefix))) if bits == 32 else f"{ipaddress.IPv6Address(n)}/{prefix}")
    return out


def networks(count: int = 60) -> list[str]:
    """cidr values: all-zero host bits."""
    rng = _rng("cidr")
    out = []
    for i in range(count):
        bits = 32 if i % 2 else 128
        prefix = rng.randint(0, bits)
        n = rng.getrandbits(bits) >> (bits - prefix) << (bits - prefix) if prefix else 0
        out.append(str(ipaddress.ip_network((n, prefix))) if bits == 32 else str(ipaddress.IPv6Network((n, prefix))))
    return out


def valid_uuid(value: str, out: str) -> None:
    assert len(out) == 36 and uuid.UUID(out)
    assert out == (out.upper() if value.isupper() else out.lower())


def valid_mac(value: str, out: str) -> None:
    assert MAC_RE.fullmatch(out) and len(out) == len(value)
    assert [c for c in out if c in ":-"] == [c for c in value if c in ":-"]
    assert out == (out.upper() if value.isupper() else out.lower())


def valid_ipv4(value: str, out: str) -> None:
    assert ipaddress.IPv4Address(out)


def valid_ipv6(value: str, out: str) -> None:
    assert ipaddress.IPv6Address(out)
    assert ("." in out) == ("." in value)


def valid_interface(value: str, out: str) -> None:
    before, after = ipaddress.ip_interface(value), ipaddress.ip_interface(out)
    assert after.version == before.version and after.network.prefixlen == before.network.prefixlen
    assert out.endswith(f"/{before.network.prefixlen}")


def valid_network(value: str, out: str) -> None:
    before, after = ipaddress.ip_network(value, strict=True), ipaddress.ip_network(out, strict=True)
    assert after.version == before.version and after.prefixlen == before.prefixlen


SHAPES: dict[str, tuple[Callable[[], list[str]], Callable[[str, str], None], str]] = {
    "uuid": (uuids, valid_uuid, "UUID"),
    "uuid-upper": (lambda: uuids(upper=True), valid_uuid, "UNIQUEIDENTIFIER"),
    "mac": (macs, valid_mac, "MACADDR8"),
    "ipv4": (ipv4s, valid_ipv4, "INET"),
    "ipv6": (ipv6s, valid_ipv6, "INET"),
    "inet-prefix": (interfaces, valid_interface, "INET"),
    "cidr": (networks, valid_network, "CIDR"),
}


# -- every shape, every strategy: valid, deterministic ---------------------------------------------------


@pytest.mark.parametrize("declared", [False, True], ids=["by-value", "by-source-type"])
@pytest.mark.parametrize("strategy", MASKING)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_stays_valid_under_each_strategy(
    master_key: MasterKey, shape: str, strategy: str, declared: bool
) -> None:
    samples, check, source_type = SHAPES[shape]
    column = source_typed(source_type) if declared else STRING
    t = compile_transform(strategy, master_key, column)
    again = compile_transform(strategy, master_key, column)
    for value in samples():
        out = t(value, ROW)
        check(value, out)
        assert again(value, ROW) == out


def test_ipv4_tokens_keep_each_octets_digit_count(master_key: MasterKey) -> None:
    for strategy in ("tokenize", "format-preserve"):
        t = compile_transform(strategy, master_key, STRING)
        for value in ipv4s(200):
            out = t(value, ROW)
            assert [len(o) for o in out.split(".")] == [len(o) for o in value.split(".")]


def test_tokenize_ipv4_is_a_bijection_of_its_digit_pattern(master_key: MasterKey) -> None:
    t = compile_transform("tokenize", master_key, STRING)
    domain = [f"{a}.{b}.{c}.{d}" for a in range(10) for b in range(10) for c in range(10) for d in range(10)]
    assert sorted(t(v, ROW) for v in domain) == sorted(domain)


def test_tokenize_is_one_bijection_across_text_and_address_shapes(master_key: MasterKey) -> None:
    """"a:b::" is an IPv6 address (hex-permuted), "g:b::" is text (class-permuted, walked past any
    address): together they still map one-to-one onto the same set, so text never takes an address's token."""
    t = compile_transform("tokenize", master_key, STRING)
    chars = string.ascii_lowercase + string.digits
    domain = [f"{a}:{b}::" for a in chars for b in chars]
    outs = [t(v, ROW) for v in domain]
    assert sorted(outs) == sorted(domain)
    assert all(detect(o) is detect(v) for v, o in zip(domain, outs, strict=True))


def test_tokenize_cidr_is_a_bijection_of_networks_of_one_prefix(master_key: MasterKey) -> None:
    t = compile_transform("tokenize", master_key, source_typed("CIDR"))
    domain = [f"{a}.0.0.0/8" for a in range(256)]
    assert sorted(t(v, ROW) for v in domain) == sorted(domain)
    hosts = [f"10.0.0.{h}/24" for h in range(1, 256)]  # inet: non-zero host bits stay non-zero
    assert len({t(v, ROW) for v in hosts}) == 255
    assert all(not t(v, ROW).split("/")[0].endswith(".0") for v in hosts)


def test_prefix_with_all_zero_host_bits_stays_a_network(master_key: MasterKey) -> None:
    for strategy in MASKING:
        t = compile_transform(strategy, master_key, source_typed("CIDR"))
        for value in ("10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "0.0.0.0/0", "::/0", "1.2.3.4/32"):
            out = t(value, ROW)
            assert ipaddress.ip_network(out, strict=True).prefixlen == ipaddress.ip_network(value).prefixlen


@pytest.mark.parametrize("strategy", MASKING)
def test_large_shapes_never_come_out_unchanged(master_key: MasterKey, strategy: str) -> None:
    """uuids, MACs, IPv6 and 3-digit-octet IPv4 addresses: domains far too large for a fixed point."""
    t = compile_transform(strategy, master_key, STRING)
    rng = _rng("wide")
    wide_v4 = [".".join(str(rng.randint(100, 255)) for _ in range(4)) for _ in range(100)]
    for value in uuids() + macs() + [v for v in ipv6s() if "::ffff:" not in v] + wide_v4:
        assert t(value, ROW) != value


# -- one token whatever the column says ------------------------------------------------------------------


@pytest.mark.parametrize("strategy", MASKING)
def test_uuid_column_and_uuid_shaped_string_give_the_same_output(master_key: MasterKey, strategy: str) -> None:
    """A schemaless key (a plain string) and its typed row (io.debezium.data.Uuid) must agree."""
    typed = compile_transform(strategy, master_key, UUID_T)
    plain = compile_transform(strategy, master_key, STRING)
    declared = compile_transform(strategy, master_key, source_typed("UUID"))
    for value in uuids() + uuids(upper=True):
        assert typed(value, ROW) == plain(value, ROW) == declared(value, ROW)


@pytest.mark.parametrize("strategy", MASKING)
def test_upper_case_uuid_stays_upper_case_and_matches_lower_case(master_key: MasterKey, strategy: str) -> None:
    t = compile_transform(strategy, master_key, source_typed("UNIQUEIDENTIFIER"))
    for value in uuids():
        upper = t(value.upper(), ROW)
        assert upper == upper.upper() and upper == t(value, ROW).upper()


def test_lower_case_uuid_column_outputs_are_unchanged(master_key: MasterKey) -> None:
    """Outputs of io.debezium.data.Uuid columns as they were before shapes (lower-case input), so a
    topic masked before and after this change still joins."""
    value = "6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f"
    key = MasterKey(bytes(range(32)), "test")
    assert compile_transform("tokenize", key, UUID_T)(value, ROW) == "ff4f648b-bf76-27fa-62a0-1ac26effebac"
    assert compile_transform("format-preserve", key, UUID_T)(value, ROW) == "017a9537-026b-4a3e-6e60-521db44c6e38"
    assert compile_transform("hash", key, UUID_T)(value, ROW) == "ca65d9e7-c44e-8c3b-9385-218747aa32df"


# -- values without their declared shape, and strategies that cannot keep one --------------------------


@pytest.mark.parametrize("strategy", MASKING)
@pytest.mark.parametrize(
    "source_type,value",
    [
        ("INET", "not an address"),
        ("INET", "192.168.1.256"),
        ("CIDR", "customer-42"),
        ("MACADDR", "6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f"),
        ("UNIQUEIDENTIFIER", "ORDER-2024-0001"),
    ],
)
def test_value_without_its_declared_shape_is_blocked(
    master_key: MasterKey, strategy: str, source_type: str, value: str
) -> None:
    t = compile_transform(strategy, master_key, source_typed(source_type), column="addr")
    with pytest.raises(TypeNotPreserved) as info:
        t(value, ROW)
    assert value not in str(info.value)
    assert info.value.column == "addr"


@pytest.mark.parametrize("strategy", MASKING)
def test_uuid_column_value_that_is_no_uuid_is_blocked(master_key: MasterKey, strategy: str) -> None:
    """io.debezium.data.Uuid holding something else: no character of it may pass as a kept separator."""
    t = compile_transform(strategy, master_key, UUID_T)
    for value in ("not-a-uuid", "{6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f}", "6f1c2a9e3b7d4c1a9e2f0a1b2c3d4e5f"):
        with pytest.raises(TypeNotPreserved):
            t(value, ROW)


@pytest.mark.parametrize("strategy", MASKING)
def test_address_longer_than_its_varchar_is_blocked_not_truncated(master_key: MasterKey, strategy: str) -> None:
    """A masked network may be longer than its text ("9.0.0.0/8" -> "117.0.0.0/8"): in a varchar(10)
    that would not fit, so it is blocked; what fits passes."""
    t = compile_transform(strategy, master_key, source_typed("VARCHAR", length=10))
    blocked = 0
    for a in range(10):
        try:
            out = t(f"{a}.0.0.0/8", ROW)
        except TypeNotPreserved:
            blocked += 1
        else:
            assert len(out) <= 10 and ipaddress.ip_network(out, strict=True).prefixlen == 8
    assert 0 < blocked < 10


def test_tokenize_error_keeps_its_class_and_names_the_column(master_key: MasterKey) -> None:
    t = compile_transform("tokenize", master_key, source_typed("INET"), column="client_ip")
    with pytest.raises(TypeNotPreserved) as info:
        t("localhost", ROW)
    assert info.value.column == "client_ip" and "localhost" not in str(info.value)


@pytest.mark.parametrize("value", ["6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f", "08:00:2b:01:02:03", "10.1.2.3", "::1"])
def test_replace_refuses_a_value_shaped_like_a_uuid_or_address(master_key: MasterKey, value: str) -> None:
    t = compile_transform("replace", master_key, STRING, kind="city", column="ref")
    with pytest.raises(TypeNotPreserved, match="tokenize, format-preserve or hash") as info:
        t(value, ROW)
    assert value not in str(info.value) and info.value.column == "ref"


@pytest.mark.parametrize("source_type", ["UUID", "UNIQUEIDENTIFIER", "INET", "CIDR", "MACADDR", "MACADDR8"])
def test_replace_does_not_accept_a_column_declared_as_uuid_or_address(source_type: str) -> None:
    assert not STRATEGIES["replace"].accepts(source_typed(source_type))
    assert STRATEGIES["replace"].accepts(source_typed("VARCHAR"))


POLICY = b"""
version: 1
key: {env: STREAMMASK_TEST_KEY, id: t}
tables:
  public.customers:
    passthrough: [id]
    fields:
      ip: {strategy: %s}
"""


def _mask_ip_row(master_key: MasterKey, strategy: bytes, ip: str) -> Outcome:
    masker = RecordMasker(CompiledPolicy(parse_policy(POLICY % strategy, "p.yaml"), master_key))
    fields = [ev.col("id", "int32", False), ev.col("ip", "string", True, parameters={
        "__debezium.source.column.type": "INET"})]
    return masker.mask(ev.topic("customers"), None, ev.envelope(fields, None, {"id": 1, "ip": ip}, "c"))


def test_replace_on_a_declared_inet_column_blocks_as_not_applicable(master_key: MasterKey) -> None:
    out = _mask_ip_row(master_key, b"replace, kind: city", "10.1.2.3")
    assert isinstance(out, Blocked) and out.reason.code is BlockCode.NOT_APPLICABLE
    assert "10.1.2.3" not in out.reason.describe()


def test_declared_inet_holding_no_address_blocks_as_type_not_preserved(master_key: MasterKey) -> None:
    out = _mask_ip_row(master_key, b"tokenize", "gateway-eu-west")
    assert isinstance(out, Blocked) and out.reason.code is BlockCode.TYPE_NOT_PRESERVED
    assert out.reason.column == "ip" and "gateway" not in out.reason.describe()
    masked = _mask_ip_row(master_key, b"tokenize", "10.1.2.3")
    assert isinstance(masked, Masked)
    assert ipaddress.IPv4Address(orjson.loads(masked.value or b"")["payload"]["after"]["ip"])


# -- redact ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source_type,value,neutral",
    [
        ("UUID", "6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f", "00000000-0000-0000-0000-000000000000"),
        ("UNIQUEIDENTIFIER", "6F9619FF-8B86-D011-B42D-00C04FC964FF", "00000000-0000-0000-0000-000000000000"),
        ("INET", "192.168.1.17", "0.0.0.0"),
        ("INET", "2001:db8::17", "::"),
        ("CIDR", "10.1.0.0/16", "0.0.0.0"),
        ("MACADDR", "08:00:2b:01:02:03", "00:00:00:00:00:00"),
        ("MACADDR8", "08:00:2b:01:02:03:04:05", "00:00:00:00:00:00:00:00"),
        ("VARCHAR", "anything", ""),
    ],
)
def test_redact_non_optional_column_gets_its_source_types_neutral_value(
    master_key: MasterKey, source_type: str, value: str, neutral: str
) -> None:
    t = compile_transform("redact", master_key, source_typed(source_type, optional=False))
    assert t(value, ROW) == neutral
    assert compile_transform("redact", master_key, source_typed(source_type))(value, ROW) is None


def test_redact_literal_must_have_the_declared_shape(master_key: MasterKey) -> None:
    with pytest.raises(MaskingError, match="not a valid"):
        compile_transform("redact", master_key, source_typed("INET", optional=False), value="n/a")
    t = compile_transform("redact", master_key, source_typed("INET", optional=False), value="192.0.2.1")
    assert t("10.1.2.3", ROW) == "192.0.2.1"
