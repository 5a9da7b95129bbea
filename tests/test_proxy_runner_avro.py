"""The proxy's loop (``runner.Proxy``) on Avro records: the in-memory Kafka fake of ``test_proxy_runner``
(its ``Rig``) and the fake Schema Registry over HTTP, source and target, the target behind basic auth
whose credentials come from ``${ENV}`` in the config.

Avro in gives Avro out with the target registry's ids, registered under subjects named after the routed
target topic. A registry that goes down mid-batch blocks the record that needs it with code
``schema-registry``: with ``on_blocked: stop`` the run ends and nothing of the batch is committed; with
``skip`` the record is left out, counted, audited and quarantined. Reasons name the registry and the
subject, never its credentials.
"""

from __future__ import annotations

import logging
from typing import Any

import jsonschema
import orjson
import pytest
from avro_records import AvroWriter, decode, schema_id, shift_ids
from confluent_kafka.schema_registry import SchemaRegistryClient
from test_proxy_runner import (
    AUDIT_RECORD_SCHEMA,
    GROUP,
    KEY,
    OUT,
    POLICY,
    TOPIC,
    Rig,
    change,
    raw_secrets,
    row,
    source_offsets,
)

from streammask.bootstrap import MaskingSetup
from streammask.codec import build_codecs
from streammask.codec.registry import RegistryUnavailable
from streammask.masker import RecordMasker
from streammask.outcome import Masked
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from streammask.proxy.config import ProxyConfig
from tests.fake_registry import FakeRegistry

PASSWORD = "qa-Pa55word-9"
AUTH = {"basic.auth.user.info": f"streammask:{PASSWORD}"}
POLICY_WITH_TIER = POLICY.replace(b"  public.customers:\n", b"  public.customers:\n    passthrough: [tier]\n")
JSON_MASKER = RecordMasker(CompiledPolicy(parse_policy(POLICY_WITH_TIER), KEY))


@pytest.fixture
def target(registry_factory: Any, monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    monkeypatch.setenv("SM_TEST_QA_SR_AUTH", f"streammask:{PASSWORD}")
    registry: FakeRegistry = registry_factory(basic_auth=("streammask", PASSWORD))
    return registry


def avro_rig(source: FakeRegistry, target: FakeRegistry, **config: Any) -> Rig:
    """A Rig whose config reads Avro, and whose masker has the codecs that config makes."""
    wire = {
        "format": "avro",
        "schema_registry": {
            "source": {"url": source.url, "retries": 0},
            "target": {"url": target.url, "basic.auth.user.info": "${SM_TEST_QA_SR_AUTH}", "retries": 0},
        },
    }
    cfg = ProxyConfig.model_validate({"source": {"bootstrap.servers": "x:1"}, "topics": [TOPIC], "policy": "p",
                                      **wire})
    loaded = parse_policy(POLICY_WITH_TIER)
    codecs = build_codecs(cfg.format, cfg.key_format, cfg.schema_registry)
    setup = MaskingSetup(loaded, KEY, RecordMasker(CompiledPolicy(loaded, KEY), *codecs), codecs)
    return Rig(setup=setup, **wire, **config)


def write_avro(rig: Rig, source: FakeRegistry, *records: tuple[bytes | None, bytes | None]) -> None:
    writer = AvroWriter(source.url)
    rig.write(*(writer.pair(TOPIC, k, v) for k, v in records))


def test_avro_in_gives_avro_out_with_the_target_registrys_ids_under_the_target_topics_subjects(
    source_registry: FakeRegistry, target: FakeRegistry,
) -> None:
    shift_ids(target.url, **AUTH)
    rig = avro_rig(source_registry, target)
    events = [change(0), change(1, "u"), change(2, "d"), (change(2, "d")[0], None)]
    write_avro(rig, source_registry, *events)
    rig.run()

    out = rig.output()
    assert source_offsets(out) == [0, 1, 2, 3]
    target_client = SchemaRegistryClient({"url": target.url, **AUTH})
    assert sorted(s for s in target_client.get_subjects() if not s.startswith("unrelated")) == [
        f"{OUT}-key", f"{OUT}-value"]
    value_id = target_client.get_latest_version(f"{OUT}-value").schema_id
    key_id = target_client.get_latest_version(f"{OUT}-key").schema_id
    assert value_id not in {schema_id(m.value() or b"") for m in rig.source.committed_view(TOPIC) if m.value()}
    everything = b""
    for (k, v), m in zip(events, out, strict=True):
        key_bytes, value_bytes = m.key() or b"", m.value()
        everything += key_bytes + (value_bytes or b"")
        assert schema_id(key_bytes) == key_id
        masked_key = target_decode(target, key_bytes, is_key=True)
        reference = JSON_MASKER.mask(TOPIC, k, v, target_topic=OUT)
        assert isinstance(reference, Masked)
        assert masked_key == orjson.loads(reference.key or b"")["payload"]
        if value_bytes is None:
            assert v is None and key_bytes == out[2].key()  # the tombstone's key is the delete's
            continue
        assert schema_id(value_bytes) == value_id
        masked = target_decode(target, value_bytes)
        expected = orjson.loads(reference.value or b"")["payload"]
        assert (masked["before"], masked["after"]) == (expected["before"], expected["after"])
        assert masked_key == {"id": (masked["after"] or masked["before"])["id"]}
    assert not [s for s in raw_secrets([row(i) for i in range(3)]) if s in everything]
    [record] = rig.audit()
    jsonschema.validate(record, AUDIT_RECORD_SCHEMA)
    assert record["records"] == {"in": 4, "out": 4, "blocked": 0}
    assert rig.source.group_offsets == {(GROUP, TOPIC, 0): 4}


def target_decode(target: FakeRegistry, data: bytes, is_key: bool = False) -> Any:
    return decode(target.url, OUT, data, is_key, **AUTH)


def registry_goes_down_mid_batch(rig: Rig, source: FakeRegistry, target: FakeRegistry) -> None:
    """Offsets 0 and 1 are fetched and masked (their schemas registered on the target); then the target goes
    down; offset 2 has a new schema (a ``tier`` column), which needs the target; offset 3 has a known one.
    All four are in one transaction."""
    write_avro(rig, source, change(0), change(1), change(2, "u", tier="gold"), change(3))
    rig.consumer.then(lambda: None, target.down)


@pytest.mark.parametrize("on_blocked", ["stop", "skip"])
def test_an_unreachable_registry_ends_the_run_whatever_on_blocked_says_and_commits_nothing_of_the_batch(
    source_registry: FakeRegistry, target: FakeRegistry, caplog: pytest.LogCaptureFixture, on_blocked: str,
) -> None:
    """An unreachable registry is no record's fault: skipping the record would drop good data from QA, so
    the run stops (as on a broker's fatal error) and a restart resumes from the committed offsets."""
    options: dict[str, Any] = {"quarantine_topic": "streammask.quarantine"} if on_blocked == "skip" else {}
    rig = avro_rig(source_registry, target, same_cluster=on_blocked == "stop", on_blocked=on_blocked,
                   max_per_consume=2, **options)
    registry_goes_down_mid_batch(rig, source_registry, target)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RegistryUnavailable) as info:
        rig.run()
    text = str(info.value)
    assert text.startswith(f"registry {target.url}, subject {OUT}-value: register: unreachable"), text
    assert rig.output() == [] and rig.audit() == []
    aborted = [e.message for e in rig.target.all_entries() if e.state == "aborted" and e.message.topic() == OUT]
    assert source_offsets(aborted) == [0, 1]
    assert rig.source.group_offsets == {}
    assert rig.metric("streammask_records_blocked_total", topic=TOPIC, code="schema-registry") == 0
    if on_blocked == "skip":
        assert rig.source.committed_view("streammask.quarantine") == []
    assert not [r for r in caplog.records if PASSWORD in r.getMessage() + repr(r.__dict__)]
    assert PASSWORD not in text


def test_a_registry_refusal_with_on_blocked_skip_skips_counts_audits_and_quarantines_the_record(
    source_registry: FakeRegistry, target: FakeRegistry, caplog: pytest.LogCaptureFixture,
) -> None:
    """A refusal (409: the new version is incompatible on the target) is about the record's schema: it
    follows on_blocked, and the records around it go on."""
    rig = avro_rig(source_registry, target, same_cluster=False, on_blocked="skip",
                   quarantine_topic="streammask.quarantine", max_per_consume=2)
    write_avro(rig, source_registry, change(0), change(1), change(2, "u", tier="gold"), change(3))
    rig.consumer.then(lambda: None, lambda: target.force_error(f"{OUT}-value", 40901))
    caplog.set_level(logging.DEBUG)
    rig.run()
    assert source_offsets(rig.output()) == [0, 1, 3]
    assert rig.metric("streammask_records_blocked_total", topic=TOPIC, code="schema-registry") == 1
    assert rig.metric("streammask_records_out_total", topic=TOPIC) == 3
    [record] = rig.audit()
    jsonschema.validate(record, AUDIT_RECORD_SCHEMA)
    assert record["records"] == {"in": 4, "out": 3, "blocked": 1}
    assert record["blocked_by_code"] == {"schema-registry": 1}
    [blocked] = record["blocked"]
    assert (blocked["offset"], blocked["code"], blocked["table"]) == (2, "schema-registry", "public.customers")
    assert blocked["reason"].startswith(f"registry {target.url}, subject {OUT}-value: register:"), blocked
    assert "40901" in blocked["reason"]
    [quarantined] = rig.source.committed_view("streammask.quarantine")
    assert quarantined.offset() == 0 and ("streammask.blocked", b"schema-registry") in (quarantined.headers() or [])
    assert quarantined.value() == rig.source.committed_view(TOPIC)[2].value()  # raw, on the source cluster
    assert PASSWORD not in orjson.dumps(record).decode()
    assert not [r for r in caplog.records if PASSWORD in r.getMessage() + repr(r.__dict__)]
