"""Consumer lag from librdkafka's statistics (the running proxy's gauge)."""

from __future__ import annotations

from typing import Any

from streammask.proxy.lag import from_stats


def stats(**partitions: dict[str, Any]) -> dict[str, Any]:
    return {"topics": {"db.t": {"partitions": {"-1": {"ls_offset": 99}, **partitions}}}}


def test_end_is_the_last_stable_offset_and_position_what_this_instance_committed() -> None:
    doc = stats(**{"0": {"ls_offset": 50, "hi_offset": 60, "committed_offset": 10}})
    assert from_stats(doc, [("db.t", 0)], {("db.t", 0): 45}) == {("db.t", 0): 5}


def test_before_this_instance_commits_the_consumers_committed_offset_counts() -> None:
    doc = stats(**{"0": {"ls_offset": 50, "committed_offset": 10}, "1": {"ls_offset": 7, "committed_offset": -1001}})
    assert from_stats(doc, [("db.t", 0), ("db.t", 1)], {}) == {("db.t", 0): 40}  # 1: no position known yet


def test_high_watermark_without_a_last_stable_offset_and_never_negative() -> None:
    doc = stats(**{"0": {"ls_offset": -1, "hi_offset": 30}, "1": {"ls_offset": 5}})
    assert from_stats(doc, [("db.t", 0), ("db.t", 1)], {("db.t", 0): 12, ("db.t", 1): 9}) == {
        ("db.t", 0): 18,
        ("db.t", 1): 0,
    }


def test_partitions_not_assigned_here_are_left_out() -> None:
    doc = stats(**{"0": {"ls_offset": 50, "committed_offset": 10}, "3": {"ls_offset": 50, "committed_offset": 0}})
    assert from_stats(doc, [("db.t", 0), ("other", 3)], {}) == {("db.t", 0): 40}
