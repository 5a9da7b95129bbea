"""Committed source ranges against the output: every source record a committed transaction consumed
must be in a target topic (by its ``streammask.source.*`` headers) or listed as blocked.

Per range, the distinct source offsets found in the output plus the offsets the transaction's audit
record lists as blocked must equal the range's ``records`` (offsets inside a range may hold no record:
transaction markers, compaction). A ``blocked`` list cut at its cap cannot say which offsets were
blocked; then the unlisted ones are checked by count only, and the report says so.

Duplicates (a source record more than once in the output: at-least-once delivery, a replay from an
older checkpoint or by ``streammask replay``, Tansu's visible aborted transactions) are counted, not
failed, when byte-identical (key, value and headers). Copies that differ fail, since masking is
deterministic, unless the transactions that consumed the record ran under different key ids or
policies (a rotation, then a replay): then they are a note. Output from source
offsets no audit record covers is counted as unaudited, not failed: a transaction committed after the
audit topic was read, or another group writing the same topic.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streammask.audit_trail.records import AuditEntry, Position, SourceRange

MAX_OFFSETS_SHOWN = 5
MAX_COPIES_SHOWN = 3

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class Copies:
    copies: int
    differing: bool
    later: list[Position]
    """Where the first few copies after the first are (the first is where the source offset was seen first)."""


class OutputIndex:
    """What the target topics hold, by source coordinates: a digest per record, never a value."""

    def __init__(self) -> None:
        self.digests: dict[TopicPartition, dict[int, bytes]] = defaultdict(dict)
        self.duplicates: dict[tuple[str, int, int], Copies] = {}
        self.without_headers: dict[str, int] = defaultdict(int)

    def add(self, source: tuple[str, int, int] | None, at: Position, digest: bytes) -> None:
        if source is None:
            self.without_headers[at.topic] += 1
            return
        topic, partition, offset = source
        seen = self.digests[(topic, partition)]
        first = seen.get(offset)
        if first is None:
            seen[offset] = digest
            return
        dup = self.duplicates.setdefault(source, Copies(1, False, []))
        dup.copies += 1
        dup.differing |= first != digest
        if len(dup.later) < MAX_COPIES_SHOWN:
            dup.later.append(at)


@dataclass
class PartitionReport:
    topic: str
    partition: int
    transactions: int = 0
    audited: int = 0
    """Records consumed by committed transactions (a record committed twice, in a replay, counts twice)."""
    found: int = 0
    blocked: int = 0
    missing: int = 0
    duplicates: int = 0
    unaudited: int = 0


@dataclass
class Reconciliation:
    partitions: list[PartitionReport]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Shortfall:
    rng: SourceRange
    count: int
    holes: list[int]


def reconcile(
    checked: Sequence[AuditEntry], index: OutputIndex, covering: Iterable[AuditEntry] | None = None
) -> Reconciliation:
    """Check the ranges of ``checked`` against ``index``. ``covering`` (default: ``checked``) are all
    the group's audit records, whose ranges make output audited (more than ``checked`` with ``--since``)."""
    return _Reconciler(index, list(covering) if covering is not None else list(checked)).run(checked)


class _Reconciler:
    def __init__(self, index: OutputIndex, covering: list[AuditEntry]) -> None:
        self.index = index
        self.covering = covering
        self.rows: dict[TopicPartition, PartitionReport] = {}
        self.blocked_listed: dict[TopicPartition, set[int]] = defaultdict(set)
        self.blocked_unlisted: dict[TopicPartition, int] = defaultdict(int)
        self.result = Reconciliation([])
        self.checked: Sequence[AuditEntry] = ()

    def row(self, tp: TopicPartition) -> PartitionReport:
        return self.rows.setdefault(tp, PartitionReport(*tp))

    def run(self, checked: Sequence[AuditEntry]) -> Reconciliation:
        self.checked = checked
        for entry in checked:
            self._entry(entry)
        for tp, offsets in self.blocked_listed.items():
            self.row(tp).blocked += len(offsets)
        for tp, n in self.blocked_unlisted.items():
            self.row(tp).blocked += n
        self._found_and_unaudited()
        self._duplicates()
        for topic, n in sorted(self.index.without_headers.items()):
            self.result.notes.append(f"{topic}: {n} record(s) without streammask.source headers "
                                     "(not written by streammask; not checked)")
        self.result.partitions = [self.rows[tp] for tp in sorted(self.rows)]
        return self.result

    def _entry(self, entry: AuditEntry) -> None:
        name = f"audit sequence {entry.sequence} of {entry.instance} ({entry.at})"
        counts = entry.counts
        consumed = sum(r.records for r in entry.ranges)
        if consumed != counts["in"]:
            self.result.problems.append(f"{name}: its source ranges hold {consumed} record(s) but it counts "
                                        f"{counts['in']} in")
        listed = entry.blocked_offsets()
        shortfalls = []
        for rng in entry.ranges:
            tp = (rng.topic, rng.partition)
            r = self.row(tp)
            r.transactions += 1
            r.audited += rng.records
            seen = self.index.digests.get(tp, {})
            blocked = {o for t, p, o in listed if (t, p) == tp and rng.first <= o <= rng.last}
            self.blocked_listed[tp] |= blocked
            leaked = sorted(o for o in blocked if o in seen and not self._masked_elsewhere(entry, tp, o))
            if leaked:
                self.result.problems.append(f"{name}: blocked source offset(s) {_some(leaked)} of {tp[0]}/{tp[1]} "
                                            "are in the output")
            accounted = len(blocked | _inside(seen, rng.first, rng.last))
            if accounted > rng.records:
                self.result.problems.append(f"{name}: {tp[0]}/{tp[1]} offsets {rng.first}-{rng.last}: {accounted} "
                                            f"accounted for, more than the {rng.records} it consumed")
            elif accounted < rng.records:
                holes = [o for o in range(rng.first, rng.last + 1) if o not in seen and o not in blocked]
                shortfalls.append(_Shortfall(rng, rng.records - accounted, holes))
        if shortfalls:
            self._missing(entry, name, shortfalls)

    def _masked_elsewhere(self, entry: AuditEntry, tp: TopicPartition, offset: int) -> bool:
        """Whether another committed transaction consumed ``offset`` without listing it blocked (a replay
        under another policy may mask what an earlier one blocked)."""
        for other in self.covering:
            if other is entry or (tp[0], tp[1], offset) in other.blocked_offsets():
                continue
            if any((r.topic, r.partition) == tp and r.first <= offset <= r.last for r in other.ranges):
                return True
        return False

    def _missing(self, entry: AuditEntry, name: str, shortfalls: list[_Shortfall]) -> None:
        """Missing records, after the blocked records the capped list leaves out (only their count is known)."""
        unlisted = entry.blocked_unlisted
        if unlisted:
            explained = min(unlisted, sum(s.count for s in shortfalls))
            self.result.notes.append(
                f"{name}: its blocked list holds {len(entry.doc['blocked'])} of {entry.counts['blocked']} blocked "
                f"records (the list is capped); {explained} offset(s) neither in the output nor listed are taken "
                "as unlisted blocked ones by count: which offsets they are cannot be checked")
        for s in shortfalls:
            tp = (s.rng.topic, s.rng.partition)
            take = min(unlisted, s.count)
            unlisted -= take
            self.blocked_unlisted[tp] += take
            missing = s.count - take
            if not missing:
                continue
            self.row(tp).missing += missing
            which = f"offset(s) {_some(s.holes)}" if len(s.holes) == missing else f"among offsets {_some(s.holes)}"
            why = "" if s.rng.counted else " (the record predates per-range counts: some holes may hold no record)"
            self.result.problems.append(f"{name}: {missing} record(s) of {tp[0]}/{tp[1]} missing from the output "
                                        f"and not listed as blocked: {which}{why}")

    def _found_and_unaudited(self) -> None:
        checked, covering = _merged(self.checked), _merged(self.covering)
        unaudited = 0
        for tp, seen in self.index.digests.items():
            outside = sum(1 for o in seen if not _covered(covering.get(tp, []), o))
            if tp not in self.rows and not outside:
                continue
            r = self.row(tp)
            r.found = sum(1 for o in seen if _covered(checked.get(tp, []), o))
            r.unaudited = outside
            unaudited += outside
        if unaudited:
            self.result.notes.append(
                f"{unaudited} output record(s) come from source offsets no audit record of the group covers "
                "(committed after the audit topic was read, or written by another group)")

    def _duplicates(self) -> None:
        explained = 0
        for (topic, partition, offset), dup in sorted(self.index.duplicates.items()):
            self.row((topic, partition)).duplicates += dup.copies - 1
            if not dup.differing:
                continue
            if _several_keys_or_policies(self._masked_under((topic, partition), offset)):
                explained += 1
                continue
            later = ", ".join(str(p) for p in dup.later)
            self.result.problems.append(
                f"source {topic}/{partition}/{offset}: {dup.copies} copies in the output differ (masking is "
                f"deterministic, so one was not written by this policy and key; later copies at {later})")
        if explained:
            self.result.notes.append(
                f"{explained} source record(s) have output copies that differ, each consumed by transactions under "
                "different keys or policies (a key rotation or policy change, then a replay or re-read)")

    def _masked_under(self, tp: TopicPartition, offset: int) -> set[tuple[str, str, str | None]]:
        """The (key id, policy sha256, key fingerprint) of every committed transaction that consumed ``offset``
        and did not block it: copies written under two of them may differ."""
        return {(str(e.doc.get("key_id")), str(e.doc.get("policy_sha256")), _fingerprint(e.doc)) for e in self.covering
                if any((r.topic, r.partition) == tp and r.first <= offset <= r.last for r in e.ranges)
                and (tp[0], tp[1], offset) not in e.blocked_offsets()}


def _fingerprint(doc: dict[str, Any]) -> str | None:
    value = doc.get("key_fingerprint")
    return value if isinstance(value, str) else None


def _several_keys_or_policies(under: set[tuple[str, str, str | None]]) -> bool:
    """Two key ids or policies, or two fingerprints (records without one are not judged on it)."""
    return len({(key_id, policy) for key_id, policy, _ in under}) > 1 or len(
        {fp for _, _, fp in under if fp is not None}) > 1


def _inside(seen: dict[int, bytes], first: int, last: int) -> set[int]:
    if last - first + 1 <= len(seen):
        return {o for o in range(first, last + 1) if o in seen}
    return {o for o in seen if first <= o <= last}


def _merged(entries: Iterable[AuditEntry]) -> dict[TopicPartition, list[tuple[int, int]]]:
    """Per partition, the union of the entries' ranges as sorted disjoint (first, last) spans."""
    spans: dict[TopicPartition, list[tuple[int, int]]] = defaultdict(list)
    for e in entries:
        for r in e.ranges:
            spans[(r.topic, r.partition)].append((r.first, r.last))
    merged: dict[TopicPartition, list[tuple[int, int]]] = {}
    for tp, items in spans.items():
        out: list[tuple[int, int]] = []
        for first, last in sorted(items):
            if out and first <= out[-1][1] + 1:
                out[-1] = (out[-1][0], max(out[-1][1], last))
            else:
                out.append((first, last))
        merged[tp] = out
    return merged


def _covered(spans: list[tuple[int, int]], offset: int) -> bool:
    i = bisect.bisect_right(spans, offset, key=lambda span: span[0]) - 1
    return i >= 0 and spans[i][0] <= offset <= spans[i][1]


def _some(offsets: Sequence[int]) -> str:
    shown = ", ".join(map(str, offsets[:MAX_OFFSETS_SHOWN]))
    return shown + (f" and {len(offsets) - MAX_OFFSETS_SHOWN} more" if len(offsets) > MAX_OFFSETS_SHOWN else "")
