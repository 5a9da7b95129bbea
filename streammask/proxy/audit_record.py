"""One audit record per committed transaction, chained per instance by the hash of the previous one.

The record says what was masked, how, under which policy, key id and key fingerprint, and which source offsets it
covers (per partition: first and last offset, and how many records it consumed between them, so that
``streammask audit verify`` can match them against the output); it never holds a value.
``schemas/audit-record.schema.json`` describes it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from streammask import __version__
from streammask.audit import AuditCounts, utc_now

GENESIS = "0" * 64


@dataclass(slots=True)
class OffsetRange:
    first: int
    last: int
    records: int = 1


@dataclass
class TransactionAudit:
    """Counts for one transaction plus the source offset range per partition it consumed."""

    counts: AuditCounts
    ranges: dict[tuple[str, int], OffsetRange] = field(default_factory=dict)

    def consumed(self, tp: tuple[str, int], offset: int) -> None:
        """Record ``offset`` of partition ``tp`` (topic, partition) as part of this transaction."""
        r = self.ranges.get(tp)
        if r is None:
            self.ranges[tp] = OffsetRange(offset, offset)
            return
        r.records += 1
        if offset > r.last:
            r.last = offset
        elif offset < r.first:
            r.first = offset

    def records_by_topic(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (topic, _), r in self.ranges.items():
            counts[topic] += r.records
        return counts

    def next_offsets(self) -> dict[tuple[str, int], int]:
        return {tp: r.last + 1 for tp, r in self.ranges.items()}


def canonical(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def record_hash(doc: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of the record without its own ``hash``."""
    return hashlib.sha256(canonical({k: v for k, v in doc.items() if k != "hash"})).hexdigest()


def build_record(
    audit: TransactionAudit,
    *,
    instance: str,
    sequence: int,
    prev_hash: str,
    group_id: str,
    notes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``notes``: what happened once, at the start this record is the first after (``key_rotation``,
    ``policy_changed_from``); optional fields of the schema."""
    summary = audit.counts.as_dict()
    doc: dict[str, Any] = {
        "type": "streammask.audit.transaction",
        "streammask_version": __version__,
        "instance": instance,
        "group_id": group_id,
        "sequence": sequence,
        "policy_sha256": summary["policy_sha256"],
        "key_id": summary["key_id"],
        **({"key_fingerprint": summary["key_fingerprint"]} if "key_fingerprint" in summary else {}),
        "leak_guard": summary["leak_guard"],
        "started_at": summary["started_at"],
        "committed_at": utc_now(),
        "source_ranges": [
            {"topic": t, "partition": p, "first_offset": r.first, "last_offset": r.last, "records": r.records}
            for (t, p), r in sorted(audit.ranges.items())
        ],
        "records": summary["records"],
        "events": summary["events"],
        "tables": summary["tables"],
        "blocked_by_code": summary["blocked_by_code"],
        "blocked": summary["blocked"],
        "prev_hash": prev_hash,
    }
    doc.update(notes or {})
    doc["hash"] = record_hash(doc)
    return doc


def verify_chain(records: list[dict[str, Any]]) -> list[str]:
    """Problems in one instance's chain, in sequence order: a broken link or an altered record.
    (``streammask audit verify``, in ``streammask.audit_trail``, checks more: gaps, forks, the head.)"""
    problems = []
    prev = None
    for rec in sorted(records, key=lambda r: r["sequence"]):
        if record_hash(rec) != rec.get("hash"):
            problems.append(f"record {rec['sequence']}: hash does not match its content")
        if prev is not None and rec.get("prev_hash") != prev["hash"]:
            problems.append(f"record {rec['sequence']}: prev_hash does not match record {prev['sequence']}")
        prev = rec
    return problems
