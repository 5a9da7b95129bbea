"""Checkpoint records on the target cluster, written in the same transaction as the masked output.

Two kinds, in one compacted topic (``<group>`` percent-encoded, as a group id may contain "/"):
- ``offsets/<group>/<topic>/<partition>`` → the next source offset to read (cross-cluster mode: the
  source of truth for where to resume);
- ``audit-head/<group>/<instance>`` → sequence and hash of the instance's last audit record, so the
  audit chain continues across restarts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

import orjson


def _group_part(group: str) -> str:
    """The group as one key segment: a group id may contain "/" (topic names cannot)."""
    return quote(group, safe="")


def offsets_key(group: str, topic: str, partition: int) -> bytes:
    return f"offsets/{_group_part(group)}/{topic}/{partition}".encode()


def audit_head_key(group: str, instance: str) -> bytes:
    return f"audit-head/{_group_part(group)}/{instance}".encode()


def encode_offset(topic: str, partition: int, next_offset: int, instance: str) -> bytes:
    return orjson.dumps({"topic": topic, "partition": partition, "next_offset": next_offset, "instance": instance})


def encode_audit_head(sequence: int, record_hash: str) -> bytes:
    return orjson.dumps({"sequence": sequence, "hash": record_hash})


@dataclass
class CheckpointState:
    """The latest value per checkpoint key, as read back from the topic."""

    offsets: dict[tuple[str, int], int]
    audit_heads: dict[str, tuple[int, str]]

    @classmethod
    def empty(cls) -> CheckpointState:
        return cls({}, {})

    @classmethod
    def of(cls, group: str, records: Iterable[tuple[bytes | None, bytes | None]]) -> CheckpointState:
        """The state of ``group`` after the checkpoint topic's (key, value) records, in topic order."""
        state = cls.empty()
        for key, value in records:
            state.apply(group, key, value)
        return state

    def apply(self, group: str, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        text = key.decode("utf-8", "replace")
        parts = text.split("/")
        if value is None or len(parts) < 3 or parts[1] != _group_part(group):
            return
        doc = orjson.loads(value)
        if parts[0] == "offsets":
            self.offsets[(doc["topic"], int(doc["partition"]))] = int(doc["next_offset"])
        elif parts[0] == "audit-head":
            self.audit_heads["/".join(parts[2:])] = (int(doc["sequence"]), str(doc["hash"]))
