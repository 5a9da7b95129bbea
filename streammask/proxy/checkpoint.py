"""Checkpoint records on the target cluster, written in the same transaction as the masked output.

Two kinds, in one compacted topic (``<group>`` percent-encoded, as a group id may contain "/"):
- ``offsets/<group>/<topic>/<partition>`` → the next source offset to read (cross-cluster mode: the
  source of truth for where to resume);
- ``audit-head/<group>/<instance>`` → sequence and hash of the instance's last audit record, so the
  audit chain continues across restarts, and the key id, key fingerprint and policy it was written under
  (heads written before key ids were recorded have none of them, before fingerprints no fingerprint);
- ``target/<group>/<topic>`` → the key id, key fingerprint and policy a target topic was last written
  under, and by which instance: one key per target topic is what ``continuity`` enforces (a second one
  breaks every join). Records written before fingerprints have none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

import orjson


def _group_part(group: str) -> str:
    """The group as one key segment: a group id may contain "/" (topic names cannot)."""
    return quote(group, safe="")


def offsets_key(group: str, topic: str, partition: int) -> bytes:
    return f"offsets/{_group_part(group)}/{topic}/{partition}".encode()


def audit_head_key(group: str, instance: str) -> bytes:
    return f"audit-head/{_group_part(group)}/{instance}".encode()


def target_key(group: str, topic: str) -> bytes:
    return f"target/{_group_part(group)}/{topic}".encode()


def encode_offset(topic: str, partition: int, next_offset: int, instance: str) -> bytes:
    return orjson.dumps({"topic": topic, "partition": partition, "next_offset": next_offset, "instance": instance})


def encode_audit_head(
    sequence: int, record_hash: str, key_id: str | None = None, policy_sha256: str | None = None,
    key_fingerprint: str | None = None,
) -> bytes:
    doc: dict[str, object] = {"sequence": sequence, "hash": record_hash}
    if key_id is not None and policy_sha256 is not None:
        doc |= {"key_id": key_id, "policy_sha256": policy_sha256}
        if key_fingerprint is not None:
            doc["key_fingerprint"] = key_fingerprint
    return orjson.dumps(doc)


def encode_target(key_id: str, policy_sha256: str, instance: str, key_fingerprint: str | None = None) -> bytes:
    doc = {"key_id": key_id, "policy_sha256": policy_sha256, "instance": instance}
    if key_fingerprint is not None:
        doc["key_fingerprint"] = key_fingerprint
    return orjson.dumps(doc)


@dataclass(frozen=True)
class Written:
    """The key id, key fingerprint and policy something (a target topic, an instance's audit chain) was
    last written under, and the instance that wrote it."""

    key_id: str
    policy_sha256: str
    instance: str
    key_fingerprint: str | None = None
    """None where it was written before fingerprints were recorded: then not judged on it."""


@dataclass
class CheckpointState:
    """The latest value per checkpoint key, as read back from the topic."""

    offsets: dict[tuple[str, int], int]
    audit_heads: dict[str, tuple[int, str]]
    chains: dict[str, Written] = field(default_factory=dict)
    """Per instance, what its audit head says it was written under (absent for heads without key ids)."""
    targets: dict[str, Written] = field(default_factory=dict)
    """Per target topic, in the order last written (the checkpoint topic has one partition)."""

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
            instance = "/".join(parts[2:])
            self.audit_heads[instance] = (int(doc["sequence"]), str(doc["hash"]))
            if "key_id" in doc:
                self.chains[instance] = Written(str(doc["key_id"]), str(doc["policy_sha256"]), instance,
                                                _fingerprint(doc))
            else:
                self.chains.pop(instance, None)
        elif parts[0] == "target":
            topic = "/".join(parts[2:])
            self.targets.pop(topic, None)  # re-inserted: the dict's order stays the order last written
            self.targets[topic] = Written(str(doc["key_id"]), str(doc["policy_sha256"]), str(doc["instance"]),
                                          _fingerprint(doc))


def _fingerprint(doc: dict[str, object]) -> str | None:
    value = doc.get("key_fingerprint")
    return value if isinstance(value, str) else None
