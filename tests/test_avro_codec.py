"""The Avro codec at processor level: ``RecordMasker`` with ``AvroCodec`` between two fake registries over real
HTTP (source: where the producer registered; target: where the output's ids come from). Inputs are written
by confluent-kafka's ``AvroSerializer`` (``avro_events.Reference``) as Debezium's AvroConverter would, except
where a test needs framing no serializer writes (Apicurio's, a given id).

Covered: schema ids rewritten to the target's under the target topic's subjects (and kept with one
registry); RecordNameStrategy; the source subject's compatibility level copied before registering; a new
schema version mid-stream; an unclassified column in a new version; either registry down or refusing
(409, 422, 401), with reasons that name the registry and subject but no credential; wrong formats (JSON to
Avro, Avro to JSON, Apicurio's 8-byte ids and header ids); keys in Avro and in JSON; heartbeat and
transaction events; tombstones; Debezium's placeholders; the leak guard; a Decimal written as Java writes
it; and the JSON masker's values for the same policy over types x strategies.
"""

from __future__ import annotations

import base64
import json
import random
import re
import struct
from collections import Counter
from typing import Any

import avro_events as ae
import events as ev
import golden_corpus as gc
import orjson
import pytest

from streammask.codec import SchemaRegistries, build_codecs
from streammask.codec.avro import AvroCodec
from streammask.codec.avro_schema import avro_datum_of, connect_payload_of
from streammask.codec.registry import RegistryConfig, RegistryUnavailable
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, EventKind, Masked, Outcome
from streammask.placeholders import DEFAULT as PLACEHOLDER
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from tests.fake_registry import FakeRegistry

KEY = MasterKey(bytes(range(32)), "t")
TABLE = "customers"
TOPIC = ev.topic(TABLE)
TARGET = "masked.customers"
PASSWORD = "s3cret-Pa55-registry"
PHOTO = b"\x89PNG\r\n\x1a\nscan-of-anne"
ID = ev.col("id", "int32", False)
V1 = [
    ID,
    ev.col("name", "string", False),
    ev.col("email", "string", True),
    ev.col("created_at", "int64", False, name="io.debezium.time.MicroTimestamp", version=1),
    ev.col("note", "string", True),
    ev.col("bio", "string", True),
    ev.col("photo", "bytes", True),
    ev.col("thumb", "bytes", True),
]
V2 = [*V1, ev.col("loyalty", "string", True)]
V_SSN = [*V1, ev.col("ssn", "string", True)]
V_TIER = [*V1, ev.col("tier", "string", False)]  # a required column without a default: not BACKWARD
KEY_SCHEMA = ev.key_schema([ID], TABLE)
POLICY = b"""
version: 1
key: {env: STREAMMASK_TEST_KEY, id: t}
tables:
  public.customers:
    passthrough: [created_at, note, thumb, loyalty, tier]
    fields:
      id:    {strategy: tokenize, domain: customer_id}
      name:  {strategy: replace, kind: full_name}
      email: {strategy: format-preserve}
      bio:   {strategy: tokenize}
      photo: {strategy: hash}
"""
COMPILED = CompiledPolicy(parse_policy(POLICY), KEY)


def row(customer: int = 1, **changes: Any) -> dict[str, Any]:
    base = {"id": customer, "name": "Anne Kretchmar", "email": "annek@noanswer.org",
            "created_at": 1_577_836_800_000_001, "note": "prefers the phone", "bio": "likes long walks",
            "photo": ev.b64(PHOTO), "thumb": ev.b64(b"\x89PNG\r\n\x1a\nthumbnail")}
    return base | changes


class Rig:
    """A producer (AvroSerializer on the source registry) and a masker reading from the source and
    registering on the target (the source itself when ``target`` is None)."""

    def __init__(
        self, source: FakeRegistry, target: FakeRegistry | None, subjects: Any = "topic",
        source_settings: dict[str, Any] | None = None, target_settings: dict[str, Any] | None = None,
        target_url: str | None = None, producer_conf: dict[str, str] | None = None,
    ) -> None:
        self.source, self.target = source, target
        self.producer = ae.Reference(source.url, subjects, **(producer_conf or {}))
        target_client = None
        if target is not None:
            target_client = ae.fast_client(target_url or target.url, **(target_settings or {}))
        self.codec = AvroCodec(ae.fast_client(source.url, **(source_settings or {})), target_client, subjects)
        self.masker = RecordMasker(COMPILED, self.codec)

    def value(self, fields: list[dict[str, Any]], before: Any, after: Any, op: str = "c") -> bytes:
        return self.producer.serialize(TOPIC, ev.envelope_schema(fields, TABLE), ev.envelope_payload(
            before, after, op, TABLE))

    def key(self, customer: int = 1) -> bytes:
        return self.producer.serialize(TOPIC, KEY_SCHEMA, {"id": customer}, key=True)

    def mask(self, key: bytes | None, value: bytes | None, headers: Any = None, target_topic: str = TARGET) -> Outcome:
        return self.masker.mask(TOPIC, key, value, headers, target_topic=target_topic)


def as_masked(outcome: Outcome) -> Masked:
    assert isinstance(outcome, Masked), f"expected Masked, got {outcome!r}"
    return outcome


def as_blocked(outcome: Outcome, code: BlockCode, secrets: tuple[str, ...] = ()) -> Blocked:
    assert isinstance(outcome, Blocked), f"expected Blocked {code}, got {outcome!r}"
    assert outcome.reason.code is code, outcome.reason
    for secret in secrets:
        assert secret not in outcome.reason.describe() and secret not in repr(outcome.reason), outcome.reason
    return outcome


def payload_of(data: bytes | None, fields: list[dict[str, Any]], url: str) -> Any:
    assert data is not None
    return ae.connect_payload(data, ev.envelope_schema(fields, TABLE), url)


def key_of(data: bytes | None, url: str) -> Any:
    assert data is not None
    return ae.connect_payload(data, KEY_SCHEMA, url)


@pytest.fixture
def rig(source_registry: FakeRegistry, target_registry: FakeRegistry) -> Rig:
    for n in range(4):  # the target's ids start elsewhere than the source's
        target_registry.register_direct(f"seed-{n}", json.dumps({"type": "record", "name": f"S{n}", "fields": []}))
    return Rig(source_registry, target_registry)


# -- schema ids and subjects ---------------------------------------------------------------------------------


def test_ids_are_the_target_registry_s_under_the_target_topic_s_subjects(rig: Rig) -> None:
    key, value = rig.key(), rig.value(V1, None, row())
    out = as_masked(rig.mask(key, value))
    assert rig.target is not None
    value_id, key_id = ae.schema_id_of(out.value or b""), ae.schema_id_of(out.key or b"")
    assert ae.subject_ids(rig.target.url, f"{TARGET}-value") == [value_id]
    assert ae.subject_ids(rig.target.url, f"{TARGET}-key") == [key_id]
    assert value_id != ae.schema_id_of(value) and key_id != ae.schema_id_of(key)
    assert ae.subject_ids(rig.target.url, f"{TOPIC}-value") == []  # nothing under the source topic's subjects
    assert json.loads(ae.registered_text(rig.target.url, value_id)) == json.loads(
        ae.registered_text(rig.source.url, ae.schema_id_of(value)))
    posts = len(rig.target.calls("POST"))
    for n in range(2, 5):  # known ids: no more registry calls
        as_masked(rig.mask(rig.key(n), rig.value(V1, None, row(n))))
    assert len(rig.target.calls("POST")) == posts == 2


def test_one_registry_for_both_keeps_the_ids_and_registers_the_target_subjects(source_registry: FakeRegistry) -> None:
    rig = Rig(source_registry, None)
    key, value = rig.key(), rig.value(V1, None, row())
    same_topic = as_masked(rig.mask(key, value, target_topic=TOPIC))
    assert same_topic.value is not None and same_topic.key is not None
    assert same_topic.value[:5] == value[:5] and same_topic.key[:5] == key[:5]
    other = as_masked(rig.mask(key, value))
    assert other.value is not None and other.value[:5] == value[:5]
    assert ae.subject_ids(source_registry.url, f"{TARGET}-value") == [ae.schema_id_of(value)]
    assert ae.subject_ids(source_registry.url, f"{TOPIC}-value") == [ae.schema_id_of(value)]


def test_record_name_strategy_registers_under_the_records_full_names(
    source_registry: FakeRegistry, target_registry: FakeRegistry
) -> None:
    rig = Rig(source_registry, target_registry, subjects="record")
    key, value = rig.key(), rig.value(V1, None, row())
    assert ae.subject_ids(source_registry.url, "dbserver1.public.customers.Envelope") == [ae.schema_id_of(value)]
    source_registry.subject_levels["dbserver1.public.customers.Envelope"] = "FORWARD"
    out = as_masked(rig.mask(key, value))
    assert ae.subject_ids(target_registry.url, "dbserver1.public.customers.Envelope") == [
        ae.schema_id_of(out.value or b"")]
    assert ae.subject_ids(target_registry.url, "dbserver1.public.customers.Key") == [ae.schema_id_of(out.key or b"")]
    assert ae.subject_ids(target_registry.url, f"{TARGET}-value") == []
    assert target_registry.subject_levels == {"dbserver1.public.customers.Envelope": "FORWARD"}


def test_the_source_subject_s_compatibility_level_is_copied_before_registering(rig: Rig) -> None:
    assert rig.target is not None
    rig.source.subject_levels[f"{TOPIC}-value"] = "FULL"
    rig.target.clear_log()
    as_masked(rig.mask(rig.key(), rig.value(V1, None, row())))
    assert rig.target.subject_levels == {f"{TARGET}-value": "FULL"}  # the key subject has no level of its own
    log = [(c.method, c.path) for c in rig.target.requests]
    assert log.index(("PUT", f"/config/{TARGET}-value")) < log.index(("POST", f"/subjects/{TARGET}-value/versions"))
    assert ("PUT", f"/config/{TARGET}-key") not in log


def test_a_change_the_source_subject_allows_by_its_level_is_allowed_on_the_target_too(rig: Rig) -> None:
    """Under the registries' default BACKWARD, a new required column without a default is refused; the
    source subject is NONE, so Debezium could register it, and so must streammask on the target."""
    assert rig.target is not None
    rig.source.subject_levels[f"{TOPIC}-value"] = "NONE"
    first = as_masked(rig.mask(rig.key(), rig.value(V1, None, row())))
    second = as_masked(rig.mask(rig.key(), rig.value(V_TIER, None, row(tier="gold"))))
    assert rig.target.subject_levels[f"{TARGET}-value"] == "NONE"
    assert ae.subject_ids(rig.target.url, f"{TARGET}-value") == [
        ae.schema_id_of(first.value or b""), ae.schema_id_of(second.value or b"")]
    assert payload_of(second.value, V_TIER, rig.target.url)["after"]["tier"] == "gold"


# -- schema versions -----------------------------------------------------------------------------------------


def test_a_new_schema_version_mid_stream_gets_its_own_target_id_and_masking_goes_on(rig: Rig) -> None:
    assert rig.target is not None
    v1 = rig.value(V1, None, row(1))
    v2 = rig.value(V2, row(1), row(1, loyalty="gold", email="anne@example.org"), "u")
    late_v1 = rig.value(V1, None, row(2))
    assert ae.schema_id_of(v1) != ae.schema_id_of(v2)
    outs = [as_masked(rig.mask(rig.key(n), v)) for n, v in ((1, v1), (1, v2), (2, late_v1))]
    ids = [ae.schema_id_of(o.value or b"") for o in outs]
    assert ids[0] != ids[1] and ids[2] == ids[0]
    assert ae.subject_ids(rig.target.url, f"{TARGET}-value") == ids[:2]
    first, second = payload_of(outs[0].value, V1, rig.target.url), payload_of(outs[1].value, V2, rig.target.url)
    assert second["after"]["loyalty"] == "gold"  # passthrough, new in version 2
    assert second["after"]["id"] == second["before"]["id"] == first["after"]["id"] != 1  # one token across versions
    assert second["after"]["email"] != "anne@example.org" and second["before"]["email"] == first["after"]["email"]
    assert key_of(outs[1].key, rig.target.url) == {"id": first["after"]["id"]}


def test_an_unclassified_column_in_a_new_version_blocks_that_version_only(rig: Rig) -> None:
    assert rig.target is not None
    first = as_masked(rig.mask(rig.key(), rig.value(V1, None, row())))
    blocked = as_blocked(rig.mask(rig.key(), rig.value(V_SSN, None, row(ssn="123-45-6789"))),
                         BlockCode.UNCLASSIFIED_COLUMN, ("123-45-6789",))
    assert (blocked.reason.table, blocked.reason.column) == ("public.customers", "ssn")
    assert ae.subject_ids(rig.target.url, f"{TARGET}-value") == [ae.schema_id_of(first.value or b"")]
    as_masked(rig.mask(rig.key(2), rig.value(V1, None, row(2))))


# -- registries down or refusing -----------------------------------------------------------------------------


def test_source_registry_down_stops_at_unknown_ids_only_naming_it_without_credentials(
    registry_factory: Any, target_registry: FakeRegistry
) -> None:
    """Unreachable is no record's fault: ``mask`` raises (the caller stops) instead of blocking the record."""
    source = registry_factory(basic_auth=("streammask", PASSWORD))
    creds = {"basic.auth.user.info": f"streammask:{PASSWORD}"}
    rig = Rig(source, target_registry, source_settings=creds, producer_conf=creds)
    v1, v2 = rig.value(V1, None, row()), rig.value(V2, None, row(loyalty="gold"))
    as_masked(rig.mask(rig.key(), v1))
    source.down()
    as_masked(rig.mask(rig.key(), v1))  # its writer schema is known: no registry call needed
    with pytest.raises(RegistryUnavailable) as info:
        rig.mask(rig.key(), v2)
    detail = str(info.value)
    assert f"registry {source.url}" in detail
    assert f"schema id {ae.schema_id_of(v2)}" in detail
    assert "unreachable" in detail
    assert PASSWORD not in detail and base64.b64encode(f"streammask:{PASSWORD}".encode()).decode() not in detail
    source.up()
    assert payload_of(as_masked(rig.mask(rig.key(), v2)).value, V2, target_registry.url)["after"]["loyalty"] == "gold"


@pytest.mark.parametrize("where", ["basic.auth.user.info", "url"])
def test_target_registry_down_at_first_registration_stops_naming_it_and_the_subject(
    where: str, source_registry: FakeRegistry, registry_factory: Any
) -> None:
    target = registry_factory(basic_auth=("streammask", PASSWORD))
    if where == "url":
        rig = Rig(source_registry, target, target_url=f"http://streammask:{PASSWORD}@127.0.0.1:{target.port}")
    else:
        rig = Rig(source_registry, target, target_settings={"basic.auth.user.info": f"streammask:{PASSWORD}"})
    key, value = rig.key(), rig.value(V1, None, row())
    target.down()
    with pytest.raises(RegistryUnavailable) as info:
        rig.mask(key, value)
    detail = str(info.value)
    assert PASSWORD not in detail
    assert re.search(rf"registry {re.escape(target.url)}, subject {re.escape(TARGET)}-(key|value): ", detail), detail
    target.up()
    out = as_masked(rig.mask(key, value))
    registered = ae.subject_ids(target.url, f"{TARGET}-value", ("streammask", PASSWORD))
    assert registered == [ae.schema_id_of(out.value or b"")]


def test_a_wrong_target_password_blocks_as_unauthorized_without_the_password(
    source_registry: FakeRegistry, registry_factory: Any
) -> None:
    target = registry_factory(basic_auth=("streammask", PASSWORD))
    rig = Rig(source_registry, target, target_settings={"basic.auth.user.info": "streammask:Wr0ng-Guess-77"})
    blocked = as_blocked(rig.mask(rig.key(), rig.value(V1, None, row())), BlockCode.SCHEMA_REGISTRY,
                         ("Wr0ng-Guess-77", PASSWORD))
    assert "unauthorized" in blocked.reason.detail and target.url in blocked.reason.detail


@pytest.mark.parametrize(("error_code", "words"), [(40901, "schema incompatible"), (42201, "invalid schema")])
def test_a_409_or_422_from_the_target_blocks_and_the_next_record_registers(
    rig: Rig, error_code: int, words: str
) -> None:
    assert rig.target is not None
    rig.target.force_error(f"{TARGET}-value", error_code)
    key, value = rig.key(), rig.value(V1, None, row())
    blocked = as_blocked(rig.mask(key, value), BlockCode.SCHEMA_REGISTRY)
    assert f"subject {TARGET}-value" in blocked.reason.detail and rig.target.url in blocked.reason.detail
    assert words in blocked.reason.detail and f"error {error_code}" in blocked.reason.detail
    assert ae.subject_ids(rig.target.url, f"{TARGET}-value") == []
    out = as_masked(rig.mask(key, value))  # the verdict is not cached: the next record registers
    assert ae.subject_ids(rig.target.url, f"{TARGET}-value") == [ae.schema_id_of(out.value or b"")]


def test_a_target_subject_holding_an_incompatible_schema_blocks_every_record(rig: Rig) -> None:
    assert rig.target is not None
    rig.target.register_direct(f"{TARGET}-value", json.dumps({
        "type": "record", "name": "Envelope", "namespace": "dbserver1.public.customers",
        "fields": [{"name": "legacy", "type": "string"}]}))
    for n in (1, 2):
        blocked = as_blocked(rig.mask(rig.key(n), rig.value(V1, None, row(n))), BlockCode.SCHEMA_REGISTRY)
        assert "schema incompatible" in blocked.reason.detail and "40901" in blocked.reason.detail


def test_an_id_the_source_registry_does_not_have_blocks(rig: Rig) -> None:
    value = rig.value(V1, None, row())
    text = ae.registered_text(rig.source.url, ae.schema_id_of(value))
    blocked = as_blocked(rig.mask(rig.key(), ae.frame(4242, text, ae.raw_read(value, text))), BlockCode.SCHEMA_REGISTRY)
    assert "schema id 4242" in blocked.reason.detail and "schema not found" in blocked.reason.detail


# -- wrong formats -------------------------------------------------------------------------------------------


def test_json_given_to_the_avro_codec_and_avro_given_to_the_json_codec_are_wrong_format(rig: Rig) -> None:
    json_key = ev.key([ID], {"id": 1}, TABLE)
    json_value = ev.envelope(V1, None, row(), "c", TABLE)
    avro_key, avro_value = rig.key(), rig.value(V1, None, row())
    for key, value in ((avro_key, json_value), (json_key, avro_value), (None, ev.envelope(V1, None, row(), "c", TABLE,
                                                                                          with_schema=False))):
        blocked = as_blocked(rig.mask(key, value), BlockCode.WRONG_FORMAT)
        assert "not Confluent-framed Avro" in blocked.reason.detail
    json_masker = RecordMasker(COMPILED)
    blocked = as_blocked(json_masker.mask(TOPIC, json_key, avro_value), BlockCode.WRONG_FORMAT)
    assert "Schema Registry" in blocked.reason.detail
    as_blocked(json_masker.mask(TOPIC, avro_key, json_value), BlockCode.WRONG_FORMAT)


def test_apicurio_8_byte_ids_and_ids_in_headers_are_wrong_format(rig: Rig) -> None:
    key, value = rig.key(), rig.value(V1, None, row())
    body = value[5:]
    eight_byte = b"\x00" + ae.schema_id_of(value).to_bytes(8, "big") + body
    blocked = as_blocked(rig.mask(key, eight_byte), BlockCode.WRONG_FORMAT)
    assert "8-byte" in blocked.reason.detail
    global_id = [("apicurio.value.globalId", ae.schema_id_of(value).to_bytes(8, "big"))]
    as_blocked(rig.mask(key, body, global_id), BlockCode.WRONG_FORMAT)  # the body alone, its id in a header
    blocked = as_blocked(rig.mask(key, value, global_id), BlockCode.WRONG_FORMAT)
    assert "headers" in blocked.reason.detail
    as_blocked(rig.mask(key, value, [("apicurio.key.contentId", b"\x00" * 8)]), BlockCode.WRONG_FORMAT)
    as_masked(rig.mask(key, value, [("unrelated", b"x")]))


# -- keys ----------------------------------------------------------------------------------------------------


def test_key_and_value_both_avro_the_key_is_the_masked_row_s_key(rig: Rig) -> None:
    assert rig.target is not None
    for op, before, after in (("c", None, row(1)), ("u", row(1), row(1, name="Anne K.")), ("d", row(1), None)):
        out = as_masked(rig.mask(rig.key(1), rig.value(V1, before, after, op)))
        masked = payload_of(out.value, V1, rig.target.url)
        masked_row = masked["after"] or masked["before"]
        assert key_of(out.key, rig.target.url) == {"id": masked_row["id"]}
        assert masked_row["id"] != 1


@pytest.mark.parametrize("key_schema", [True, False], ids=["key-with-schema", "bare-key"])
def test_a_json_key_with_an_avro_value_is_masked_like_the_row(
    source_registry: FakeRegistry, target_registry: FakeRegistry, key_schema: bool
) -> None:
    fast = {"retries": 1, "backoff_s": 0}
    value_codec, key_codec = build_codecs("avro", "json", SchemaRegistries(
        source=RegistryConfig.model_validate({"url": source_registry.url, **fast}),
        target=RegistryConfig.model_validate({"url": target_registry.url, **fast})), env={})
    masker = RecordMasker(COMPILED, value_codec, key_codec)
    producer = ae.Reference(source_registry.url)
    value = producer.serialize(TOPIC, ev.envelope_schema(V1, TABLE), ev.envelope_payload(None, row(5), "c", TABLE))
    key = ev.key([ID], {"id": 5}, TABLE, with_schema=key_schema)
    out = as_masked(masker.mask(TOPIC, key, value, target_topic=TARGET))
    masked_id = payload_of(out.value, V1, target_registry.url)["after"]["id"]
    assert masked_id != 5
    masked_key = orjson.loads(out.key or b"")
    assert (masked_key["payload"] if key_schema else masked_key) == {"id": masked_id}
    assert ae.subject_ids(target_registry.url, f"{TARGET}-key") == []  # a JSON key registers nothing


def test_a_tombstone_with_an_avro_key_carries_the_delete_s_masked_key(rig: Rig) -> None:
    assert rig.target is not None
    delete = as_masked(rig.mask(rig.key(9), rig.value(V1, row(9), None, "d")))
    tombstone = as_masked(rig.mask(rig.key(9), None))
    assert tombstone.kind is EventKind.TOMBSTONE and tombstone.value is None and tombstone.table == "public.customers"
    assert tombstone.key == delete.key
    assert key_of(tombstone.key, rig.target.url)["id"] != 9


# -- metadata events -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["heartbeat", "begin", "end"])
def test_heartbeat_and_transaction_events_pass_byte_for_byte_but_for_the_ids(rig: Rig, event: str) -> None:
    assert rig.target is not None
    if event == "heartbeat":
        topic, kind = "__debezium-heartbeat.dbserver1", EventKind.HEARTBEAT
        key = rig.producer.serialize(topic, ev.HEARTBEAT_KEY_SCHEMA, {"serverName": "dbserver1"}, key=True)
        value = rig.producer.serialize(topic, ev.HEARTBEAT_SCHEMA, {"ts_ms": ev.BASE_TS_MS})
    else:
        topic, kind = "dbserver1.transaction", EventKind.TRANSACTION
        collections = None if event == "begin" else [("dbserver1.public.customers", 2), ("dbserver1.public.orders", 1)]
        payload = orjson.loads(ev.transaction_event(event.upper(), collections=collections)[1])["payload"]
        key = rig.producer.serialize(topic, ev.TRANSACTION_KEY_SCHEMA, {"id": payload["id"]}, key=True)
        value = rig.producer.serialize(topic, ev.TRANSACTION_SCHEMA, payload)
    out = as_masked(rig.masker.mask(topic, key, value, target_topic=f"masked.{event}"))
    assert out.kind is kind
    assert out.value is not None and out.key is not None
    assert out.value[5:] == value[5:] and out.key[5:] == key[5:]
    assert ae.subject_ids(rig.target.url, f"masked.{event}-value") == [ae.schema_id_of(out.value)]
    assert ae.subject_ids(rig.target.url, f"masked.{event}-key") == [ae.schema_id_of(out.key)]
    assert ae.schema_id_of(out.value) != ae.schema_id_of(value)


def _message_schema() -> dict[str, Any]:
    """Debezium PostgreSQL's logical decoding message value (io.debezium.connector.postgresql.MessageValue)."""
    col = ev.col
    source = {"type": "struct", "name": "io.debezium.connector.postgresql.Source", "optional": False,
              "field": "source", "fields": [
                  col("version", "string", False), col("connector", "string", False), col("name", "string", False),
                  col("ts_ms", "int64", False), col("snapshot", "boolean", True), col("db", "string", False),
                  col("schema", "string", False), col("table", "string", False), col("txId", "int64", True),
                  col("lsn", "int64", True), col("xmin", "int64", True)]}
    message = {"type": "struct", "name": "io.debezium.connector.postgresql.Message", "optional": False,
               "field": "message", "fields": [col("prefix", "string", False), col("content", "bytes", False)]}
    return {"type": "struct", "name": "io.debezium.connector.postgresql.MessageValue", "optional": False,
            "fields": [source, col("op", "string", False), col("ts_ms", "int64", True), message]}


@pytest.mark.parametrize("mode", ["pass", "redact"])
def test_a_logical_decoding_message_passes_or_has_its_content_redacted(rig: Rig, mode: str) -> None:
    assert rig.target is not None
    policy = POLICY.replace(b"tables:", f"events: {{messages: {mode}}}\ntables:".encode())
    masker = RecordMasker(CompiledPolicy(parse_policy(policy), KEY), rig.codec)
    topic = "dbserver1.message"
    payload = {"source": {"version": "3.2.0.Final", "connector": "postgresql", "name": "dbserver1", "ts_ms": 1,
                          "snapshot": False, "db": "shop", "schema": "", "table": "", "txId": 556, "lsn": 46523128,
                          "xmin": None},
               "op": "m", "ts_ms": 2, "message": {"prefix": "audit", "content": ev.b64(b"user anne logged in")}}
    value = rig.producer.serialize(topic, _message_schema(), payload)
    out = as_masked(masker.mask(topic, None, value, target_topic="masked.message"))
    assert out.kind is EventKind.MESSAGE and out.value is not None
    assert ae.subject_ids(rig.target.url, "masked.message-value") == [ae.schema_id_of(out.value)]
    got = ae.connect_payload(out.value, _message_schema(), rig.target.url)
    if mode == "pass":
        assert out.value[5:] == value[5:]
    else:
        assert got == {**payload, "message": {"prefix": "audit", "content": ""}}


# -- values --------------------------------------------------------------------------------------------------


def test_placeholders_in_avro_string_and_bytes_columns_pass_unchanged_and_are_counted(rig: Rig) -> None:
    assert rig.target is not None
    raw = row(bio=PLACEHOLDER, photo=ev.b64(PLACEHOLDER.encode()))
    value = rig.value(V1, None, raw, "u")  # REPLICA IDENTITY DEFAULT: unchanged TOASTed columns, no before
    assert PLACEHOLDER.encode() in value  # as Avro holds them: the text, and the raw bytes (not base64)
    out = as_masked(rig.mask(rig.key(), value))
    masked = payload_of(out.value, V1, rig.target.url)["after"]
    assert (masked["bio"], masked["photo"]) == (PLACEHOLDER, ev.b64(PLACEHOLDER.encode()))
    assert sorted(s.column for s in out.placeholders) == ["bio", "photo"]
    assert masked["name"] != raw["name"] and masked["email"] != raw["email"]
    assert not any(s.column in ("bio", "photo") for s in out.masked_columns)


def test_the_leak_guard_blocks_a_passthrough_column_copying_a_masked_value(rig: Rig) -> None:
    blocked = as_blocked(rig.mask(rig.key(), rig.value(V1, None, row(note="write to annek@noanswer.org"))),
                         BlockCode.LEAK_GUARD, ("annek@noanswer.org",))
    assert blocked.reason.column == "email" and "after.note" in blocked.reason.detail
    blocked = as_blocked(rig.mask(rig.key(), rig.value(V1, None, row(thumb=ev.b64(PHOTO)))), BlockCode.LEAK_GUARD)
    assert blocked.reason.column == "photo" and "after.thumb" in blocked.reason.detail  # raw bytes in raw bytes
    as_masked(rig.mask(rig.key(), rig.value(V1, None, row(note="write to the office"))))


def test_the_leak_guard_finds_a_bytes_value_copied_as_base64_text_as_it_does_with_json(rig: Rig) -> None:
    copied = row(note=ev.b64(PHOTO))
    with_json = RecordMasker(COMPILED).mask(TOPIC, None, ev.envelope(V1, None, copied, "c", TABLE))
    if not (isinstance(with_json, Blocked) and with_json.reason.code is BlockCode.LEAK_GUARD):
        pytest.fail(f"the JSON masker was expected to block this record: {with_json!r}")  # not the expected failure
    as_blocked(rig.mask(rig.key(), rig.value(V1, None, copied)), BlockCode.LEAK_GUARD)


def test_a_strict_strategy_s_fixed_point_on_a_short_decimal_passes_as_it_does_with_json(rig: Rig) -> None:
    """format-preserve maps a 2-digit Decimal to itself now and then (a keyed permutation of 100 values has
    fixed points): too few forms to be a leak. With JSON the guard sees short base64 text and lets it pass;
    with Avro it saw bytes, had no rule for them, and blocked such a value for good (fixed in leak_guard)."""
    cents = {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
             "parameters": {"scale": "2", "connect.decimal.precision": "3"}}
    columns = [f"c{n}" for n in range(6)]
    fields = [ID, *(ev.with_name(cents, c) for c in columns)]
    policy = ("version: 1\nkey: {env: STREAMMASK_TEST_KEY, id: t}\ntables:\n  public.prices:\n"
              "    passthrough: [id]\n    fields: {" + ", ".join(f"{c}: {{strategy: format-preserve}}" for c in columns)
              + "}\n").encode()
    compiled = CompiledPolicy(parse_policy(policy), KEY)
    json_masker, avro_masker = RecordMasker(compiled), RecordMasker(compiled, rig.codec)
    fixed = 0
    for cents_value in range(-99, 100):
        after = {"id": 1, **{c: ev.decimal_bytes(f"{cents_value / 100:.2f}", 2) for c in columns}}
        json_out = json_masker.mask(ev.topic("prices"), None, ev.envelope(fields, None, after, "c", "prices"))
        masked = orjson.loads(as_masked(json_out).value or b"")["payload"]["after"]
        unchanged = [c for c in columns if masked[c] == after[c]]
        if not unchanged:
            continue
        fixed += len(unchanged)
        value = rig.producer.serialize(ev.topic("prices"), ev.envelope_schema(fields, "prices"),
                                       ev.envelope_payload(None, after, "c", "prices"))
        avro_out = as_masked(avro_masker.mask(ev.topic("prices"), None, value))
        assert rig.target is not None
        assert ae.connect_payload(avro_out.value or b"", ev.envelope_schema(fields, "prices"), rig.target.url)[
            "after"] == masked
    assert fixed > 0  # the values of 6 columns x 199 that format-preserve gave back as they were


def test_a_masked_decimal_is_written_as_java_writes_it_minimal(source_registry: FakeRegistry) -> None:
    """Bucketing -100 by 128 gives -128: Debezium's converter (BigInteger.toByteArray) writes one byte, 0x80,
    not the sign-extended 0xff80 (same value, other bytes than Debezium would give)."""
    amount = {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
              "parameters": {"scale": "0", "connect.decimal.precision": "10"}}
    fields = [ID, ev.with_name(amount, "amount"), ev.with_name({**amount, "optional": True}, "fee")]
    policy = b"""
version: 1
key: {env: STREAMMASK_TEST_KEY, id: t}
tables:
  public.payments: {passthrough: [id], fields: {amount: {strategy: bucket, step: 128},
                    fee: {strategy: bucket, step: 32768}}}
"""
    masker = RecordMasker(CompiledPolicy(parse_policy(policy), KEY), AvroCodec(ae.fast_client(source_registry.url)))
    producer = ae.Reference(source_registry.url)
    schema = ev.envelope_schema(fields, "payments")
    value = producer.serialize(ev.topic("payments"), schema, ev.envelope_payload(
        None, {"id": 1, "amount": ev.decimal_bytes(-100, 0), "fee": ev.decimal_bytes(-1, 0)}, "c", "payments"))
    out = as_masked(masker.mask(ev.topic("payments"), None, value))
    text = ae.registered_text(source_registry.url, ae.schema_id_of(out.value or b""))
    after = ae.raw_read(out.value or b"", text)["after"]
    assert (after["amount"], after["fee"]) == (b"\x80", b"\x80\x00")


# -- the same values as the JSON masker ----------------------------------------------------------------------

# Every catalogue type under one option of every strategy (the golden corpus's first), with the catalogue's
# samples (create, update) and the golden corpus's extra values (placeholders, special and seeded random
# values). A table per strategy classifies every type. To keep registry round trips few, the types whose
# samples the JSON masker masks under a strategy share one row (a record per extra value); each other type
# has rows of its own (every record compared: a strategy blocked for the samples may mask an extra value).
PARITY_OPTIONS = {name: options[0] for name, options in gc.OPTIONS.items()}


class ParityRows:
    """Rows of ``columns`` in the strategy's table, on a topic of their own (one schema per topic)."""

    def __init__(self, strategy: str, columns: list[ev.ColumnDef]) -> None:
        self.strategy, self.columns = strategy, columns
        self.table = f"s_{strategy}".replace("-", "_")
        self.topic = f"parity.{strategy}.{columns[0].id if len(columns) == 1 else 'shared'}"
        self.schema = ev.envelope_schema([ID, *(c.field(c.id) for c in columns)], self.table)

    def payloads(self, extras: dict[str, list[Any]]) -> list[dict[str, Any]]:
        first = {"id": 1, **{c.id: c.samples[0] for c in self.columns}}
        second = {"id": 1, **{c.id: c.samples[1] for c in self.columns}}
        out = [ev.envelope_payload(None, first, "c", self.table), ev.envelope_payload(first, second, "u", self.table)]
        for c in self.columns:
            out += [ev.envelope_payload(None, {**first, "id": 2 + i, c.id: v}, "c", self.table)
                    for i, v in enumerate(extras.get(c.id, []))]
        return out


def _parity_rows() -> tuple[CompiledPolicy, list[ParityRows]]:
    tables = {f"public.s_{s}".replace("-", "_"): {"fields": {"id": {"strategy": "tokenize"},
                                                              **{c.id: o for c in ev.ALL_TYPES}}}
              for s, o in PARITY_OPTIONS.items()}
    policy = {"version": 1, "key": {"env": "STREAMMASK_TEST_KEY", "id": "t"}, "tables": tables}
    compiled = CompiledPolicy(parse_policy(json.dumps(policy).encode()), KEY)
    json_masker = RecordMasker(compiled)
    rows: list[ParityRows] = []
    for strategy in PARITY_OPTIONS:
        shared = []
        for cdef in ev.ALL_TYPES:
            alone = ParityRows(strategy, [cdef])
            if all(isinstance(json_masker.mask(alone.topic, None, orjson.dumps({"schema": alone.schema, "payload": p})),
                              Masked) for p in alone.payloads({})):
                shared.append(cdef)
            else:
                rows.append(alone)
        rows.append(ParityRows(strategy, shared))
    return compiled, rows


def _float32_artefact(table: ParityRows, payload: dict[str, Any]) -> bool:
    """A float32 column whose JSON value is not a float32: JsonConverter's text carries a double the column's
    Avro form cannot (Avro holds float32(value)), so the two maskers are given different numbers."""
    values = [r[c.id] for c in table.columns if c.schema["type"] == "float32"
              for r in (payload["before"], payload["after"]) if r is not None]
    return any(isinstance(v, float) and struct.unpack("<f", struct.pack("<f", v))[0] != v for v in values)


def test_the_policy_shared_with_json_gives_the_same_masked_values_and_verdicts(
    source_registry: FakeRegistry, target_registry: FakeRegistry
) -> None:
    compiled, tables = _parity_rows()
    json_masker = RecordMasker(compiled)
    avro_masker = RecordMasker(compiled, AvroCodec(ae.fast_client(source_registry.url),
                                                   ae.fast_client(target_registry.url)))
    rng = random.Random(20261130)
    extras = {c.id: gc._placeholder_forms(c) + gc._SPECIAL.get(c.schema["type"], []) + gc._random_values(c, rng)
              for c in ev.ALL_TYPES}
    compared: Counter[str] = Counter()
    blocked_alike: Counter[str] = Counter()
    excluded: list[str] = []
    for table in tables:
        topic = table.topic
        text = ae.avro_text(table.schema)
        schema_id = source_registry.register_direct(f"{topic}-value", text)
        for payload in table.payloads(extras):
            if _float32_artefact(table, payload):
                excluded.append(table.strategy)
                continue
            json_out = json_masker.mask(topic, None, orjson.dumps({"schema": table.schema, "payload": payload}))
            avro_out = avro_masker.mask(topic, None, ae.frame(schema_id, text, avro_datum_of(payload, table.schema)))
            where = f"{table.topic} {payload['op']} {(payload['after'] or payload['before'])['id']}"
            if isinstance(json_out, Blocked):
                assert isinstance(avro_out, Blocked), f"{where}: JSON blocked ({json_out.reason}), Avro {avro_out!r}"
                assert (avro_out.reason.code, avro_out.reason.column) == (json_out.reason.code, json_out.reason.column)
                blocked_alike[table.strategy] += 1
                continue
            assert isinstance(avro_out, Masked), f"{where}: JSON masked, Avro {avro_out!r}"
            assert avro_out.value is not None
            expected = orjson.loads(json_out.value or b"")["payload"]
            assert connect_payload_of(ae.raw_read(avro_out.value, text), table.schema) == expected, where
            assert avro_out.masked_columns == json_out.masked_columns and avro_out.placeholders == json_out.placeholders
            compared[table.strategy] += len(table.columns)
    assert set(excluded) == set(PARITY_OPTIONS)
    assert len(excluded) == 2 * len(PARITY_OPTIONS)  # the corpus's 2 seeded random float32 values, per strategy
    assert all(compared[s] > 20 for s in PARITY_OPTIONS), compared  # every strategy masked values alike
    assert sum(blocked_alike.values()) > 200, blocked_alike
