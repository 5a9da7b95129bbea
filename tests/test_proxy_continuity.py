"""Key continuity in the proxy (``Proxy.prepare``), against the in-memory Kafka fake: a start under another
key id, or other key material under the same key id, is refused before anything is consumed, unless
acknowledged; an acknowledged rotation and a policy change are logged, audited (schema-valid) and, for the
policy, counted; an unchanged start notes nothing."""

from __future__ import annotations

import logging
from typing import Any

import jsonschema
import orjson
import pytest
from test_proxy_runner import ABORTABLE, AUDIT_RECORD_SCHEMA, GROUP, OUT, POLICY, TOPIC, Rig, change, source_offsets

from streammask.bootstrap import MaskingSetup
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from streammask.proxy import checkpoint
from streammask.proxy.audit_record import verify_chain
from streammask.proxy.continuity import KeyChanged

SECRETS = {"k1": bytes(range(32)), "k2": bytes(range(100, 132))}
NEW_SECRET = bytes(range(200, 232))  # new key material, given the old key id k1
FP = {name: MasterKey(secret, name).fingerprint for name, secret in SECRETS.items()}
NEW_FP = MasterKey(NEW_SECRET, "k1").fingerprint
ACK = {"from_key_id": "k1", "to_key_id": "k2", "approved_by": "dpo@example.com", "reason": "QA-42: mixing accepted"}
NOTES = ("key_rotation", "policy_changed_from")
PATTERN = r"dbserver1\.public\..*"


def masking(key_id: str, policy: bytes = POLICY, secret: bytes | None = None) -> MaskingSetup:
    """A setup as ``open_masker`` makes it: the key id is the policy's (so a new key id is a new policy too)."""
    loaded = parse_policy(policy.replace(b"id: k1}", b"id: %s}" % key_id.encode()))
    key = MasterKey(secret or SECRETS[key_id], key_id)
    return MaskingSetup(loaded, key, RecordMasker(CompiledPolicy(loaded, key)))


def rig(after: Rig | None = None, *, key_id: str = "k1", policy: bytes = POLICY, secret: bytes | None = None,
        **config: Any) -> Rig:
    """A proxy over ``after``'s clusters (a restart, or another instance of the group), or over new ones."""
    clusters = {"source": after.source, "target": after.target} if after is not None else {}
    return Rig(setup=masking(key_id, policy, secret), **clusters, **config)


def ran(key_id: str = "k1", n: int = 2, **config: Any) -> Rig:
    first = rig(key_id=key_id, **config)
    first.write(*(change(i) for i in range(n)))
    first.run()
    return first


def refused(proxy: Rig) -> str:
    """Run ``proxy``, which must refuse at start, touching no record; the refusal's message."""
    journal_before = len(proxy.journal)
    with pytest.raises(KeyChanged) as info:
        proxy.run()
    done = proxy.journal[journal_before:]
    assert not [e for e in done if e.startswith(("assign", "rebalance", "produce", "begin"))], done
    return str(info.value)


def head(proxy: Rig, instance: str = "i1") -> dict[str, Any]:
    key = checkpoint.audit_head_key(GROUP, instance)
    doc = [orjson.loads(m.value() or b"") for m in proxy.target.committed_view(proxy.config.checkpoint_topic)
           if m.key() == key][-1]
    assert isinstance(doc, dict)
    return doc


def target_records(proxy: Rig, topic: str = OUT) -> list[dict[str, Any]]:
    key = checkpoint.target_key(GROUP, topic)
    return [orjson.loads(m.value() or b"") for m in proxy.target.committed_view(proxy.config.checkpoint_topic)
            if m.key() == key]


def changed_policy_samples(proxy: Rig) -> list[dict[str, str]]:
    return [s.labels for m in proxy.metrics.registry.collect() for s in m.samples
            if s.name == "streammask_policy_changed_timestamp_seconds"]


@pytest.mark.parametrize("instance", ["i1", "i2"])
def test_a_start_under_another_key_is_refused_before_anything_is_consumed(instance: str) -> None:
    """The same instance restarted, or another instance of the group: both would continue k1's topic."""
    first = ran("k1")
    first.write(change(2))
    text = refused(rig(first, key_id="k2", instance_id=instance))
    assert f"key id changed for group {GROUP}: target topic(s) {OUT} last written under key id 'k1' (instance i1)" \
        in text
    assert "the key in force is 'k2'" in text and "key_rotation: {from_key_id: k1, to_key_id: k2" in text
    assert "streammask replay --config FILE --from earliest" in text
    assert source_offsets(first.output()) == [0, 1] and len(first.audit()) == 1
    assert first.source.group_offsets == {(GROUP, TOPIC, 0): 2}


def test_with_a_topic_pattern_the_targets_are_those_of_the_topics_matching_now() -> None:
    first = ran("k1", topics=None, topic_pattern=PATTERN)
    assert OUT in refused(rig(first, key_id="k2", topics=None, topic_pattern=PATTERN))
    elsewhere = [{"match": r"[^.]+\.(.*)", "to": r"qa2.\1"}]
    rebuilt = rig(first, key_id="k2", topics=None, topic_pattern=PATTERN, routing=elsewhere)
    rebuilt.write(change(2))
    rebuilt.run()  # the matching topic now routes to a topic k1 never wrote
    assert target_records(rebuilt, "qa2.public.customers")[-1]["key_id"] == "k2"


def test_new_target_topics_need_no_acknowledgement_and_the_old_ones_stay_the_old_keys() -> None:
    first = ran("k1")
    rebuilt = rig(first, key_id="k2", routing=[{"match": r"[^.]+\.(.*)", "to": r"qa2.\1"}])
    rebuilt.write(change(2))
    rebuilt.run()
    assert source_offsets(rebuilt.output("qa2.public.customers")) == [2]  # `replay` rebuilds the rest
    assert f"{OUT} last written under key id 'k1'" in refused(rig(first, key_id="k2"))


def test_an_acknowledged_rotation_runs_and_its_first_audit_record_says_who_approved_what(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = ran("k1", n=1)
    second = rig(first, key_id="k2", key_rotation=ACK, max_per_consume=2, batch={"max_records": 2, "max_ms": 1000})
    second.write(*(change(i) for i in range(1, 5)))
    second.producer.fail("commit_transaction", ABORTABLE)  # the first commit aborts: its notes wait for the next
    caplog.set_level(logging.INFO, "streammask")
    second.run()

    audit = second.audit()
    assert [r["key_id"] for r in audit] == ["k1", "k2", "k2"] and verify_chain(audit) == []
    for record in audit:
        jsonschema.validate(record, AUDIT_RECORD_SCHEMA)
    assert audit[1]["key_rotation"] == {**ACK, "target_topics": [OUT]}
    assert audit[1]["policy_changed_from"] == first.proxy.setup.loaded.sha256  # the key id is in the policy
    assert not [n for n in NOTES if n in audit[0] or n in audit[2]]
    assert source_offsets(second.output()) == [0, 1, 2, 3, 4]
    [logged] = [r for r in caplog.records if r.getMessage().startswith("key rotation acknowledged")]
    assert logged.levelno == logging.WARNING
    assert {k: v for k, v in getattr(logged, "fields", {}).items() if k in ACK} == ACK
    assert target_records(second)[-1] == {"key_id": "k2", "policy_sha256": second.proxy.setup.loaded.sha256,
                                          "instance": "i1", "key_fingerprint": FP["k2"]}

    # the topic is k2's now: k2 goes on without the acknowledgement (or with it: nothing to acknowledge)…
    third = rig(first, key_id="k2")
    third.write(change(5))
    third.run()
    fourth = rig(first, key_id="k2", key_rotation=ACK, instance_id="i2")
    fourth.write(change(6))
    fourth.run()
    assert not [n for r in third.audit()[3:] for n in NOTES if n in r]
    # …and k1, from any instance, is refused
    assert "last written under key id 'k2'" in refused(rig(first, key_id="k1", instance_id="i3"))


@pytest.mark.parametrize(("rotation", "says"), [
    ({**ACK, "from_key_id": "k0"}, "key_rotation acknowledges 'k0' -> 'k2', but key id changed for group g1: "
                                   "target topic(s) staging.public.customers last written under key id 'k1'"),
    ({**ACK, "to_key_id": "k3"}, "key_rotation.to_key_id is 'k3', but the key in force (the policy's key id) "
                                 "is 'k2'"),
])
def test_an_acknowledgement_of_another_switch_is_refused_and_says_why(rotation: dict[str, str], says: str) -> None:
    first = ran("k1")
    assert says in refused(rig(first, key_id="k2", key_rotation=rotation))
    assert len(first.audit()) == 1


def test_a_policy_change_is_logged_audited_and_shown_in_metrics(caplog: pytest.LogCaptureFixture) -> None:
    first = ran("k1", n=1)
    evolved = POLICY + b"# reviewed: nothing new to mask\n"
    second = rig(first, policy=evolved, max_per_consume=1, batch={"max_records": 1, "max_ms": 1000})
    second.write(change(1), change(2))
    caplog.set_level(logging.INFO, "streammask")
    second.run()

    old, new = first.proxy.setup.loaded.sha256, second.proxy.setup.loaded.sha256
    [logged] = [r for r in caplog.records if r.getMessage().startswith("policy changed")]
    assert (logged.levelno, logged.getMessage()) == (logging.WARNING, f"policy changed from {old} to {new}")
    assert getattr(logged, "fields", {}) == {"group": GROUP, "from_policy_sha256": old, "policy_sha256": new}
    audit = second.audit()
    for record in audit:
        jsonschema.validate(record, AUDIT_RECORD_SCHEMA)
    assert [r.get("policy_changed_from") for r in audit] == [None, old, None]
    assert "key_rotation" not in audit[1]
    assert changed_policy_samples(second) == [{"instance": "i1", "from_policy_sha256": old, "policy_sha256": new}]
    assert second.metric("streammask_policy_changed_timestamp_seconds", instance="i1", from_policy_sha256=old,
                         policy_sha256=new) > 1.7e9  # Unix time

    # a new instance has no chain of its own: the policy its target topic was written under counts
    newcomer = rig(first, policy=evolved + b"# again\n", instance_id="i9")
    newcomer.write(change(3))
    newcomer.run()
    assert newcomer.audit()[-1]["policy_changed_from"] == new


def test_the_same_key_and_policy_note_nothing_and_record_the_topic_once_per_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = ran("k1", n=1)
    caplog.set_level(logging.INFO, "streammask")
    second = rig(first, max_per_consume=1, batch={"max_records": 1, "max_ms": 1000})
    second.write(change(1), change(2))
    second.run()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [n for r in second.audit() for n in NOTES if n in r]
    assert changed_policy_samples(second) == []
    sha = second.proxy.setup.loaded.sha256
    assert head(second) | {"hash": None} == {"sequence": 3, "hash": None, "key_id": "k1", "policy_sha256": sha,
                                             "key_fingerprint": FP["k1"]}
    assert target_records(second) == [{"key_id": "k1", "policy_sha256": sha, "instance": "i1",
                                       "key_fingerprint": FP["k1"]}] * 2  # one per start


def test_checkpoints_without_key_ids_are_judged_by_the_groups_last_audit_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Checkpoints of a streammask before key checks: the audit topic's tail names the key in use."""
    def upgraded(key_id: str, audit: list[dict[str, Any]] | None) -> Rig:
        proxy = rig(key_id=key_id)
        proxy.target.write(proxy.config.checkpoint_topic, checkpoint.audit_head_key(GROUP, "i1"),
                           checkpoint.encode_audit_head(7, "ab" * 32))
        if audit is not None:
            proxy.proxy.clients.read_audit_tail = lambda n: [(b"i1", orjson.dumps(r)) for r in audit]
        proxy.write(change(0))
        return proxy

    last = {"group_id": GROUP, "key_id": "k1", "policy_sha256": "1" * 64, "instance": "i1"}
    others = {"group_id": "another", "key_id": "k2", "policy_sha256": "2" * 64, "instance": "x"}
    assert f"{OUT} last written under key id 'k1'" in refused(upgraded("k2", [last, others]))

    same = upgraded("k1", [last, others])
    same.run()
    assert same.audit()[0]["policy_changed_from"] == "1" * 64
    assert target_records(same)[0]["key_id"] == "k1" and head(same)["sequence"] == 8

    unknown = upgraded("k2", [others])
    caplog.clear()
    caplog.set_level(logging.WARNING, "streammask")
    unknown.run()
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("key continuity not checked")]
    assert head(unknown)["key_id"] == "k2"  # from now on the checkpoints say it


# -- new key material under the same key id (issue 12) ------------------------------------------------


@pytest.mark.parametrize("instance", ["i1", "i2"])
@pytest.mark.faults
def test_new_key_material_under_the_same_key_id_is_refused_naming_both_fingerprints(instance: str) -> None:
    """999 of 1,000 customer ids would get a second masked key in the target: the same refusal as a new key id."""
    first = ran("k1")
    assert [r["key_fingerprint"] for r in first.audit()] == [FP["k1"]] and head(first)["key_fingerprint"] == FP["k1"]
    first.write(change(2))
    text = refused(rig(first, secret=NEW_SECRET, instance_id=instance))
    assert text.startswith(f"same key id 'k1' but another key (fingerprint {FP['k1']} → {NEW_FP}) for group {GROUP}: "
                           "the key material changed without a new key id; ")
    assert f"target topic(s) {OUT} last written under fingerprint {FP['k1']} (instance i1)" in text
    assert f"start with the key of fingerprint {FP['k1']} again" in text
    assert "streammask replay --config FILE --from earliest" in text
    assert (f"key_rotation: {{from_key_id: k1, to_key_id: k1, from_fingerprint: {FP['k1']}, to_fingerprint: {NEW_FP}, "
            "approved_by: <who>, reason: <why>}") in text
    assert SECRETS["k1"].hex()[:8] not in text and NEW_SECRET.hex()[:8] not in text
    assert source_offsets(first.output()) == [0, 1] and len(first.audit()) == 1


def test_new_key_material_acknowledged_with_its_fingerprints_runs_and_is_audited() -> None:
    first = ran("k1", n=1)
    ack = {"from_key_id": "k1", "to_key_id": "k1", "from_fingerprint": FP["k1"], "to_fingerprint": NEW_FP,
           "approved_by": "dpo@example.com", "reason": "QA-43: new secret, same id"}
    second = rig(first, secret=NEW_SECRET, key_rotation=ack)
    second.write(change(1))
    second.run()
    audit = second.audit()
    assert [r["key_fingerprint"] for r in audit] == [FP["k1"], NEW_FP] and verify_chain(audit) == []
    for record in audit:
        jsonschema.validate(record, AUDIT_RECORD_SCHEMA)
    assert audit[1]["key_rotation"] == {**ack, "target_topics": [OUT]} and "policy_changed_from" not in audit[1]
    assert target_records(second)[-1]["key_fingerprint"] == NEW_FP
    assert second.metric("streammask_policy_info", instance="i1", group=GROUP, key_id="k1",
                         key_fingerprint=NEW_FP, policy_sha256=second.proxy.setup.loaded.sha256) == 1

    # the acknowledgement is pinned to that change: a third secret under k1 is refused even with it in place
    third = rig(first, secret=bytes(range(50, 82)), key_rotation=ack)
    third_fp = third.proxy.setup.key.fingerprint
    assert f"key_rotation.to_fingerprint is {NEW_FP}, but the key in force ('k1') has fingerprint {third_fp}" \
        in refused(third)
    # and the old material is now the other key
    assert f"(fingerprint {NEW_FP} → {FP['k1']})" in refused(rig(first, instance_id="i3"))


def test_an_acknowledgement_from_other_material_is_refused() -> None:
    first = ran("k1", n=1)
    ack = {"from_key_id": "k1", "to_key_id": "k1", "from_fingerprint": "0" * 16, "to_fingerprint": NEW_FP,
           "approved_by": "dpo@example.com", "reason": "QA-43"}
    text = refused(rig(first, secret=NEW_SECRET, key_rotation=ack))
    assert text.startswith(f"key_rotation acknowledges 'k1' -> 'k1' (fingerprint {'0' * 16} -> {NEW_FP}), but same "
                           f"key id 'k1' but another key (fingerprint {FP['k1']} → {NEW_FP})")


def test_checkpoints_without_fingerprints_are_not_judged_on_them_and_get_one_at_the_next_commit() -> None:
    """Checkpoints of a streammask before fingerprints: the key id is all that can be compared."""
    old = rig(secret=NEW_SECRET)
    sha = old.proxy.setup.loaded.sha256
    old.target.write(old.config.checkpoint_topic, checkpoint.target_key(GROUP, OUT),
                     checkpoint.encode_target("k1", sha, "i0"))
    old.target.write(old.config.checkpoint_topic, checkpoint.audit_head_key(GROUP, "i1"),
                     checkpoint.encode_audit_head(4, "ab" * 32, "k1", sha))
    old.write(change(0))
    old.run()
    assert target_records(old)[-1]["key_fingerprint"] == NEW_FP and head(old)["sequence"] == 5
    assert f"(fingerprint {NEW_FP} → {FP['k1']})" in refused(rig(old))  # from now on it is judged
