"""The verdict of ``audit verify``: chains and reconciliation together, as text for people or JSON for
machines. It passes only when every chain is intact and every committed source record is accounted for.
Problems fail it; notes say what could not be checked or was found but is not a mismatch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from streammask.audit_trail.chain import ChainReport
from streammask.audit_trail.reconcile import Reconciliation


@dataclass
class VerifyReport:
    audit_topic: str
    group: str
    records: int
    chains: list[ChainReport]
    reconciliation: Reconciliation
    problems: list[str] = field(default_factory=list)
    """Of the audit topic as a whole (no record of the group, records that are not audit records, missing topics)."""
    notes: list[str] = field(default_factory=list)

    @property
    def all_problems(self) -> list[str]:
        chains = [f"chain {c.group}/{c.instance}: {p}" for c in self.chains for p in c.problems]
        return [*self.problems, *chains, *self.reconciliation.problems]

    @property
    def ok(self) -> bool:
        return not self.all_problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "audit_topic": self.audit_topic,
            "group": self.group,
            "records": self.records,
            "chains": [{**asdict(c), "ok": c.ok} for c in self.chains],
            "partitions": [asdict(p) for p in self.reconciliation.partitions],
            "problems": self.all_problems,
            "notes": [*self.notes, *self.reconciliation.notes],
        }

    def text(self) -> str:
        lines = [f"audit topic {self.audit_topic}: {self.records} record(s) of group {self.group}"]
        for c in self.chains:
            verdict = "OK" if c.ok else f"{len(c.problems)} problem(s)"
            lines.append(f"chain {c.instance}: {c.records} record(s), sequences {c.first_sequence}-{c.last_sequence}, "
                         f"committed {c.first_committed_at} .. {c.last_committed_at}: {verdict}")
            lines += [f"  - {p}" for p in c.problems]
        parts = self.reconciliation.partitions
        if parts:
            width = max(28, *(len(f"{p.topic}/{p.partition}") for p in parts))
            heads = ("transactions", "audited", "found", "blocked", "missing", "duplicates", "unaudited")
            lines.append(f"{'source partition':<{width}} " + " ".join(f"{h:>12}" for h in heads))
            for p in parts:
                values = (p.transactions, p.audited, p.found, p.blocked, p.missing, p.duplicates, p.unaudited)
                lines.append(f"{p.topic + '/' + str(p.partition):<{width}} " + " ".join(f"{v:>12}" for v in values))
        problems = [*self.problems, *self.reconciliation.problems]
        if problems:
            lines.append("problems:")
            lines += [f"  - {p}" for p in problems]
        notes = [*self.notes, *self.reconciliation.notes]
        if notes:
            lines.append("notes:")
            lines += [f"  - {n}" for n in notes]
        n = len(self.all_problems)
        lines.append("verify: OK (every chain intact; every committed source record is in the output or listed as "
                     "blocked)" if self.ok else f"verify: FAILED ({n} problem(s))")
        return "\n".join(lines) + "\n"
