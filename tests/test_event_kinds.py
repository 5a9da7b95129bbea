"""Event kinds are decided by what identifies them, and a kind that is uncertain blocks.

With an embedded schema its Connect name decides (``<topic>.Envelope``, Debezium's Heartbeat,
TransactionMetadataValue, ``<connector>.SchemaChangeValue`` and ``<connector>.MessageValue``), and the
payload must have that kind's shape. Without a schema the shape decides; for the shapes a row can take
too (a bare ``{ts_ms}``, a BEGIN/END record) the topic must be a heartbeat or transaction topic of the
policy. Disagreement is ``uncertain-event-kind``; what Debezium never writes is ``not-debezium``. A
metadata event passes unchanged, and only with the key Debezium gives it.

The defect this guards against: a value with a ``ddl`` key was taken for a schema change, so a row of a
table with a ``ddl`` column (a flattened ExtractNewRecordState record) passed unmasked under
``events.schema_changes: pass``.
"""

from __future__ import annotations

import re
import string
from typing import Any

import orjson
import pytest
from helpers import fixtures_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, EventKind, Masked, Outcome
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy

try:
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path (rootdir without __init__.py)
    import events as ev  # type: ignore[no-redef]

KEY = MasterKey(bytes(range(32)), "t")
PROPS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

BASE_POLICY = """
version: 1
key: {env: STREAMMASK_TEST_KEY, id: t}
tables:
  public.customers:
    passthrough: [id]
    fields:
      email: {strategy: format-preserve}
"""
# Every metadata kind is let through: whatever is not one of them must still block.
PERMISSIVE = "events: {schema_changes: pass, messages: pass}\n"


def make_masker(events: str = PERMISSIVE) -> RecordMasker:
    return RecordMasker(CompiledPolicy(parse_policy((BASE_POLICY + events).encode()), KEY))


@pytest.fixture(scope="module")
def masker() -> RecordMasker:
    return make_masker()


MASKER = make_masker()  # for @given tests: one masker across examples (it keeps only caches)

HEARTBEAT_TOPIC = "__debezium-heartbeat.dbserver1"
TRANSACTION_TOPIC = "dbserver1.transaction"
SCHEMA_CHANGE_TOPIC = "dbserver1"
MESSAGE_TOPIC = "dbserver1.message"
CUSTOMERS_TOPIC = ev.topic("customers")
DATA_TOPICS = [CUSTOMERS_TOPIC, ev.topic("orders"), ev.topic("audit_log", "inventory"), "shop.flat.customers"]


def as_masked(outcome: Outcome) -> Masked:
    assert isinstance(outcome, Masked), f"expected Masked, got {outcome!r}"
    return outcome


def as_blocked(outcome: Outcome, *codes: BlockCode) -> Blocked:
    assert isinstance(outcome, Blocked), f"expected Blocked {codes}, got {outcome!r}"
    assert outcome.reason.code in codes, outcome.reason
    return outcome


def framed(schema: dict[str, Any], payload: Any) -> bytes:
    return orjson.dumps({"schema": schema, "payload": payload})


# -- flattened rows (ExtractNewRecordState) never pass as an event kind ---------------------------------

# Column names that are also Debezium envelope or metadata field names, plus random ones.
SUSPECT_COLUMNS = ["ddl", "op", "ts_ms", "status", "id", "source", "before", "after", "tableChanges",
                   "databaseName", "event_count", "data_collections", "message"]
column_names = st.one_of(
    st.sampled_from(SUSPECT_COLUMNS), st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12)
)
# Free text is wrapped in ‹ › so that any copy of a row value into a block reason is recognisable:
# the reasons are fixed texts that never contain those characters.
MARK_OPEN, MARK_CLOSE = "‹", "›"
marked_text = st.text(max_size=16).map(lambda s: f"{MARK_OPEN}{s}{MARK_CLOSE}")
# Values a row may hold that Debezium's own fields hold too (ops, statuses, a transaction id, DDL).
structural_text = st.sampled_from(["c", "u", "d", "r", "t", "m", "BEGIN", "END", "571:53195829",
                                   "ALTER TABLE customers ADD COLUMN vip BOOLEAN", "shop"])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
    marked_text, structural_text,
)
random_rows = st.dictionaries(column_names, scalars, min_size=1, max_size=8)
# Rows shaped on purpose like each kind, with scalar values only (a flattened row has no nested source).
ints = st.integers(0, 2**53)
heartbeat_like = st.fixed_dictionaries({"ts_ms": ints})
transaction_like = st.fixed_dictionaries(
    {"status": st.sampled_from(["BEGIN", "END"]), "id": st.one_of(marked_text, structural_text)},
    optional={"event_count": st.one_of(st.none(), ints), "data_collections": st.none(), "ts_ms": ints},
)
schema_change_like = st.fixed_dictionaries(
    {"ddl": st.one_of(marked_text, structural_text)},
    optional={"databaseName": marked_text, "source": marked_text, "ts_ms": ints, "tableChanges": marked_text,
              "schemaName": st.none()},
)
change_like = st.fixed_dictionaries(
    {"op": st.sampled_from(["c", "u", "d", "r", "t"])},
    optional={"source": marked_text, "before": st.one_of(st.none(), marked_text),
              "after": st.one_of(st.none(), marked_text), "ts_ms": ints},
)
message_like = st.fixed_dictionaries(
    {"op": st.just("m"), "message": marked_text}, optional={"source": marked_text, "ts_ms": ints}
)
flattened_rows = st.one_of(random_rows, heartbeat_like, transaction_like, schema_change_like, change_like,
                           message_like)


def connect_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


def flattened_schema(row: dict[str, Any], topic: str) -> dict[str, Any]:
    """The value schema ExtractNewRecordState gives a flattened row: a struct named ``<topic>.Value``."""
    return {"type": "struct", "fields": [ev.col(name, connect_type(v), True) for name, v in row.items()],
            "optional": False, "name": f"{topic}.Value"}


def assert_reason_names_no_value(blocked: Blocked, row: dict[str, Any]) -> None:
    reason = blocked.reason
    texts = [reason.describe(), repr(reason)]
    for text in texts:
        assert MARK_OPEN not in text and MARK_CLOSE not in text, f"a row value is in the block reason: {text!r}"
    for value in row.values():
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1000:
            for text in texts:
                assert str(value) not in text, f"row value {value} is in the block reason: {text!r}"


@PROPS
@given(row=flattened_rows, topic=st.sampled_from(DATA_TOPICS), with_schema=st.booleans())
def test_a_flattened_row_on_a_data_topic_is_blocked_whatever_its_columns_are_named(
    row: dict[str, Any], topic: str, with_schema: bool
) -> None:
    value = framed(flattened_schema(row, topic), row) if with_schema else orjson.dumps(row)
    blocked = as_blocked(MASKER.mask(topic, None, value), BlockCode.NOT_DEBEZIUM, BlockCode.UNCERTAIN_KIND)
    assert_reason_names_no_value(blocked, row)


@PROPS
@given(row=st.one_of(heartbeat_like, transaction_like), topic=st.sampled_from(DATA_TOPICS))
def test_a_schemaless_row_shaped_like_a_heartbeat_or_transaction_off_their_topics_is_uncertain(
    row: dict[str, Any], topic: str
) -> None:
    blocked = as_blocked(MASKER.mask(topic, None, orjson.dumps(row)), BlockCode.UNCERTAIN_KIND)
    assert_reason_names_no_value(blocked, row)


@PROPS
@given(row=flattened_rows, topic=st.sampled_from(DATA_TOPICS))
def test_a_flattened_row_with_its_value_schema_and_the_shape_of_an_event_is_uncertain(
    row: dict[str, Any], topic: str
) -> None:
    """Its schema names a table row (``<topic>.Value``), its fields are a Debezium kind's: they disagree."""
    shaped_like_an_event = (
        "op" in row or row.keys() == {"ts_ms"}
        or (row.get("status") in ("BEGIN", "END") and isinstance(row.get("id"), str)
            and row.keys() <= {"status", "id", "event_count", "data_collections", "ts_ms"}
            and row.get("data_collections") is None)
    )
    out = MASKER.mask(topic, None, framed(flattened_schema(row, topic), row))
    if shaped_like_an_event:
        as_blocked(out, BlockCode.UNCERTAIN_KIND)
    else:
        as_blocked(out, BlockCode.NOT_DEBEZIUM, BlockCode.UNCERTAIN_KIND)


@pytest.mark.parametrize("key", [None, b'{"id":7}', b'{"databaseName":"hr"}'], ids=["no-key", "row-key", "ddl-key"])
@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
def test_a_row_of_a_table_with_a_ddl_column_is_not_a_schema_change(
    masker: RecordMasker, with_schema: bool, key: bytes | None
) -> None:
    """The original defect: under ``schema_changes: pass`` this row went out unmasked. (Without a key,
    or with one a schema change could have, the key check cannot be what blocks it.)"""
    row = {"id": 7, "ddl": "CREATE USER anne PASSWORD 's3cret-Kretchmar'", "databaseName": "hr",
           "ts_ms": ev.BASE_TS_MS, "tableChanges": "annek@noanswer.org"}
    topic = ev.topic("migrations", "ops")
    value = framed(flattened_schema(row, topic), row) if with_schema else orjson.dumps(row)
    blocked = as_blocked(masker.mask(topic, key, value), BlockCode.NOT_DEBEZIUM, BlockCode.UNCERTAIN_KIND)
    for secret in ("s3cret", "Kretchmar", "annek"):
        assert secret not in blocked.reason.describe()


# -- genuine metadata events still pass, unchanged ------------------------------------------------------


def message_value(with_schema: bool) -> bytes:
    """Debezium's example message, as the server whose message topic MESSAGE_TOPIC is wrote it."""
    payload = orjson.loads((fixtures_dir() / "postgres-message.payload.json").read_bytes())
    payload["source"]["name"] = ev.SERVER
    if not with_schema:
        return orjson.dumps(payload)
    schema = {
        "type": "struct",
        "fields": [
            ev.envelope_schema([])["fields"][2],  # a source block schema
            ev.col("op", "string", False), ev.col("ts_ms", "int64", True), ev.col("ts_us", "int64", True),
            ev.col("ts_ns", "int64", True),
            {"type": "struct", "fields": [ev.col("prefix", "string", False), ev.col("content", "bytes", False)],
             "optional": True, "name": "io.debezium.connector.postgresql.Message", "field": "message"},
        ],
        "optional": False,
        "name": "io.debezium.connector.postgresql.MessageValue",
    }
    return framed(schema, payload)


def schema_change_key(with_schema: bool) -> bytes:
    if not with_schema:
        return orjson.dumps({"databaseName": "shop"})
    return framed({"type": "struct", "fields": [ev.col("databaseName", "string", False)], "optional": False,
                   "name": "io.debezium.connector.mysql.SchemaChangeKey"}, {"databaseName": "shop"})


DDL = "ALTER TABLE customers ADD COLUMN vip_code VARCHAR(12)"


def genuine(kind: EventKind, with_schema: bool) -> tuple[str, bytes | None, bytes]:
    """(topic, key, value) of a record exactly as Debezium writes it."""
    if kind is EventKind.HEARTBEAT:
        k, v = ev.heartbeat(with_schema=with_schema)
        return HEARTBEAT_TOPIC, k, v
    if kind is EventKind.TRANSACTION:
        k, v = ev.transaction_event("END", collections=[("public.customers", 2)], with_schema=with_schema)
        return TRANSACTION_TOPIC, k, v
    if kind is EventKind.SCHEMA_CHANGE:
        return SCHEMA_CHANGE_TOPIC, schema_change_key(with_schema), ev.schema_change_event(DDL, with_schema=with_schema)
    return MESSAGE_TOPIC, None, message_value(with_schema)


METADATA_KINDS = [EventKind.HEARTBEAT, EventKind.TRANSACTION, EventKind.SCHEMA_CHANGE, EventKind.MESSAGE]


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
@pytest.mark.parametrize("kind", METADATA_KINDS, ids=lambda k: k.value)
def test_a_genuine_metadata_event_passes_unchanged(masker: RecordMasker, kind: EventKind, with_schema: bool) -> None:
    topic, k, v = genuine(kind, with_schema)
    out = as_masked(masker.mask(topic, k, v))
    assert out.kind is kind
    assert out.value == v and out.key == k
    assert out.masked_columns == [] and out.placeholders == []


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
@pytest.mark.parametrize("kind", [EventKind.HEARTBEAT, EventKind.TRANSACTION, EventKind.SCHEMA_CHANGE],
                         ids=lambda k: k.value)
def test_a_metadata_event_without_a_key_passes(masker: RecordMasker, kind: EventKind, with_schema: bool) -> None:
    topic, _, v = genuine(kind, with_schema)
    out = as_masked(masker.mask(topic, None, v))
    assert out.kind is kind and out.value == v and out.key is None


@pytest.mark.parametrize("kind", METADATA_KINDS, ids=lambda k: k.value)
def test_a_metadata_event_with_its_schema_passes_on_any_topic(masker: RecordMasker, kind: EventKind) -> None:
    """With a schema the Connect name decides, not the topic (a renamed heartbeat prefix still works)."""
    _, k, v = genuine(kind, True)
    for topic in ("renamed-heartbeats", "cdc.meta.tx", CUSTOMERS_TOPIC):
        out = as_masked(masker.mask(topic, k, v))
        assert out.kind is kind and out.value == v


# -- custom heartbeat and transaction topics ------------------------------------------------------------

CUSTOM_TOPICS = 'events: {heartbeat_topics: ["hb.*", "beats"], transaction_topics: ["cdc.*.tx-meta"]}\n'


@pytest.mark.parametrize("topic", ["hb.dbserver1", "hb.x", "beats"])
def test_a_schemaless_heartbeat_passes_on_a_custom_heartbeat_topic(topic: str) -> None:
    m = make_masker(CUSTOM_TOPICS)
    k, v = ev.heartbeat(with_schema=False)
    out = as_masked(m.mask(topic, k, v))
    assert out.kind is EventKind.HEARTBEAT and out.value == v


@pytest.mark.parametrize("topic", ["cdc.dbserver1.tx-meta", "cdc.a.b.tx-meta"])
@pytest.mark.parametrize("status", ["BEGIN", "END"])
def test_a_schemaless_transaction_passes_on_a_custom_transaction_topic(topic: str, status: str) -> None:
    m = make_masker(CUSTOM_TOPICS)
    collections = None if status == "BEGIN" else [("public.customers", 3)]
    k, v = ev.transaction_event(status, collections=collections, with_schema=False)
    out = as_masked(m.mask(topic, k, v))
    assert out.kind is EventKind.TRANSACTION and out.value == v


@pytest.mark.parametrize("topic", [HEARTBEAT_TOPIC, "hb", "beats.dbserver1", TRANSACTION_TOPIC, "cdc.dbserver1.tx"])
def test_listing_heartbeat_and_transaction_topics_replaces_the_defaults(topic: str) -> None:
    m = make_masker(CUSTOM_TOPICS)
    for k, v in (ev.heartbeat(with_schema=False), ev.transaction_event("BEGIN", with_schema=False)):
        blocked = as_blocked(m.mask(topic, k, v), BlockCode.UNCERTAIN_KIND)
        assert "topic" in blocked.reason.detail


def test_a_schemaless_heartbeat_on_a_transaction_topic_is_uncertain_and_vice_versa(masker: RecordMasker) -> None:
    k, v = ev.heartbeat(with_schema=False)
    as_blocked(masker.mask(TRANSACTION_TOPIC, k, v), BlockCode.UNCERTAIN_KIND)
    k, v = ev.transaction_event("BEGIN", with_schema=False)
    as_blocked(masker.mask(HEARTBEAT_TOPIC, k, v), BlockCode.UNCERTAIN_KIND)


# -- the schema name and the shape must agree -----------------------------------------------------------

CUSTOMER_FIELDS = [ev.col("id", "int32", False), ev.col("email", "string", False)]
ROW = {"id": 1004, "email": "annek@noanswer.org"}


def payload_and_schema(kind: EventKind) -> tuple[dict[str, Any], dict[str, Any]]:
    """A genuine payload of ``kind`` and the schema Debezium gives it."""
    if kind is EventKind.CHANGE:
        doc = orjson.loads(ev.envelope(CUSTOMER_FIELDS, None, ROW, "c"))
    else:
        doc = orjson.loads(genuine(kind, True)[2])
    return doc["payload"], doc["schema"]


SCHEMA_NAMES = {
    "envelope": f"{CUSTOMERS_TOPIC}.Envelope",
    "heartbeat": "io.debezium.connector.common.Heartbeat",
    "transaction": "io.debezium.connector.common.TransactionMetadataValue",
    "schema-change": "io.debezium.connector.mysql.SchemaChangeValue",
    "message": "io.debezium.connector.postgresql.MessageValue",
    "row-value": f"{CUSTOMERS_TOPIC}.Value",
    "other": "com.example.Audit",
    "none": None,
}
NAME_OF_KIND = {EventKind.CHANGE: "envelope", EventKind.HEARTBEAT: "heartbeat", EventKind.TRANSACTION: "transaction",
                EventKind.SCHEMA_CHANGE: "schema-change", EventKind.MESSAGE: "message"}


@pytest.mark.parametrize("name_id", list(SCHEMA_NAMES))
@pytest.mark.parametrize("kind", list(NAME_OF_KIND), ids=lambda k: k.value)
def test_an_event_passes_only_under_its_own_schema_name(masker: RecordMasker, kind: EventKind, name_id: str) -> None:
    payload, schema = payload_and_schema(kind)
    schema = dict(schema)
    if SCHEMA_NAMES[name_id] is None:
        schema.pop("name", None)
    else:
        schema["name"] = SCHEMA_NAMES[name_id]
    out = masker.mask(CUSTOMERS_TOPIC, None, framed(schema, payload))
    if name_id == NAME_OF_KIND[kind]:
        assert as_masked(out).kind is kind
    else:
        blocked = as_blocked(out, BlockCode.UNCERTAIN_KIND)
        assert "annek" not in blocked.reason.describe()


@pytest.mark.parametrize("connector", ["mysql", "postgresql", "sqlserver", "oracle", "db2"])
def test_schema_change_and_message_names_of_any_connector_identify_their_kind(
    masker: RecordMasker, connector: str
) -> None:
    for kind, suffix in ((EventKind.SCHEMA_CHANGE, "SchemaChangeValue"), (EventKind.MESSAGE, "MessageValue")):
        payload, schema = payload_and_schema(kind)
        named = {**schema, "name": f"io.debezium.connector.{connector}.{suffix}"}
        assert as_masked(masker.mask("x", None, framed(named, payload))).kind is kind
        misnamed = {**schema, "name": f"io.debezium.connector.{connector}.{suffix}X"}
        as_blocked(masker.mask("x", None, framed(misnamed, payload)), BlockCode.UNCERTAIN_KIND)


EXTRA_FIELDS: list[tuple[str, Any]] = [("email", "annek@noanswer.org"), ("after", {"email": "annek@noanswer.org"}),
                                       ("ts_us", 1_717_412_400_000_123)]
# ts_us is a field of schema-change and message events (SCHEMA_CHANGE_FIELDS, MESSAGE_FIELDS): not extra there.
EXTRA_CASES = [(kind, extra) for kind in METADATA_KINDS for extra in EXTRA_FIELDS
               if not (extra[0] == "ts_us" and kind in (EventKind.SCHEMA_CHANGE, EventKind.MESSAGE))]


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
@pytest.mark.parametrize(("kind", "extra"), EXTRA_CASES, ids=[f"{k.value}-{e[0]}" for k, e in EXTRA_CASES])
def test_a_metadata_event_with_a_field_debezium_does_not_give_it_blocks(
    masker: RecordMasker, kind: EventKind, extra: tuple[str, Any], with_schema: bool
) -> None:
    topic, k, v = genuine(kind, with_schema)
    doc = orjson.loads(v)
    name, value = extra
    (doc["payload"] if with_schema else doc)[name] = value
    blocked = as_blocked(masker.mask(topic, k, orjson.dumps(doc)), BlockCode.NOT_DEBEZIUM, BlockCode.UNCERTAIN_KIND)
    if with_schema:
        assert blocked.reason.code is BlockCode.UNCERTAIN_KIND  # the name says one kind, the shape another
    assert "annek" not in blocked.reason.describe()


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
def test_a_transaction_whose_data_collections_carry_other_fields_blocks(
    masker: RecordMasker, with_schema: bool
) -> None:
    k, v = ev.transaction_event("END", collections=[("public.customers", 1)], with_schema=with_schema)
    doc = orjson.loads(v)
    payload = doc["payload"] if with_schema else doc
    payload["data_collections"][0]["email"] = "annek@noanswer.org"
    as_blocked(masker.mask(TRANSACTION_TOPIC, k, orjson.dumps(doc)), BlockCode.NOT_DEBEZIUM, BlockCode.UNCERTAIN_KIND)


# -- metadata events pass only with the key Debezium gives them ------------------------------------------


def keyed(payload: Any, with_schema: bool) -> bytes:
    if not with_schema:
        return orjson.dumps(payload)
    fields = [ev.col(n, "string" if isinstance(v, str) else "int64", True) for n, v in (payload or {}).items()]
    return framed({"type": "struct", "fields": fields, "optional": False, "name": "some.Key"}, payload)


RIGHT_KEY = {EventKind.HEARTBEAT: {"serverName": "dbserver1"}, EventKind.TRANSACTION: {"id": "571:53195829"},
             EventKind.SCHEMA_CHANGE: {"databaseName": "shop"}}
OTHER_KIND = {EventKind.HEARTBEAT: EventKind.SCHEMA_CHANGE, EventKind.TRANSACTION: EventKind.HEARTBEAT,
              EventKind.SCHEMA_CHANGE: EventKind.HEARTBEAT}


def wrong_keys(kind: EventKind) -> dict[str, Any]:
    """Keys Debezium never gives a ``kind`` event: each could carry row data."""
    return {
        "row-key": {"id": 1004} if kind is not EventKind.TRANSACTION else {"customer_id": "1004"},
        "extra-field": {**RIGHT_KEY[kind], "email": "annek@noanswer.org"},
        "other-kinds-key": RIGHT_KEY[OTHER_KIND[kind]],
        "email": {"email": "annek@noanswer.org"},
        "not-a-struct": "annek@noanswer.org",
        "a-list": ["annek@noanswer.org"],
    }


KEY_CASES = [(kind, label, key_schema) for kind in RIGHT_KEY for label, payload in wrong_keys(kind).items()
             for key_schema in (True, False) if isinstance(payload, dict) or not key_schema]


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
@pytest.mark.parametrize(
    ("kind", "label", "key_schema"), KEY_CASES,
    ids=[f"{k.value}-{label}-{'key-schema' if s else 'key-schemaless'}" for k, label, s in KEY_CASES],
)
def test_a_metadata_event_with_a_key_debezium_does_not_give_it_is_uncertain(
    masker: RecordMasker, kind: EventKind, label: str, key_schema: bool, with_schema: bool
) -> None:
    topic, _, v = genuine(kind, with_schema)
    blocked = as_blocked(masker.mask(topic, keyed(wrong_keys(kind)[label], key_schema), v), BlockCode.UNCERTAIN_KIND)
    assert blocked.kind is kind
    assert "annek" not in blocked.reason.describe()


@pytest.mark.parametrize("kind", list(RIGHT_KEY), ids=lambda k: k.value)
def test_a_metadata_key_whose_field_is_not_text_is_uncertain(masker: RecordMasker, kind: EventKind) -> None:
    (field,) = RIGHT_KEY[kind]
    topic, _, v = genuine(kind, False)
    for bad in (1004, {"email": "annek@noanswer.org"}, ["x"], True):
        as_blocked(masker.mask(topic, orjson.dumps({field: bad}), v), BlockCode.UNCERTAIN_KIND)


def test_nothing_debezium_writes_is_not_debezium(masker: RecordMasker) -> None:
    for value in ([1, 2], "annek@noanswer.org", 42, None, {}, {"email": "annek@noanswer.org"}):
        blocked = as_blocked(masker.mask(CUSTOMERS_TOPIC, None, orjson.dumps(value)), BlockCode.NOT_DEBEZIUM)
        assert "annek" not in blocked.reason.describe()


def test_a_block_reason_for_an_uncertain_kind_says_what_disagrees(masker: RecordMasker) -> None:
    k, v = ev.heartbeat(with_schema=False)
    detail = as_blocked(masker.mask(CUSTOMERS_TOPIC, k, v), BlockCode.UNCERTAIN_KIND).reason.detail
    assert re.search(r"heartbeat", detail) and "heartbeat_topics" in detail
