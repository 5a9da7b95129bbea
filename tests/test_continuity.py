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


FA, FB, FC = "a" * 16, "b" * 16, "c" * 16  # key fingerprints


def ack(from_key: str = "k1", to_key: str = "k2", from_fp: str | None = None, to_fp: str | None = None) -> KeyRotation:
    return KeyRotation(from_key_id=from_key, to_key_id=to_key, from_fingerprint=from_fp, to_fingerprint=to_fp,
                       approved_by="dpo@example.com", reason="QA-42")


def written(key_id: str, instance: str = "i1", policy: str = P1, fp: str | None = None) -> Written:
    return Written(key_id, policy, instance, fp)


def check(key_id: str, targets: list[str], before: dict[str, Written], rotation: KeyRotation | None = None,
          fp: str | None = None) -> object:
    return check_key(group="g1", key_id=key_id, targets=targets, written=before, rotation=rotation,
                     key_fingerprint=fp)


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


# -- key fingerprints (issue 12) --------------------------------------------------------------------


def test_the_same_key_id_with_other_key_material_is_refused_as_a_key_change() -> None:
    with pytest.raises(KeyChanged) as info:
        check("k1", [T1, T2], {T1: written("k1", fp=FA), T2: written("k1", "i2", fp=FA)}, fp=FB)
    text = str(info.value)
    assert text.startswith(f"same key id 'k1' but another key (fingerprint {FA} → {FB}) for group g1: the key "
                           f"material changed without a new key id; target topic(s) {T1}, {T2} last written under "
                           f"fingerprint {FA} (instance i1, i2). Continuing would mix records of two unrelated "
                           "mappings")
    assert f"If the key was replaced by mistake, start with the key of fingerprint {FA} again" in text
    assert "give the new key a new key id (the policy's key.id)" in text and "--from earliest" in text
    assert (f"key_rotation: {{from_key_id: k1, to_key_id: k1, from_fingerprint: {FA}, to_fingerprint: {FB}, "
            "approved_by: <who>, reason: <why>}") in text


def test_the_same_key_material_or_an_unrecorded_fingerprint_needs_nothing() -> None:
    assert check("k1", [T1], {T1: written("k1", fp=FA)}, fp=FA) is None
    assert check("k1", [T1], {T1: written("k1")}, fp=FB) is None  # written before fingerprints: not judged
    assert check("k1", [T1], {T1: written("k1", fp=FA)}) is None  # a caller without one: not judged


def test_new_material_acknowledged_with_both_fingerprints_applies_and_is_audited_with_them() -> None:
    rotation = check("k1", [T1, T2], {T1: written("k1", fp=FA), T2: written("k1")}, ack("k1", "k1", FA, FB), fp=FB)
    assert rotation is not None and rotation.targets == (T1,)
    assert rotation.audit() == {"from_key_id": "k1", "to_key_id": "k1", "from_fingerprint": FA, "to_fingerprint": FB,
                                "approved_by": "dpo@example.com", "reason": "QA-42", "target_topics": [T1]}


def test_an_acknowledgement_pinned_to_other_material_is_refused() -> None:
    with pytest.raises(KeyChanged, match=f"key_rotation.to_fingerprint is {FB}, but the key in force .'k1'. has "
                                         f"fingerprint {FC}"):
        check("k1", [T1], {}, ack("k1", "k1", FA, FB), fp=FC)
    with pytest.raises(KeyChanged) as info:
        check("k1", [T1], {T1: written("k1", fp=FC)}, ack("k1", "k1", FA, FB), fp=FB)
    assert str(info.value).startswith(f"key_rotation acknowledges 'k1' -> 'k1' (fingerprint {FA} -> {FB}), but same "
                                      f"key id 'k1' but another key (fingerprint {FC} → {FB})")


def test_a_new_key_id_acknowledgement_may_pin_fingerprints_too() -> None:
    before = {T1: written("k1", fp=FA)}
    assert check("k2", [T1], before, ack(), fp=FB) is not None  # without fingerprints: the ids decide
    assert check("k2", [T1], before, ack(from_fp=FA, to_fp=FB), fp=FB) is not None
    with pytest.raises(KeyChanged, match="last written under key id 'k1'"):
        check("k2", [T1], before, ack(from_fp=FC), fp=FB)


def test_several_materials_under_one_old_key_id_cannot_be_acknowledged_at_once() -> None:
    before = {T1: written("k1", fp=FA), T2: written("k1", "i2", fp=FC), T3: written("k2", fp=FA)}
    with pytest.raises(KeyChanged) as info:
        check("k2", [T1, T2, T3], before, ack(), fp=FB)
    text = str(info.value)
    assert text.startswith("key_rotation acknowledges 'k1' -> 'k2', but key id changed for group g1: ")
    assert f"{T1} last written under key id 'k1' (fingerprint {FA}; instance i1)" in text
    assert f"{T2} last written under key id 'k1' (fingerprint {FC}; instance i2)" in text
    assert f"{T3} last written under key id 'k2' with another fingerprint {FA} (instance i1)" in text
    assert f"the key in force is 'k2' (fingerprint {FB})" in text
    assert "One key_rotation cannot acknowledge several keys" in text


def test_an_acknowledgement_of_the_same_key_id_needs_two_different_fingerprints() -> None:
    with pytest.raises(ValueError, match="give `from_fingerprint` and `to_fingerprint` too"):
        ack("k1", "k1")
    with pytest.raises(ValueError, match="give `from_fingerprint` and `to_fingerprint` too"):
        ack("k1", "k1", FA)
    with pytest.raises(ValueError, match="no rotation to acknowledge"):
        ack("k1", "k1", FA, FA)
    with pytest.raises(ValueError, match="from_fingerprint"):
        ack("k1", "k1", "A" * 16, FB)  # 16 lower-case hex digits, as the refusal writes them
    assert ack("k1", "k1", FA, FB).to_fingerprint == FB


def test_the_fingerprints_of_checkpoints_and_the_audit_tail_are_read_back() -> None:
    s = state((checkpoint.target_key("g1", T1), checkpoint.encode_target("k1", P1, "i1", FA)),
              (checkpoint.audit_head_key("g1", "i1"), checkpoint.encode_audit_head(3, "ab" * 32, "k1", P1, FA)),
              target(T2, "k1"))
    assert s.targets[T1] == written("k1", fp=FA) and s.chains["i1"] == written("k1", fp=FA)
    assert s.targets[T2].key_fingerprint is None
    tail = [(b"i1", orjson.dumps({"group_id": "g1", "key_id": "k1", "policy_sha256": P1, "instance": "i1",
                                  "key_fingerprint": FA}))]
    assert last_of_group(tail, "g1") == written("k1", fp=FA)
