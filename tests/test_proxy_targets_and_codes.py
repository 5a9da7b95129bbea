"""Issue 12, at processor level (tests/fake_kafka.py): a routed target Kafka would refuse stops ``run`` at its
first record with a message naming the route, before anything is produced; a key that does not decode is
blocked and counted as ``undecodable-key``, apart from a value that does not decode."""

from __future__ import annotations

import jsonschema
import pytest
from test_proxy_runner import AUDIT_RECORD_SCHEMA, OUT, TOPIC, Rig, change, source_offsets

from streammask.proxy.config import InvalidTargetTopic

LONG = "dbserver1.public." + "z" * 210  # a legal source topic (227 characters)…
ROUTE = {"match": r"dbserver1\.(.*)", "to": r"staging-environment-with-a-long-name.\1"}  # …routed to 250


def test_a_pattern_matched_topic_routed_to_an_illegal_name_stops_run_at_its_first_record() -> None:
    rig = Rig(topics=None, topic_pattern=r"dbserver1\..*", routing=[ROUTE])
    rig.source.create_topic(LONG, 1)
    rig.write(change(0), topic=LONG)
    with pytest.raises(InvalidTargetTopic) as info:
        rig.run()
    text = str(info.value)
    assert text.startswith(rf"route 'dbserver1\.(.*)' -> 'staging-environment-with-a-long-name.\1' maps source "
                           f"topic {LONG} to 'staging-environment-with-a-long-name.public.")
    assert text.endswith("(254 characters), which is not a legal Kafka topic name: it is 254 characters long; "
                         "Kafka allows at most 249; change the route's `to`")
    assert not [e for e in rig.journal if e.startswith(("produce", "commit"))], rig.journal  # its transaction aborted
    assert rig.audit() == [] and rig.source.group_offsets == {}


def test_a_topic_routed_to_an_illegal_name_is_not_recorded_as_a_target_by_the_commits_before_it() -> None:
    rig = Rig(topics=None, topic_pattern=r"dbserver1\..*", routing=[ROUTE], max_per_consume=1,
              batch={"max_records": 1, "max_ms": 1000})
    rig.source.create_topic(LONG, 1)
    rig.write(change(0))
    rig.write(change(1), topic=LONG)
    with pytest.raises(InvalidTargetTopic):
        rig.run()
    assert len(rig.audit()) == 1  # the legal topic's record committed first
    targets = [m.key() for m in rig.target.committed_view(rig.config.checkpoint_topic)
               if (m.key() or b"").startswith(b"target/")]
    assert targets == [b"target/g1/staging-environment-with-a-long-name.public.customers"]


def test_a_listed_topic_routed_to_an_illegal_name_fails_at_prepare() -> None:
    rig = Rig(topics=[LONG], routing=[ROUTE])
    with pytest.raises(InvalidTargetTopic, match="254 characters long"):
        rig.proxy.prepare()


def test_an_undecodable_key_is_counted_under_its_own_code() -> None:
    rig = Rig(on_blocked="skip")
    key, value = change(1)
    rig.write(change(0), (key[:-1], value), (key, value[:-1]), change(3))
    rig.run()
    assert source_offsets(rig.output()) == [0, 3]
    assert rig.metric("streammask_records_blocked_total", topic=TOPIC, code="undecodable-key") == 1
    assert rig.metric("streammask_records_blocked_total", topic=TOPIC, code="undecodable") == 1
    [record] = rig.audit()
    jsonschema.validate(record, AUDIT_RECORD_SCHEMA)
    assert record["blocked_by_code"] == {"undecodable": 1, "undecodable-key": 1}
    assert [(b["offset"], b["code"], b["reason"]) for b in record["blocked"]] == [
        (1, "undecodable-key", "record key is not valid JSON"), (2, "undecodable", "record value is not valid JSON")]
    assert OUT == "staging.public.customers"
