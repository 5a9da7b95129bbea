"""The key continuity decision (``proxy.continuity``) on its own: which start is refused, which rotation
applies, which policy came before, and what the refusal says."""

from __future__ import annotations

import orjson
import pytest

from streammask.proxy import checkpoint
from streammask.proxy.checkpoint import CheckpointState, Written
from streammask.proxy.config import KeyRotation
from streammask.proxy.continuity import KeyChanged, assess, check_key, last_of_group, predates_key_ids, previous_policy

P1, P2 = "1" * 64, "2" * 64
T1, T2, T3 = "staging.public.customers", "staging.public.orders", "staging.public.items"


def ack(from_key: str = "k1", to_key: str = "k2") -> KeyRotation:
    return KeyRotation(from_key_id=from_key, to_key_id=to_key, approved_by="dpo@example.com", reason="QA-42")


def written(key_id: str, instance: str = "i1", policy: str = P1) -> Written:
    return Written(key_id, policy, instance)


def check(key_id: str, targets: list[str], before: dict[str, Written], rotation: KeyRotation | None = None) -> object:
    return check_key(group="g1", key_id=key_id, targets=targets, written=before, rotation=rotation)


def test_nothing_written_before_or_the_same_key_needs_nothing() -> None:
    assert check("k2", [T1], {}) is None
    assert check("k1", [T1, T2], {T1: written("k1"), T2: written("k1", "i2")}) is None


def test_targets_this_start_does_not_write_do_not_count() -> None:
    """A topic written under k1 that the config no longer routes to (e.g. replaced by new target topics)."""
    assert check("k2", [T2], {T1: written("k1")}) is None


def test_another_key_is_refused_with_both_ids_the_group_the_topics_and_the_way_out() -> None:
    with pytest.raises(KeyChanged) as info:
        check("k2", [T1, T2, T3], {T1: written("k1"), T2: written("k1", "i2"), T3: written("k2")})
    text = str(info.value)
    assert "key id changed for group g1" in text
    assert f"target topic(s) {T1}, {T2} last written under key id 'k1' (instance i1, i2)" in text
    assert "the key in force is 'k2'" in text and T3 not in text  # T3 is already under k2
    assert "route to new target topics and run `streammask replay --config FILE --from earliest`" in text
    assert "ops/runbooks/key-rotation.md" in text
    assert "key_rotation: {from_key_id: k1, to_key_id: k2, approved_by: <who>, reason: <why>}" in text


def test_a_long_list_of_topics_is_cut_short() -> None:
    many = [f"staging.t{i:02d}" for i in range(25)]
    with pytest.raises(KeyChanged) as info:
        check("k2", many, dict.fromkeys(many, written("k1")))
    assert "staging.t09 and 15 more last written" in str(info.value) and "staging.t10" not in str(info.value)


def test_an_acknowledgement_of_that_switch_applies_to_the_topics_it_mixes() -> None:
    rotation = check("k2", [T2, T1, T3], {T1: written("k1"), T2: written("k1"), T3: written("k2")}, ack())
    assert rotation is not None and rotation.targets == (T1, T2)
    assert rotation.audit() == {"from_key_id": "k1", "to_key_id": "k2", "approved_by": "dpo@example.com",
                                "reason": "QA-42", "target_topics": [T1, T2]}


def test_an_acknowledgement_with_nothing_to_acknowledge_is_no_rotation() -> None:
    assert check("k2", [T1], {T1: written("k2")}, ack()) is None


def test_an_acknowledgement_from_another_key_is_refused_and_says_which_was_found() -> None:
    with pytest.raises(KeyChanged) as info:
        check("k2", [T1], {T1: written("k0")}, ack("k1", "k2"))
    text = str(info.value)
    assert text.startswith("key_rotation acknowledges 'k1' -> 'k2', but key id changed for group g1")
    assert "last written under key id 'k0'" in text and "from_key_id: k0" in text


def test_an_acknowledgement_to_another_key_than_the_one_in_force_is_refused_even_with_nothing_to_mix() -> None:
    for before in ({}, {T1: written("k1")}):
        with pytest.raises(KeyChanged, match=r"key_rotation.to_key_id is 'k2', but the key in force .* is 'k3'"):
            check("k3", [T1], before, ack("k1", "k2"))


def test_topics_under_several_old_keys_cannot_be_acknowledged_at_once() -> None:
    with pytest.raises(KeyChanged) as info:
        check("k2", [T1, T2], {T1: written("k0"), T2: written("k1")}, ack("k1", "k2"))
    text = str(info.value)
    assert f"{T1} last written under key id 'k0'" in text and f"{T2} last written under key id 'k1'" in text
    assert "One key_rotation cannot acknowledge several keys" in text and "route to new target topics" in text


def state(*records: tuple[bytes, bytes]) -> CheckpointState:
    return CheckpointState.of("g1", list(records))


def head(instance: str, key_id: str | None = None, policy: str | None = None) -> tuple[bytes, bytes]:
    return checkpoint.audit_head_key("g1", instance), checkpoint.encode_audit_head(1, "ab" * 32, key_id, policy)


def target(topic: str, key_id: str, policy: str = P1, instance: str = "i1") -> tuple[bytes, bytes]:
    return checkpoint.target_key("g1", topic), checkpoint.encode_target(key_id, policy, instance)


def test_the_previous_policy_is_the_instances_own_else_the_latest_of_its_targets() -> None:
    s = state(head("i1", "k1", P1), target(T1, "k1", P2), target(T2, "k1", P1), target(T1, "k1", P2))
    assert previous_policy(s, "i1", [T1, T2]) == P1  # its own chain
    assert previous_policy(s, "i9", [T1, T2]) == P2  # T1 was written last
    assert previous_policy(s, "i9", [T2]) == P1
    assert previous_policy(s, "i9", [T3]) is None
    assert previous_policy(state(head("i1")), "i1", [T1], written("k1", policy=P2)) == P2  # legacy head


def test_assess_reports_a_policy_change_and_not_the_same_policy() -> None:
    s = state(head("i1", "k1", P1), target(T1, "k1", P1))
    changed = assess(s, group="g1", instance="i1", key_id="k1", policy_sha256=P2, targets=[T1], rotation=None)
    assert (changed.rotation, changed.policy_from) == (None, P1)
    same = assess(s, group="g1", instance="i1", key_id="k1", policy_sha256=P1, targets=[T1], rotation=None)
    assert (same.rotation, same.policy_from) == (None, None)


def test_old_checkpoints_without_key_ids_are_judged_by_the_last_audit_record_of_the_group() -> None:
    old = state(head("i1"), head("i2"))
    assert predates_key_ids(old)
    assert not predates_key_ids(state(head("i1"), target(T1, "k1")))  # some instance wrote key ids already
    assert not predates_key_ids(state())  # a new group
    audit: list[tuple[bytes | None, bytes | None]] = [
        (b"i1", orjson.dumps({"group_id": "g1", "key_id": "k0", "policy_sha256": P1, "instance": "i1"})),
        (b"i2", orjson.dumps({"group_id": "g1", "key_id": "k1", "policy_sha256": P2, "instance": "i2"})),
        (b"x", orjson.dumps({"group_id": "other", "key_id": "k9", "policy_sha256": P1, "instance": "x"})),
        (b"x", b"not json"),
    ]
    legacy = last_of_group(audit, "g1")
    assert legacy == written("k1", "i2", P2)
    assert last_of_group(audit, "nobody") is None
    with pytest.raises(KeyChanged, match=rf"{T1} last written under key id 'k1' \(instance i2\)"):
        assess(old, group="g1", instance="i1", key_id="k2", policy_sha256=P2, targets=[T1], rotation=None,
               legacy=legacy)
    same = assess(old, group="g1", instance="i1", key_id="k1", policy_sha256=P1, targets=[T1], rotation=None,
                  legacy=legacy)
    assert same.policy_from == P2
