"""Envelope semantics of RecordMasker: what is masked, what passes, and that everything else blocks
(fail closed) without a value of the record in the block reason."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import fixtures_dir

from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, EventKind, Masked, Outcome
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy

try:
    from tests import connect_schema
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path (rootdir without __init__.py)
    import connect_schema  # type: ignore[no-redef]
    import events as ev  # type: ignore[no-redef]

FIXTURES = fixtures_dir()
KEY = MasterKey(bytes(range(32)), "t")

POLICY = b"""
version: 1
key: {env: STREAMMASK_TEST_KEY, id: t}
tables:
  public.customers:
    passthrough: [created_at]
    fields:
      id:         {strategy: tokenize, domain: customer_id}
      first_name: {strategy: replace, kind: first_name}
      last_name:  {strategy: replace, kind: last_name}
      email:      {strategy: format-preserve}
      birth_date: {strategy: shift, entity: id, max_days: 90}
  public.orders:
    passthrough: [id, total]
    fields:
      customer_id: {strategy: tokenize, domain: customer_id}
      placed_at:   {strategy: shift, entity: customer_id, max_days: 90}
  public.accounts:
    passthrough: [id]
    fields:
      nickname: {strategy: shift, entity: id}
      counter:  {strategy: tokenize}
      handle:   {strategy: tokenize}
  shop.customers:
    passthrough: [created_at]
    fields:
      id:         {strategy: tokenize, domain: customer_id}
      first_name: {strategy: replace, kind: first_name}
      last_name:  {strategy: replace, kind: last_name}
      email:      {strategy: format-preserve}
      birth_date: {strategy: shift, entity: id, max_days: 90}
  inventory.customers:
    passthrough: [_id]
    fields:
      email: {strategy: format-preserve}
  DEBEZIUM.CUSTOMERS:
    passthrough: [ID]
    fields:
      EMAIL: {strategy: format-preserve}
"""

# -- helpers -------------------------------------------------------------------------------------------


def policy_with(extra: str = "", base: bytes = POLICY) -> bytes:
    return base + extra.encode()


def make_masker(policy: bytes = POLICY, key: MasterKey = KEY) -> RecordMasker:
    return RecordMasker(CompiledPolicy(parse_policy(policy), key))


@pytest.fixture(scope="module")
def masker() -> RecordMasker:
    return make_masker()


def as_masked(outcome: Outcome) -> Masked:
    assert isinstance(outcome, Masked), f"expected Masked, got {outcome!r}"
    return outcome


def as_blocked(
    outcome: Outcome, code: BlockCode, secrets: list[str], table: str | None = None, column: str | None = None
) -> Blocked:
    """A Blocked with this code (and table/column when given) naming none of the record's values."""
    assert isinstance(outcome, Blocked), f"expected Blocked {code}, got {outcome!r}"
    reason = outcome.reason
    assert reason.code is code, reason
    if table is not None:
        assert reason.table == table, reason
    if column is not None:
        assert reason.column == column, reason
    assert_no_secret(reason, secrets)
    return outcome


def assert_no_secret(reason: Any, secrets: list[str]) -> None:
    texts = [reason.detail, reason.table or "", reason.column or "", reason.describe(), repr(reason)]
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"value {secret!r} leaked into the block reason: {text!r}"


def load(data: bytes | None) -> Any:
    assert data is not None
    return orjson.loads(data)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


CUSTOMER_FIELDS = [
    ev.col("id", "int32", False),
    ev.col("first_name", "string", False),
    ev.col("last_name", "string", False),
    ev.col("email", "string", False),
    ev.col("birth_date", "int32", True, name="io.debezium.time.Date", version=1),
    ev.col("created_at", "int64", False, name="io.debezium.time.MicroTimestamp", version=1),
]
KEY_FIELDS = [ev.col("id", "int32", False)]
ANNE = {
    "id": 1004,
    "first_name": "Annelise",
    "last_name": "Kretchmar",
    "email": "annek@noanswer.org",
    "birth_date": ev.days(dt.date(1984, 7, 12)),
    "created_at": ev.micros(dt.datetime(2024, 3, 5, 10, 15, 30, 123456)),
}
SECRETS = ["Annelise", "Kretchmar", "annek@noanswer.org", "annek", "noanswer"]
OUTPUT_SECRETS = ["Annelise", "Kretchmar", "annek@"]  # format-preserve keeps the e-mail domain
ORDER_FIELDS = [
    ev.col("id", "int64", False),
    ev.col("customer_id", "int64", False),
    ev.col("total", "bytes", False, name="org.apache.kafka.connect.data.Decimal", version=1,
           parameters={"scale": "2", "connect.decimal.precision": "10"}),
    ev.col("placed_at", "int64", False, name="io.debezium.time.MicroTimestamp", version=1),
]
CUSTOMERS_TOPIC = ev.topic("customers")


def customer_event(op: str = "c", row: dict[str, Any] | None = None, with_schema: bool = True,
                   fields: list[dict[str, Any]] | None = None, **kw: Any) -> bytes:
    if row is None:
        # Without a schema a date is a bare int: shift cannot know it is a date (see
        # test_schemaless_int_date_blocks), so schemaless rows leave birth_date out.
        row = dict(ANNE) if with_schema else {k: v for k, v in ANNE.items() if k != "birth_date"}
    row = dict(row)
    before, after = (row, None) if op == "d" else (None, row)
    return ev.envelope(fields or CUSTOMER_FIELDS, before, after, op, with_schema=with_schema, **kw)


def customer_key(cid: int = 1004, with_schema: bool = True) -> bytes:
    return ev.key(KEY_FIELDS, {"id": cid}, with_schema=with_schema)


def assert_valid(value: bytes) -> None:
    doc = load(value)
    assert connect_schema.validate(doc["schema"], doc["payload"]) == []


# -- the shared Debezium fixtures ---------------------------------------------------------------------

FIXTURE_SOURCE_QUIRK = "$.source.sequence: field not declared in the struct schema"


def test_fixture_create_with_schema(masker: RecordMasker) -> None:
    raw = fixture("postgres-create.json")
    doc = load(raw)
    out = as_masked(masker.mask("PostgreSQL_server.public.customers", None, raw))
    assert out.kind is EventKind.CHANGE and out.table == "public.customers" and out.op == "c"
    masked = load(out.value)
    assert masked["schema"] == doc["schema"]
    # The documentation example's source carries `sequence`, which its schema does not declare: the
    # only problem of the input, and masking adds none.
    assert connect_schema.validate(doc["schema"], doc["payload"]) == [FIXTURE_SOURCE_QUIRK]
    assert connect_schema.validate(masked["schema"], masked["payload"]) == [FIXTURE_SOURCE_QUIRK]
    row_schema = doc["schema"]["fields"][1]
    assert row_schema["field"] == "after"
    assert connect_schema.validate(row_schema, masked["payload"]["after"]) == []
    for untouched in ("source", "op", "ts_ms", "ts_us", "ts_ns", "before"):
        assert masked["payload"][untouched] == doc["payload"][untouched]
    after, original = masked["payload"]["after"], doc["payload"]["after"]
    assert set(after) == set(original)
    for column in ("id", "first_name", "last_name", "email"):
        assert after[column] != original[column], column
    assert after["email"].endswith("@noanswer.org") and len(after["email"]) == len(original["email"])
    for secret in ("Anne", "Kretchmar", "annek@"):
        assert secret.encode() not in out.value


def test_fixture_update_delete_tombstone_schemaless(masker: RecordMasker) -> None:
    create = load(as_masked(masker.mask(CUSTOMERS_TOPIC, None, fixture("postgres-create.json"))).value)["payload"]
    token = create["after"]["id"]

    update_in = load(fixture("postgres-update.payload.json"))
    update = as_masked(masker.mask(CUSTOMERS_TOPIC, b'{"id":1}', fixture("postgres-update.payload.json")))
    assert update.op == "u" and update.table == "public.customers"
    upd = load(update.value)
    assert upd["before"] == {"id": token}  # REPLICA IDENTITY DEFAULT: the key column only
    assert upd["after"]["id"] == token
    assert upd["after"]["first_name"] != "Anne Marie"
    assert upd["after"]["last_name"] == create["after"]["last_name"]  # same value, same pseudonym
    assert upd["after"]["email"] == create["after"]["email"]
    assert upd["source"] == update_in["source"]
    assert load(update.key) == {"id": token}

    delete = as_masked(masker.mask(CUSTOMERS_TOPIC, b'{"id":1}', fixture("postgres-delete.payload.json")))
    dele = load(delete.value)
    assert dele["before"] == {"id": token} and dele["after"] is None and dele["op"] == "d"
    assert load(delete.key) == {"id": token}

    tomb = as_masked(masker.mask(CUSTOMERS_TOPIC, b'{"id":1}', None))
    assert tomb.kind is EventKind.TOMBSTONE and tomb.value is None and tomb.table == "public.customers"
    assert tomb.key == delete.key


def test_fixture_truncate_passes_unchanged(masker: RecordMasker) -> None:
    raw = fixture("postgres-truncate.payload.json")
    out = as_masked(masker.mask(CUSTOMERS_TOPIC, None, raw))
    assert out.op == "t" and out.kind is EventKind.CHANGE and out.key is None
    assert load(out.value) == load(raw)


def test_fixture_truncate_of_unknown_table_blocks(masker: RecordMasker) -> None:
    doc = load(fixture("postgres-truncate.payload.json"))
    doc["source"]["table"] = "payroll"
    as_blocked(masker.mask("x", None, orjson.dumps(doc)), BlockCode.UNKNOWN_TABLE, [], table="public.payroll")


def test_fixture_message_blocked_by_default(masker: RecordMasker) -> None:
    out = masker.mask("PostgreSQL_server.message", None, fixture("postgres-message.payload.json"))
    blocked = as_blocked(out, BlockCode.MESSAGE, ["Ymfy", "foo"])
    assert blocked.kind is EventKind.MESSAGE


@pytest.mark.parametrize("mode", ["pass", "redact"])
def test_fixture_message_pass_or_redact(mode: str) -> None:
    m = make_masker(policy_with(f"events: {{messages: {mode}}}\n"))
    raw = fixture("postgres-message.payload.json")
    out = as_masked(m.mask("PostgreSQL_server.message", None, raw, [("__debezium.context.connectorName", b"pg")]))
    assert out.kind is EventKind.MESSAGE and out.op == "m"
    assert out.headers == [("__debezium.context.connectorName", b"pg")]
    doc, masked = load(raw), load(out.value)
    if mode == "pass":
        assert masked == doc
    else:
        assert masked["message"] == {"prefix": "foo", "content": ""}
        assert {k: v for k, v in masked.items() if k != "message"} == {k: v for k, v in doc.items() if k != "message"}
        assert base64.b64decode(masked["message"]["content"], validate=True) == b""


def test_message_with_schema_redacted_stays_valid() -> None:
    m = make_masker(policy_with("events: {messages: redact}\n"))
    message_schema = {
        "type": "struct",
        "fields": [col for col in (
            ev.envelope_schema([])["fields"][2],  # source
            ev.col("op", "string", False),
            ev.col("ts_ms", "int64", True),
            {"type": "struct", "fields": [ev.col("prefix", "string", False), ev.col("content", "bytes", False)],
             "optional": True, "name": "io.debezium.connector.postgresql.Message", "field": "message"},
        )],
        "optional": False,
        "name": "io.debezium.connector.postgresql.MessageValue",
    }
    payload = {"source": ev.source_block("", ""), "op": "m", "ts_ms": ev.BASE_TS_MS,
               "message": {"prefix": "audit", "content": ev.b64(b"user annek@noanswer.org logged in")}}
    assert connect_schema.validate(message_schema, payload) == []
    out = as_masked(m.mask("dbserver1.message", None, orjson.dumps({"schema": message_schema, "payload": payload})))
    assert b"annek" not in (out.value or b"")
    assert_valid(out.value or b"")


# -- record keys ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_schema", [True, False], ids=["key-schema", "key-schemaless"])
def test_key_is_masked_like_the_row(masker: RecordMasker, with_schema: bool) -> None:
    out = as_masked(masker.mask(CUSTOMERS_TOPIC, customer_key(with_schema=with_schema),
                                customer_event(with_schema=with_schema)))
    after = load(out.value)["payload" if with_schema else "after"]
    if with_schema:
        after = after["after"]
    key_doc = load(out.key)
    key_payload = key_doc["payload"] if with_schema else key_doc
    assert key_payload == {"id": after["id"]}
    assert after["id"] != ANNE["id"]
    if with_schema:
        assert key_doc["schema"] == load(customer_key())["schema"]
        assert connect_schema.validate(key_doc["schema"], key_payload) == []
        assert_valid(out.value or b"")


def test_key_with_and_without_schema_give_the_same_token(masker: RecordMasker) -> None:
    a = load(as_masked(masker.mask(CUSTOMERS_TOPIC, customer_key(with_schema=True), customer_event())).key)
    b = load(as_masked(masker.mask(CUSTOMERS_TOPIC, customer_key(with_schema=False),
                                   customer_event(with_schema=False))).key)
    assert a["payload"] == b


@pytest.mark.parametrize("with_schema", [True, False], ids=["key-schema", "key-schemaless"])
def test_tombstone_key_matches_the_create(masker: RecordMasker, with_schema: bool) -> None:
    k = customer_key(with_schema=with_schema)
    create = as_masked(masker.mask(CUSTOMERS_TOPIC, k, customer_event(with_schema=with_schema)))
    delete = as_masked(masker.mask(CUSTOMERS_TOPIC, k, customer_event("d", with_schema=with_schema)))
    # a fresh masker (nothing cached from the create) must agree too
    tomb = as_masked(make_masker().mask(CUSTOMERS_TOPIC, k, None))
    assert tomb.kind is EventKind.TOMBSTONE and tomb.value is None and tomb.table == "public.customers"
    assert tomb.key == create.key == delete.key
    assert str(ANNE["id"]).encode() not in (tomb.key or b"")


def test_tombstone_table_from_key_schema_name_not_topic(masker: RecordMasker) -> None:
    tomb = as_masked(masker.mask("rerouted-topic", customer_key(), None))
    assert tomb.table == "public.customers"


def test_tombstone_of_unknown_table_blocks(masker: RecordMasker) -> None:
    k = ev.key([ev.col("email", "string", False)], {"email": "annek@noanswer.org"}, table="newsletter")
    out = masker.mask(ev.topic("newsletter"), k, None)
    blocked = as_blocked(out, BlockCode.UNKNOWN_TABLE, SECRETS)
    assert blocked.kind is EventKind.TOMBSTONE
    schemaless = masker.mask(ev.topic("newsletter"), b'{"email":"annek@noanswer.org"}', None)
    as_blocked(schemaless, BlockCode.UNKNOWN_TABLE, SECRETS)


def test_tombstone_without_key_passes(masker: RecordMasker) -> None:
    out = as_masked(masker.mask(CUSTOMERS_TOPIC, None, None))
    assert out.key is None and out.value is None and out.kind is EventKind.TOMBSTONE


def test_key_with_unclassified_column_blocks(masker: RecordMasker) -> None:
    k = ev.key(KEY_FIELDS + [ev.col("ssn", "string", False)], {"id": 1004, "ssn": "123-45-6789"})
    as_blocked(masker.mask(CUSTOMERS_TOPIC, k, customer_event()), BlockCode.UNCLASSIFIED_COLUMN,
               SECRETS + ["123-45-6789"], table="public.customers", column="ssn")


# -- fail closed ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
def test_unknown_table_blocks(masker: RecordMasker, with_schema: bool) -> None:
    value = ev.envelope(CUSTOMER_FIELDS, None, ANNE, "c", table="employees", with_schema=with_schema)
    out = masker.mask(ev.topic("employees"), ev.key(KEY_FIELDS, {"id": 1004}, table="employees"), value)
    blocked = as_blocked(out, BlockCode.UNKNOWN_TABLE, SECRETS, table="public.employees")
    assert blocked.kind is EventKind.CHANGE and blocked.op == "c"
    assert "public.employees" in blocked.reason.describe()


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
@pytest.mark.parametrize("side", ["after", "before"])
def test_unclassified_column_blocks(masker: RecordMasker, with_schema: bool, side: str) -> None:
    fields = [*CUSTOMER_FIELDS, ev.col("ssn", "string", True)]
    row = {**ANNE, "ssn": "123-45-6789"}
    if not with_schema:
        del row["birth_date"]
    value = ev.envelope(fields, row if side == "before" else None, row if side == "after" else None,
                        "c" if side == "after" else "d", with_schema=with_schema)
    out = masker.mask(CUSTOMERS_TOPIC, customer_key(), value)
    blocked = as_blocked(out, BlockCode.UNCLASSIFIED_COLUMN, SECRETS + ["123-45-6789"],
                         table="public.customers", column="ssn")
    assert "ssn" in blocked.reason.describe()


def test_schemaless_int_date_blocks(masker: RecordMasker) -> None:
    """Without a schema an io.debezium.time.Date is a bare int: shift refuses it rather than guess."""
    value = ev.envelope(CUSTOMER_FIELDS, None, ANNE, "c", with_schema=False)
    as_blocked(masker.mask(CUSTOMERS_TOPIC, None, value), BlockCode.NOT_APPLICABLE,
               SECRETS + [str(ANNE["birth_date"])], table="public.customers", column="birth_date")


def test_unclassified_column_blocks_even_when_null(masker: RecordMasker) -> None:
    fields = [*CUSTOMER_FIELDS, ev.col("ssn", "string", True)]
    out = masker.mask(CUSTOMERS_TOPIC, None, ev.envelope(fields, None, {**ANNE, "ssn": None}, "c"))
    as_blocked(out, BlockCode.UNCLASSIFIED_COLUMN, SECRETS, column="ssn")


def test_strategy_not_applicable_to_schema_type_blocks(masker: RecordMasker) -> None:
    fields = [ev.col("id", "int32", False), ev.col("nickname", "string", True)]
    value = ev.envelope(fields, None, {"id": 7, "nickname": "Kretchmar"}, "c", table="accounts")
    blocked = as_blocked(masker.mask(ev.topic("accounts"), None, value), BlockCode.NOT_APPLICABLE,
                         ["Kretchmar"], table="public.accounts", column="nickname")
    assert "shift" in blocked.reason.detail and "string" in blocked.reason.detail


def test_strategy_not_applicable_even_when_value_is_null(masker: RecordMasker) -> None:
    """Compile-time type check: a null today does not let a wrong policy through tomorrow."""
    fields = [ev.col("id", "int32", False), ev.col("nickname", "string", True)]
    value = ev.envelope(fields, None, {"id": 7, "nickname": None}, "c", table="accounts")
    as_blocked(make_masker().mask(ev.topic("accounts"), None, value), BlockCode.NOT_APPLICABLE, [],
               column="nickname")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"before":null,"after":{"id":1004,"email":"annek@noanswer.org"',
        b'{"schema":{"type":"struct"},"payload":{"after":{"email":"annek@noanswer.org"}}',
        b"\xff\xfeannek@noanswer.org",
        b"",
    ],
    ids=["truncated", "truncated-framed", "not-utf8", "empty"],
)
def test_invalid_json_is_undecodable(masker: RecordMasker, raw: bytes) -> None:
    as_blocked(masker.mask(CUSTOMERS_TOPIC, None, raw), BlockCode.UNDECODABLE, SECRETS)


@pytest.mark.parametrize("kind", ["change", "tombstone", "heartbeat"])
def test_an_invalid_key_is_undecodable_key_not_undecodable(masker: RecordMasker, kind: str) -> None:
    """Issue 12: the key has its own format and converter, so its own code says which part did not decode."""
    bad_key = b'{"id":1004,"email":"annek@noanswer.org"'
    topic, value = {
        "change": (CUSTOMERS_TOPIC, customer_event()),
        "tombstone": (CUSTOMERS_TOPIC, None),
        "heartbeat": ("__debezium-heartbeat.dbserver1", ev.heartbeat()[1]),
    }[kind]
    blocked = as_blocked(masker.mask(topic, bad_key, value), BlockCode.UNDECODABLE_KEY, SECRETS)
    assert blocked.reason.detail == "record key is not valid JSON"
    assert blocked.reason.describe().startswith("undecodable-key:")


@pytest.mark.parametrize(
    "raw",
    [b'["annek@noanswer.org"]', b'"annek@noanswer.org"', b'{"email":"annek@noanswer.org"}', b"null"],
    ids=["array", "string", "object", "null"],
)
def test_not_debezium_blocks(masker: RecordMasker, raw: bytes) -> None:
    as_blocked(masker.mask(CUSTOMERS_TOPIC, None, raw), BlockCode.NOT_DEBEZIUM, SECRETS)


def test_unknown_op_blocks(masker: RecordMasker) -> None:
    value = customer_event("x", with_schema=False)
    as_blocked(masker.mask(CUSTOMERS_TOPIC, None, value), BlockCode.NOT_DEBEZIUM, SECRETS)


def test_mongodb_update_description_blocks(masker: RecordMasker) -> None:
    payload = {
        "before": None,
        "after": None,
        "updateDescription": {
            "removedFields": None,
            "updatedFields": '{"email": "annek@noanswer.org", "name": "Annelise Kretchmar"}',
            "truncatedArrays": None,
        },
        "source": {"version": "3.2.0.Final", "connector": "mongodb", "name": "mongo1", "ts_ms": ev.BASE_TS_MS,
                   "snapshot": "false", "db": "inventory", "sequence": None, "rs": "rs0",
                   "collection": "customers", "ord": 1, "lsid": None, "txnNumber": None},
        "op": "u",
        "ts_ms": ev.BASE_TS_MS + 1,
    }
    out = masker.mask("mongo1.inventory.customers", b'{"id":"{\\"$oid\\": \\"596e275826f08b2730779e1f\\"}"}',
                      orjson.dumps(payload))
    blocked = as_blocked(out, BlockCode.UNKNOWN_FIELD, SECRETS, table="inventory.customers")
    assert "updateDescription" in blocked.reason.detail


def test_value_that_cannot_be_masked_blocks(masker: RecordMasker) -> None:
    fields = [ev.col("id", "int32", False), ev.col("counter", "int32", False)]
    value = ev.envelope(fields, None, {"id": 7, "counter": 3_000_000_000}, "c", table="accounts")
    as_blocked(masker.mask(ev.topic("accounts"), None, value), BlockCode.MASKING_FAILED, ["3000000000"],
               table="public.accounts", column="counter")


def test_value_of_the_wrong_json_type_blocks(masker: RecordMasker) -> None:
    fields = [ev.col("id", "int32", False), ev.col("counter", "int32", False)]
    value = ev.envelope(fields, None, {"id": 7, "counter": "annek@noanswer.org"}, "c", table="accounts")
    as_blocked(masker.mask(ev.topic("accounts"), None, value), BlockCode.MASKING_FAILED, SECRETS,
               column="counter")


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
def test_non_ascii_text_that_tokenize_cannot_permute_blocks(masker: RecordMasker, with_schema: bool) -> None:
    fields = [ev.col("id", "int32", False), ev.col("handle", "string", False)]
    value = ev.envelope(fields, None, {"id": 7, "handle": "Zoë-Kretchmar"}, "c", table="accounts",
                        with_schema=with_schema)
    as_blocked(masker.mask(ev.topic("accounts"), None, value), BlockCode.MASKING_FAILED,
               ["Zoë", "Kretchmar"], column="handle")


def test_row_that_is_not_a_struct_blocks(masker: RecordMasker) -> None:
    value = orjson.dumps(ev.envelope_payload(None, None, "c") | {"after": '{"email": "annek@noanswer.org"}'})
    as_blocked(masker.mask(CUSTOMERS_TOPIC, None, value), BlockCode.MASKING_FAILED, SECRETS)


def test_shift_without_its_entity_blocks(masker: RecordMasker) -> None:
    fields = [ev.col("email", "string", False), CUSTOMER_FIELDS[4]]
    row = {"email": "annek@noanswer.org", "birth_date": ANNE["birth_date"]}
    value = ev.envelope(fields, None, row, "c")
    as_blocked(masker.mask(CUSTOMERS_TOPIC, None, value), BlockCode.MASKING_FAILED,
               SECRETS + [str(ANNE["birth_date"])], column="birth_date")


# -- metadata events -----------------------------------------------------------------------------------


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
@pytest.mark.parametrize("status", ["BEGIN", "END"])
def test_transaction_metadata_passes_unchanged(masker: RecordMasker, with_schema: bool, status: str) -> None:
    collections = None if status == "BEGIN" else [("public.customers", 2), ("public.orders", 1)]
    k, v = ev.transaction_event(status, collections=collections, with_schema=with_schema)
    if with_schema and status == "BEGIN":
        doc = load(v)
        assert doc["payload"] == {"status": "BEGIN", "id": "571:53195829", "event_count": None,
                                  "data_collections": None, "ts_ms": ev.BASE_TS_MS}
        assert connect_schema.validate(doc["schema"], doc["payload"]) == []
    headers = [("__debezium.context.connectorName", b"postgres"), ("x-trace", b"abc")]
    out = as_masked(masker.mask("dbserver1.transaction", k, v, headers))
    assert out.kind is EventKind.TRANSACTION
    assert out.value == v and out.key == k
    assert out.headers == [("__debezium.context.connectorName", b"postgres")]


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
def test_heartbeat_passes_unchanged(masker: RecordMasker, with_schema: bool) -> None:
    k, v = ev.heartbeat(with_schema=with_schema)
    out = as_masked(masker.mask("__debezium-heartbeat.dbserver1", k, v))
    assert out.kind is EventKind.HEARTBEAT
    assert out.value == v and out.key == k


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
def test_schema_change_blocked_by_default_and_passed_when_allowed(masker: RecordMasker, with_schema: bool) -> None:
    ddl = "ALTER TABLE customers ADD COLUMN vip_code VARCHAR(12) DEFAULT 'KRETCHMAR-01'"
    v = ev.schema_change_event(ddl, with_schema=with_schema)
    k = orjson.dumps({"databaseName": "shop"})
    blocked = as_blocked(masker.mask("dbserver1", k, v), BlockCode.SCHEMA_CHANGE, ["KRETCHMAR", "vip_code"])
    assert blocked.kind is EventKind.SCHEMA_CHANGE
    passing = make_masker(policy_with("events: {schema_changes: pass}\n"))
    out = as_masked(passing.mask("dbserver1", k, v))
    assert out.kind is EventKind.SCHEMA_CHANGE and out.value == v and out.key == k


# -- source block -----------------------------------------------------------------------------------------


def test_mysql_source_query_is_nulled() -> None:
    m = make_masker()
    query = ("INSERT INTO customers (id, first_name, last_name, email) "
             "VALUES (1004, 'Annelise', 'Kretchmar', 'annek@noanswer.org')")
    row = {k: v for k, v in ANNE.items()}
    value = ev.envelope(CUSTOMER_FIELDS, None, row, "c", schema=None, source_extra={"query": query})
    k = ev.key(KEY_FIELDS, {"id": 1004}, schema=None)
    out = as_masked(m.mask(ev.topic("customers", None), k, value))
    assert out.table == "shop.customers"
    doc, masked = load(value), load(out.value)
    assert masked["payload"]["source"] == {**doc["payload"]["source"], "query": None}
    assert masked["schema"] == doc["schema"]
    assert_valid(out.value or b"")
    for secret in OUTPUT_SECRETS:
        assert secret.encode() not in (out.value or b"")
        assert secret.encode() not in (out.key or b"")


def test_mysql_source_without_query_is_untouched() -> None:
    row = {k: v for k, v in ANNE.items() if k != "birth_date"}
    value = ev.envelope(CUSTOMER_FIELDS, None, row, "c", schema=None, with_schema=False)
    out = as_masked(make_masker().mask(ev.topic("customers", None), None, value))
    assert load(out.value)["source"] == load(value)["source"]


def test_oracle_source_redo_sql_is_nulled() -> None:
    """Oracle LogMiner with log.mining.include.redo.sql=true copies the redo SQL into source.redo_sql."""
    redo = "insert into \"DEBEZIUM\".\"CUSTOMERS\"(\"ID\",\"EMAIL\") values ('1004','annek@noanswer.org');"
    payload = {
        "before": None,
        "after": {"ID": 1004, "EMAIL": "annek@noanswer.org"},
        "source": {"version": "3.2.0.Final", "connector": "oracle", "name": "server1", "ts_ms": ev.BASE_TS_MS,
                   "snapshot": "false", "db": "ORCLPDB1", "sequence": None, "schema": "DEBEZIUM",
                   "table": "CUSTOMERS", "txId": "0a001b00e8030000", "scn": "2868546", "commit_scn": "2868547",
                   "user_name": "DEBEZIUM", "redo_sql": redo, "row_id": "AAAR+YAAEAAAAFbAAA"},
        "op": "c",
        "ts_ms": ev.BASE_TS_MS + 3,
    }
    out = as_masked(make_masker().mask("server1.DEBEZIUM.CUSTOMERS", None, orjson.dumps(payload)))
    masked = load(out.value)
    assert masked["source"]["redo_sql"] is None
    assert b"annek" not in (out.value or b"")


# -- headers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
def test_headers(masker: RecordMasker, with_schema: bool) -> None:
    old_key, new_key = customer_key(1003, with_schema), customer_key(1004, with_schema)
    headers = [
        ("__debezium.oldkey", old_key),
        ("__debezium.newkey", new_key),
        ("__debezium.context.connectorName", b"postgres"),
        ("__debezium.context.taskId", b"0"),
        ("x-user-email", b"annek@noanswer.org"),
        ("__debezium.oldkey", None),
    ]
    value = customer_event(with_schema=with_schema)
    out = as_masked(masker.mask(CUSTOMERS_TOPIC, new_key, value, headers))
    names = [n for n, _ in out.headers]
    assert names == ["__debezium.oldkey", "__debezium.newkey", "__debezium.context.connectorName",
                     "__debezium.context.taskId"]
    hdr = dict(out.headers)
    assert hdr["__debezium.context.connectorName"] == b"postgres"
    assert hdr["__debezium.newkey"] == out.key
    old_token = as_masked(make_masker().mask(CUSTOMERS_TOPIC, old_key, customer_event(
        row={**ANNE, "id": 1003, "birth_date": None}, with_schema=with_schema))).key
    assert hdr["__debezium.oldkey"] == old_token
    assert hdr["__debezium.oldkey"] != old_key and hdr["__debezium.newkey"] != new_key
    for _, v in out.headers:
        assert b"annek" not in (v or b"")


def test_key_header_that_is_not_json_is_dropped(masker: RecordMasker) -> None:
    out = as_masked(masker.mask(CUSTOMERS_TOPIC, customer_key(), customer_event(),
                                [("__debezium.oldkey", b"annek@noanswer.org")]))
    assert out.headers == []


def test_key_headers_dropped_for_events_without_a_table() -> None:
    m = make_masker(policy_with("events: {messages: pass}\n"))
    out = as_masked(m.mask("PostgreSQL_server.message", None, fixture("postgres-message.payload.json"),
                           [("__debezium.oldkey", customer_key()), ("x-user-email", b"annek@noanswer.org")]))
    assert out.headers == []


def test_header_passthrough_patterns_from_policy() -> None:
    m = make_masker(policy_with('headers: {passthrough: ["traceparent", "x-app-*"]}\n'))
    headers = [("traceparent", b"00-abc-01"), ("x-app-version", b"3"), ("x-user-email", b"annek@noanswer.org"),
               ("__debezium.context.connectorName", b"postgres")]
    out = as_masked(m.mask(CUSTOMERS_TOPIC, None, customer_event(), headers))
    assert out.headers == [("traceparent", b"00-abc-01"), ("x-app-version", b"3")]


# -- determinism and domains --------------------------------------------------------------------------------


def _batch() -> list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes | None]]]]:
    hdrs: list[tuple[str, bytes | None]] = [("__debezium.newkey", customer_key())]
    return [
        (CUSTOMERS_TOPIC, customer_key(), customer_event("r"), hdrs),
        (CUSTOMERS_TOPIC, customer_key(), customer_event("u", with_schema=False), []),
        (CUSTOMERS_TOPIC, customer_key(with_schema=False), customer_event("d"), []),
        (CUSTOMERS_TOPIC, customer_key(), None, []),
        ("PostgreSQL_server.public.customers", None, fixture("postgres-create.json"), []),
        (ev.topic("orders"), None, ev.envelope(ORDER_FIELDS, None, {
            "id": 1, "customer_id": 1004, "total": ev.decimal_bytes("19.99", 2),
            "placed_at": ev.micros(dt.datetime(2024, 5, 1, 12))}, "c", table="orders"), []),
    ]


def _run(m: RecordMasker) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]]:
    results = []
    for topic, k, v, h in _batch():
        out = as_masked(m.mask(topic, k, v, h))
        results.append((out.key, out.value, out.headers))
    return results


def test_deterministic_across_masker_instances() -> None:
    first = _run(make_masker())
    second = _run(RecordMasker(CompiledPolicy(parse_policy(POLICY, "other.yaml"), MasterKey(bytes(range(32)), "t"))))
    assert first == second
    assert _run(make_masker()) == first  # and again, warm caches give the same bytes


def test_different_key_gives_different_output() -> None:
    first = _run(make_masker())
    other = _run(make_masker(key=MasterKey(bytes(range(1, 33)), "t2")))
    for (k1, v1, _), (k2, v2, _) in zip(first, other, strict=True):
        if v1 is not None:
            assert v1 != v2
        if k1 is not None:
            assert k1 != k2


def test_same_domain_across_tables_and_widths(masker: RecordMasker) -> None:
    customer = load(as_masked(masker.mask(CUSTOMERS_TOPIC, None, customer_event())).value)["payload"]["after"]
    placed = dt.datetime(2024, 5, 1, 12, 0)
    order_value = ev.envelope(ORDER_FIELDS, None, {"id": 77, "customer_id": 1004, "total": ev.decimal_bytes("19.99", 2),
                                                   "placed_at": ev.micros(placed)}, "c", table="orders")
    order_out = as_masked(masker.mask(ev.topic("orders"), None, order_value))
    order = load(order_out.value)["payload"]["after"]
    assert order["customer_id"] == customer["id"] != 1004
    assert_valid(order_out.value or b"")
    # shift: one customer's dates move by the same number of days in both tables
    birth_shift = customer["birth_date"] - ANNE["birth_date"]
    order_shift_us = order["placed_at"] - ev.micros(placed)
    assert birth_shift != 0 and order_shift_us == birth_shift * 86_400_000_000
    # schemaless too
    schemaless = load(as_masked(masker.mask(ev.topic("orders"), None, ev.envelope(
        ORDER_FIELDS, None, {"id": 77, "customer_id": 1004, "total": "AfM="}, "c", table="orders",
        with_schema=False))).value)
    assert schemaless["after"]["customer_id"] == customer["id"]


def test_mysql_table_naming_resolves_to_db_table(masker: RecordMasker) -> None:
    value = ev.envelope(CUSTOMER_FIELDS, None, ANNE, "c", schema=None, db="shop")
    out = as_masked(masker.mask("dbserver1.shop.customers", None, value))
    assert out.table == "shop.customers"
    pg = load(as_masked(masker.mask(CUSTOMERS_TOPIC, None, customer_event())).value)["payload"]["after"]
    assert load(out.value)["payload"]["after"]["id"] == pg["id"]  # same domain, same token
    other_db = ev.envelope(CUSTOMER_FIELDS, None, ANNE, "c", schema=None, db="crm")
    as_blocked(masker.mask("dbserver1.crm.customers", None, other_db), BlockCode.UNKNOWN_TABLE, SECRETS,
               table="crm.customers")


def test_masked_columns_are_counted(masker: RecordMasker) -> None:
    out = as_masked(masker.mask(CUSTOMERS_TOPIC, customer_key(), customer_event()))
    counted = sorted(s.column for s in out.masked_columns)
    assert counted == sorted(["id", "first_name", "last_name", "email", "birth_date", "id"])


def test_update_with_full_before_masks_both_rows_consistently(masker: RecordMasker) -> None:
    before = dict(ANNE)
    after = {**ANNE, "first_name": "Anneliese", "email": "anne.k@noanswer.org"}
    value = ev.envelope(CUSTOMER_FIELDS, before, after, "u")
    out = as_masked(masker.mask(CUSTOMERS_TOPIC, customer_key(), value))
    payload = load(out.value)["payload"]
    assert payload["before"]["id"] == payload["after"]["id"]
    assert payload["before"]["last_name"] == payload["after"]["last_name"]
    assert payload["before"]["birth_date"] == payload["after"]["birth_date"]
    assert payload["before"]["first_name"] != "Annelise" and payload["after"]["first_name"] != "Anneliese"
    assert_valid(out.value or b"")


def test_input_bytes_are_not_mutated(masker: RecordMasker) -> None:
    value = customer_event()
    copy = bytes(value)
    masker.mask(CUSTOMERS_TOPIC, customer_key(), value)
    assert value == copy


def test_schema_text_cache_does_not_mix_tables(masker: RecordMasker) -> None:
    """Two records with byte-identical framing prefixes but different schemas stay separate."""
    a = as_masked(masker.mask(CUSTOMERS_TOPIC, None, customer_event()))
    fields = [*CUSTOMER_FIELDS, ev.col("ssn", "string", True)]
    b = masker.mask(CUSTOMERS_TOPIC, None, ev.envelope(fields, None, {**ANNE, "ssn": "123-45-6789"}, "c"))
    as_blocked(b, BlockCode.UNCLASSIFIED_COLUMN, ["123-45-6789"], column="ssn")
    again = as_masked(masker.mask(CUSTOMERS_TOPIC, None, customer_event()))
    assert again.value == a.value


# -- examples/customers.jsonl -----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def test_example_file_masks_cleanly_and_is_reproducible() -> None:
    import importlib.util

    from streammask.check import check_sample
    from streammask.errors import DecodeError
    from streammask.kcat_io import read_records
    from streammask.outcome import SourceRecord
    from streammask.policy import load_policy

    loaded = load_policy(ROOT / "policies" / "ecommerce.yaml")
    m = RecordMasker(CompiledPolicy(loaded, MasterKey(bytes.fromhex("ab" * 32), "2026q4")))
    source = ROOT / "examples" / "customers.jsonl"
    records: list[SourceRecord] = []
    tables, ops = set(), set()
    with source.open("rb") as stream:
        for _, record in read_records(stream):
            assert not isinstance(record, DecodeError), record
            records.append(record)
            out = as_masked(m.mask(record.coordinates.topic, record.key, record.value, record.headers))
            tables.add(out.table)
            ops.add(out.op if out.value is not None else "tombstone")
            for data in (out.key, out.value):
                if data is not None:
                    assert_valid(data)
    assert tables == {"public.customers", "public.addresses", "public.orders"}
    assert ops == {"r", "c", "u", "d", "tombstone"}
    assert 35 <= len(records) <= 45
    assert check_sample(loaded, records).ok

    spec = importlib.util.spec_from_file_location("make_customers", ROOT / "examples" / "make_customers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert b"".join(line + b"\n" for line in module.build()) == source.read_bytes()


# -- events that pass unchanged must be exactly what Debezium writes ---------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        orjson.dumps({"schema": ev.HEARTBEAT_SCHEMA, "payload": {"ts_ms": 1, "email": "annek@noanswer.org"}}),
        orjson.dumps({"ts_ms": 1, "email": "annek@noanswer.org"}),
        orjson.dumps({"status": "BEGIN", "id": "571:53195829", "event_count": None, "data_collections": None,
                      "ts_ms": 1, "email": "annek@noanswer.org"}),
    ],
    ids=["heartbeat-schema", "heartbeat-schemaless", "transaction"],
)
def test_metadata_event_with_an_extra_field_blocks(masker: RecordMasker, value: bytes) -> None:
    out = masker.mask("dbserver1.transaction", None, value)
    assert isinstance(out, Blocked) and out.reason.code in (BlockCode.NOT_DEBEZIUM, BlockCode.UNCERTAIN_KIND)
    as_blocked(out, out.reason.code, SECRETS)


def test_change_event_carrying_a_message_field_blocks(masker: RecordMasker) -> None:
    payload = ev.envelope_payload(None, {k: v for k, v in ANNE.items() if k != "birth_date"}, "c")
    payload["message"] = {"prefix": "audit", "content": ev.b64(b"annek@noanswer.org")}
    out = masker.mask(CUSTOMERS_TOPIC, None, orjson.dumps(payload))
    blocked = as_blocked(out, BlockCode.UNKNOWN_FIELD, SECRETS, table="public.customers")
    assert "message" in blocked.reason.detail
