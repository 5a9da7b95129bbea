"""Each instance's hash chain, checked whole: sequences 1..n without gaps or repeats, each ``prev_hash``
the previous record's ``hash``, each ``hash`` its own content's.

Restarts do not start a new chain: an instance restores its head (sequence and hash) from the
checkpoint topic and continues it, so one chain spans every run of an instance. A second record with
the same sequence is a fork (the head was lost, e.g. a reset checkpoint topic, or an at-least-once
instance crashed between its audit record and its head checkpoint) and is reported.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from streammask.audit_trail.records import AuditEntry
from streammask.proxy.audit_record import GENESIS, record_hash


@dataclass
class ChainReport:
    group: str
    instance: str
    records: int
    first_sequence: int
    last_sequence: int
    first_committed_at: str
    last_committed_at: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_chains(
    entries: Iterable[AuditEntry], heads: Mapping[str, tuple[int, str]] | None = None,
    since: dt.datetime | None = None, group: str = "",
) -> list[ChainReport]:
    """One report per (group, instance) of ``entries`` (the records of ``group``).

    ``heads`` are the instances' chain heads (sequence, hash) from the checkpoint topic, read *before*
    the audit topic: a chain must reach its head, or its last records were removed. With ``since``,
    only records committed at or after it are given, so a chain may start above sequence 1 (its link
    to the record before is not checked) and an instance without records then is no problem."""
    chains: dict[tuple[str, str], list[AuditEntry]] = defaultdict(list)
    for e in entries:
        chains[(e.group, e.instance)].append(e)
    heads = heads or {}
    reports = [check_chain(g, instance, chain, heads.get(instance), from_genesis=since is None)
               for (g, instance), chain in sorted(chains.items())]
    if since is None:
        for instance, (seq, _) in sorted(heads.items()):
            if all(instance != i for _, i in chains):
                reports.append(ChainReport(group, instance, 0, 0, 0, "-", "-", [
                    f"gap: sequences 1-{seq} missing (the checkpoint topic's chain head of {instance} is sequence "
                    f"{seq}, the audit topic holds none of its records)"]))
    return reports


def check_chain(
    group: str, instance: str, entries: Sequence[AuditEntry], head: tuple[int, str] | None = None,
    from_genesis: bool = True,
) -> ChainReport:
    by_seq: dict[int, list[AuditEntry]] = defaultdict(list)
    for e in sorted(entries, key=lambda e: e.at):
        by_seq[e.sequence].append(e)
    times = sorted(e.committed_at for e in entries)
    report = ChainReport(group, instance, len(entries), min(by_seq), max(by_seq), _iso(times[0]), _iso(times[-1]))
    problems = report.problems
    for e in sorted(entries, key=lambda e: (e.sequence, e.at)):
        if record_hash(e.doc) != e.doc["hash"]:
            problems.append(f"altered: sequence {e.sequence} at {e.at}: its content does not match its hash")
    start = 1 if from_genesis else min(by_seq)
    problems += _gaps(by_seq, start)
    for seq, copies in sorted(by_seq.items()):
        if len(copies) > 1:
            where = ", ".join(str(c.at) for c in copies)
            why = " (a new chain was started: was the checkpoint topic reset?)" if seq == 1 else ""
            problems.append(f"fork: sequence {seq} appears {len(copies)} times, at {where}{why}")
        if seq == start and not from_genesis:
            continue
        if seq == 1:
            expected = {GENESIS}
        elif seq - 1 in by_seq:
            expected = {str(p.doc["hash"]) for p in by_seq[seq - 1]}
        else:
            continue  # after a gap: reported as the gap
        for c in copies:
            if c.doc["prev_hash"] not in expected:
                before = "the genesis" if seq == 1 else f"sequence {seq - 1}"
                problems.append(f"break: sequence {seq} at {c.at} does not link to {before} (prev_hash differs)")
    if head is not None:
        problems += _head(by_seq, *head)
    return report


def _head(by_seq: dict[int, list[AuditEntry]], seq: int, head_hash: str) -> list[str]:
    """The chain against its checkpointed head: records after the last one read were removed, or the
    record at the head's sequence is not the one the instance committed."""
    last = max(by_seq)
    if seq > last:
        run = f"sequence {seq}" if seq == last + 1 else f"sequences {last + 1}-{seq}"
        return [f"gap: {run} missing at the end (the checkpoint topic's chain head is sequence {seq})"]
    if seq in by_seq and all(e.doc["hash"] != head_hash for e in by_seq[seq]):
        return [f"break: the checkpoint topic's chain head (sequence {seq}) is not the record at "
                f"{by_seq[seq][0].at}"]
    return []


def _gaps(by_seq: dict[int, list[AuditEntry]], start: int) -> list[str]:
    """Missing sequences as runs, each with the audit-topic positions around it."""
    out = []
    seqs = sorted(s for s in by_seq if s >= start)
    prev = start - 1
    for seq in seqs:
        if seq > prev + 1:
            run = f"sequence {prev + 1}" if seq == prev + 2 else f"sequences {prev + 1}-{seq - 1}"
            after = f" (before {by_seq[seq][0].at})"
            out.append(f"gap: {run} missing{after}")
        prev = seq
    return out


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
