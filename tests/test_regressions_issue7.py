"""Defects the class tests and the event-level properties found while "never leak, even on odd input"
was built, each kept as the smallest record that showed it. The classes themselves are tested in
test_event_kinds, test_key_row, test_placeholders, test_leak_guard and test_event_properties."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from helpers import fixtures_dir

from streammask.errors import PolicyError
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, Masked
from streammask.plan import CompiledPolicy
from streammask.policy import load_policy
from streammask.policy.loader import parse_policy

try:
    from tests import connect_schema
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path (rootdir without __init__.py)
    import connect_schema  # type: ignore[no-redef]
    import events as ev  # type: ignore[no-redef]

KEY = MasterKey(bytes(range(32)), "t")
HEAD = "version: 1\nkey: {env: K, id: t}\ntables:\n"


def make(policy: str) -> RecordMasker:
    return RecordMasker(CompiledPolicy(parse_policy((HEAD + policy).encode()), KEY))


# -- placeholders ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_schema", [True, False])
def test_a_struct_with_the_point_placeholders_coordinates_and_other_fields_is_masked(with_schema: bool) -> None:
    m = make("  public.shops:\n    passthrough: [id]\n    fields:\n      location: {strategy: redact}\n")
    location = {"type": "struct", "optional": True, "name": "shop.location_t", "field": "location",
                "fields": [ev.col("x", "float64", False), ev.col("y", "float64", False),
                           ev.col("owner_email", "string", True)]}
    row = {"id": 1, "location": {"x": -99999999.0, "y": -99999999.0, "owner_email": "annek@noanswer.org"}}
    value = ev.envelope([ev.col("id", "int32", False), location], None, row, "c", "shops", with_schema=with_schema)
    out = m.mask(ev.topic("shops"), None, value)
    assert isinstance(out, Masked) and b"annek" not in (out.value or b"") and out.placeholders == []


def test_a_hex_placeholder_without_a_byte_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="at least one byte"):
        parse_policy((HEAD + '  public.t:\n    passthrough: [id]\nplaceholders: ["hex:"]\n').encode())


def test_an_invalid_placeholder_in_a_block_list_names_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + '  public.t:\n    passthrough: [id]\nplaceholders:\n  - "__debezium_unavailable_value"\n'
                    '  - "n/a"\n  - "hex:zz"\n')
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert f"{path}:9" in str(caught.value)


# -- event kinds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", [
    {"ddl": "annek@noanswer.org", "source": {"wkb": "AQEAAAA=", "srid": 4326}},
    {"op": "m", "source": {"app": "crm"}, "message": {"prefix": "x", "content": "annek"}},
])
def test_a_schemaless_row_with_an_object_source_column_is_no_metadata_event(row: dict[str, object]) -> None:
    m = make("  public.customers:\n    passthrough: [id]\nevents: {schema_changes: pass, messages: pass}\n")
    assert isinstance(m.mask(ev.topic("audit_log"), None, orjson.dumps(row)), Blocked)


def test_a_message_event_passes_only_with_the_key_debezium_gives_it() -> None:
    m = make("  public.customers:\n    passthrough: [id]\nevents: {messages: redact}\n")
    value = (fixtures_dir() / "postgres-message.payload.json").read_bytes()
    topic = "PostgreSQL_server.message"  # <topic.prefix>.message, as Debezium writes them
    assert isinstance(m.mask(topic, b'{"prefix":"foo"}', value), Masked)
    out = m.mask(topic, b'{"prefix":"foo","email":"annek@noanswer.org"}', value)
    assert isinstance(out, Blocked) and out.reason.code is BlockCode.UNCERTAIN_KIND
    assert isinstance(m.mask("dbserver1.public.customers", b'{"prefix":"foo"}', value), Blocked)


# -- keys ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "value"), [("{strategy: bucket, step: 100}", -2_147_483_601),
                                             ("{strategy: redact}", 1004),
                                             ("{strategy: format-preserve}", 1_065_221_978)])
def test_a_key_with_a_schema_stays_valid_and_equal_to_its_tombstone_when_the_value_has_none(
    spec: str, value: int
) -> None:
    """The key's own types then decide, for the key and for the same columns of the row."""
    m = make(f"  public.k:\n    fields:\n      id: {spec}\n")
    fields = [ev.col("id", "int32", False)]
    key = ev.key(fields, {"id": value}, "k")
    delete = m.mask(ev.topic("k"), key, ev.envelope(fields, {"id": value}, None, "d", "k", with_schema=False))
    assert isinstance(delete, Masked)
    doc = orjson.loads(delete.key or b"")
    assert connect_schema.validate(doc["schema"], doc["payload"]) == []
    assert orjson.loads(delete.value or b"")["before"]["id"] == doc["payload"]["id"]
    tombstone = m.mask(ev.topic("k"), key, None)
    assert isinstance(tombstone, Masked) and tombstone.key == delete.key


def test_key_headers_are_masked_with_their_own_rows_columns_or_dropped() -> None:
    """A primary-key change: the delete of the old key carries the new key in __debezium.newkey. Its shift
    entity lives in the new row, which is not in that event: the header is dropped, never masked with the
    old row's entity (that gave another date than the new key's own event)."""
    m = make("  public.slots:\n    passthrough: [note]\n    fields:\n      customer_id: {strategy: tokenize}\n"
             "      valid_from: {strategy: shift, entity: customer_id, max_days: 90}\n")
    vf = ev.col("valid_from", "string", False, name="io.debezium.time.ZonedTimestamp", version=1)
    fields = [vf, ev.col("customer_id", "int32", False), ev.col("note", "string", True)]
    a = {"valid_from": "2024-03-05T10:15:30Z", "customer_id": 1004, "note": "x"}
    b = {"valid_from": "2024-04-01T08:00:00Z", "customer_id": 2002, "note": "x"}
    key_a, key_b = (ev.key([vf], {"valid_from": r["valid_from"]}, "slots") for r in (a, b))
    t = ev.topic("slots")
    moved_out = m.mask(t, key_a, ev.envelope(fields, a, None, "d", "slots"), [("__debezium.newkey", key_b)])
    moved_in = m.mask(t, key_b, ev.envelope(fields, None, b, "c", "slots"), [("__debezium.oldkey", key_a)])
    assert isinstance(moved_out, Masked) and isinstance(moved_in, Masked)
    assert dict(moved_out.headers).get("__debezium.newkey") in (None, moved_in.key)
    assert dict(moved_in.headers).get("__debezium.oldkey") in (None, moved_out.key)


# -- shift keeps years 1-9999 -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [
    ("io.debezium.time.Date", 2_932_896),  # 9999-12-31
    ("io.debezium.time.MicroTimestamp", 253_402_214_400_000_000),  # 9999-12-31T00:00:00
    ("org.apache.kafka.connect.data.Timestamp", -62_135_596_800_000),  # 0001-01-01T00:00:00
])
def test_shift_never_moves_a_date_out_of_years_1_to_9999(name: str, value: int) -> None:
    m = make("  public.t:\n    passthrough: [id]\n    fields:\n      d: {strategy: shift, entity: id, max_days: 90}\n")
    ctype = "int32" if name.endswith("Date") else "int64"
    fields = [ev.col("id", "int32", False), ev.col("d", ctype, False, name=name)]
    for entity in range(1, 12):
        out = m.mask(ev.topic("t"), None, ev.envelope(fields, None, {"id": entity, "d": value}, "c", "t"))
        if isinstance(out, Masked):
            doc = orjson.loads(out.value or b"")
            assert connect_schema.validate(doc["schema"], doc["payload"]) == []
        else:
            assert out.reason.code is BlockCode.TYPE_NOT_PRESERVED and out.reason.column == "d"


# -- the leak guard: what is not a carrier, and forms it must find ------------------------------------------


@pytest.mark.parametrize("value", ["optional", "struct", "payloa", "customers.Key"])
def test_text_that_is_only_in_the_keys_schema_or_framing_is_no_leak(value: str) -> None:
    m = make("  public.customers:\n    fields:\n      id: {strategy: tokenize}\n"
             "      visibility: {strategy: tokenize}\n")
    fields = [ev.col("id", "int32", False), ev.col("visibility", "string", False)]
    out = m.mask(ev.topic("customers"), ev.key(fields[:1], {"id": 1004}),
                 ev.envelope(fields, None, {"id": 1004, "visibility": value}, "c"))
    assert isinstance(out, Masked), out


@pytest.mark.parametrize(("strategy", "value"), [("format-preserve", "000000"), ("hash", "postgresql"),
                                                 ("hash", "home_address"), ("hash", "transaction")])
def test_digits_inside_envelope_numbers_field_names_and_source_metadata_are_no_leak(strategy: str, value: str) -> None:
    m = make(f"  public.customers:\n    passthrough: [id, home_address]\n"
             f"    fields:\n      v: {{strategy: {strategy}}}\n")
    fields = [ev.col("id", "int32", False), ev.col("v", "string", False), ev.col("home_address", "string", True)]
    row = {"id": 1, "v": value, "home_address": None}
    out = m.mask(ev.topic("customers"), None, ev.envelope(fields, None, row, "c"))
    assert isinstance(out, Masked), out


def test_an_ascii_escaped_copy_in_a_passed_header_is_found() -> None:
    m = make("  public.customers:\n    passthrough: [id]\n"
             "    fields:\n      name: {strategy: replace, kind: full_name}\n")
    fields = [ev.col("id", "int32", False), ev.col("name", "string", False)]
    header = ("__debezium.context.actor", b'{"name": "Zo\\u00eb \\u00c5ngstr\\u00f6m"}')
    out = m.mask(ev.topic("customers"), None,
                 ev.envelope(fields, None, {"id": 1, "name": "Zoë Ångström"}, "c"), [header])
    assert isinstance(out, Blocked) and out.reason.code is BlockCode.LEAK_GUARD and out.reason.column == "name"


def test_a_copy_with_an_escape_inside_a_json_column_is_found() -> None:
    m = make("  public.customers:\n    passthrough: [id, audit]\n"
             "    fields:\n      street: {strategy: format-preserve}\n")
    fields = [ev.col("id", "int32", False), ev.col("street", "string", False),
              ev.col("audit", "string", True, name="io.debezium.data.Json", version=1)]
    row = {"id": 1, "street": "1 Main St\nApt 2", "audit": orjson.dumps({"shipping": "1 Main St\nApt 2"}).decode()}
    out = m.mask(ev.topic("customers"), None, ev.envelope(fields, None, row, "c"))
    assert isinstance(out, Blocked) and out.reason.code is BlockCode.LEAK_GUARD and out.reason.column == "street"
    assert "after.audit" in out.reason.detail
