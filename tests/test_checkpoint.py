"""Checkpoint records: encode → apply round trip, latest value wins, other groups ignored."""

from __future__ import annotations

from streammask.proxy import checkpoint
from streammask.proxy.checkpoint import CheckpointState, Written


def state_of(group: str, records: list[tuple[bytes | None, bytes | None]]) -> CheckpointState:
    return CheckpointState.of(group, records)


def test_round_trip_latest_wins_and_other_groups_are_ignored() -> None:
    t = "db.public.customers"
    records: list[tuple[bytes | None, bytes | None]] = [
        (checkpoint.offsets_key("g", t, 0), checkpoint.encode_offset(t, 0, 5, "i1")),
        (checkpoint.offsets_key("g", t, 1), checkpoint.encode_offset(t, 1, 9, "i1")),
        (checkpoint.offsets_key("g", t, 0), checkpoint.encode_offset(t, 0, 7, "i2")),
        (checkpoint.offsets_key("other", t, 0), checkpoint.encode_offset(t, 0, 99, "x")),
        (checkpoint.audit_head_key("g", "i1"), checkpoint.encode_audit_head(3, "ab" * 32)),
        (checkpoint.audit_head_key("other", "i1"), checkpoint.encode_audit_head(8, "cd" * 32)),
        (checkpoint.offsets_key("g", "db.public.orders", 0), None),  # a compaction tombstone
        (None, b"{}"),
    ]
    state = state_of("g", records)
    assert state.offsets == {(t, 0): 7, (t, 1): 9}
    assert state.audit_heads == {"i1": (3, "ab" * 32)}


def test_instance_ids_with_slashes_keep_their_audit_head() -> None:
    state = state_of("g", [(checkpoint.audit_head_key("g", "pod/7"), checkpoint.encode_audit_head(2, "00" * 32))])
    assert state.audit_heads == {"pod/7": (2, "00" * 32)}


def test_a_group_whose_id_contains_a_slash_does_not_leak_into_its_prefix_group() -> None:
    records: list[tuple[bytes | None, bytes | None]] = [
        (checkpoint.offsets_key("a/b", "t", 0), checkpoint.encode_offset("t", 0, 42, "i")),
    ]
    assert state_of("a", records).offsets == {}
    assert state_of("a/b", records).offsets == {("t", 0): 42}


def test_heads_and_target_records_say_which_key_and_policy_wrote_them() -> None:
    p1, p2 = "1" * 64, "2" * 64
    state = state_of("g", [
        (checkpoint.audit_head_key("g", "i1"), checkpoint.encode_audit_head(3, "ab" * 32, "k1", p1)),
        (checkpoint.audit_head_key("g", "i2"), checkpoint.encode_audit_head(5, "cd" * 32)),  # before key ids
        (checkpoint.target_key("g", "qa.a"), checkpoint.encode_target("k1", p1, "i1")),
        (checkpoint.target_key("g", "qa.b"), checkpoint.encode_target("k1", p1, "i2")),
        (checkpoint.target_key("g", "qa.a"), checkpoint.encode_target("k2", p2, "i2")),
        (checkpoint.target_key("other", "qa.c"), checkpoint.encode_target("k9", p1, "x")),
    ])
    assert state.audit_heads == {"i1": (3, "ab" * 32), "i2": (5, "cd" * 32)}
    assert state.chains == {"i1": Written("k1", p1, "i1")}
    assert state.targets == {"qa.b": Written("k1", p1, "i2"), "qa.a": Written("k2", p2, "i2")}
    assert list(state.targets) == ["qa.b", "qa.a"], "in the order last written"
    downgraded = state_of("g", [  # a later head without key ids (an older streammask) says nothing of a key
        (checkpoint.audit_head_key("g", "i1"), checkpoint.encode_audit_head(3, "ab" * 32, "k1", p1)),
        (checkpoint.audit_head_key("g", "i1"), checkpoint.encode_audit_head(4, "ef" * 32)),
    ])
    assert downgraded.chains == {}
