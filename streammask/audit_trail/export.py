"""One row per audit record (transaction) for a data protection officer: when, which instance, under
which policy, key id and key fingerprint (empty for records written before it was recorded), from which
source topics to which target topics, which fields were masked with which strategy, how many records went
in, out and were blocked, and the outcome. Never a value.

Target topics come from the config's routing as it is now (audit records name source topics only).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable
from typing import IO, Any

import orjson

from streammask.audit_trail.records import AuditEntry

COLUMNS = (
    "committed_at", "started_at", "group", "instance", "sequence", "policy_sha256", "key_id", "key_fingerprint",
    "source_topics", "target_topics", "fields_masked", "records_in", "records_out", "records_blocked", "outcome",
    "policy_changed_from", "key_rotation",
)
LIST_COLUMNS = frozenset({"source_topics", "target_topics", "fields_masked"})
NO_ROUTE = "(no route)"


def outcome(records_out: int, blocked: int) -> str:
    """``success``: nothing blocked; ``partial``: some blocked, some out; ``blocked``: all blocked."""
    if not blocked:
        return "success"
    return "partial" if records_out else "blocked"


def rows(
    entries: Iterable[AuditEntry], target_of: Callable[[str], str | None], since: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Rows in commit order; ``since`` keeps records committed at or after it. ``target_of`` maps a
    source topic to its target topic (None: the config routes it nowhere now)."""
    kept = [e for e in entries if since is None or e.committed_at >= since]
    out = []
    for e in sorted(kept, key=lambda e: (e.committed_at, e.group, e.instance, e.sequence)):
        counts = e.counts
        sources = sorted({r.topic for r in e.ranges})
        targets = sorted({target_of(s) or NO_ROUTE for s in sources})
        fields = sorted(f"{table}.{column}:{spec.get('strategy', '?')}"
                        for table, entry in e.doc["tables"].items() if isinstance(entry, dict)
                        for column, spec in (entry.get("columns") or {}).items() if isinstance(spec, dict))
        out.append({
            "committed_at": e.doc["committed_at"], "started_at": e.doc.get("started_at"), "group": e.group,
            "instance": e.instance, "sequence": e.sequence, "policy_sha256": e.doc.get("policy_sha256"),
            "key_id": e.doc.get("key_id"), "key_fingerprint": e.doc.get("key_fingerprint") or "",
            "source_topics": sources, "target_topics": targets,
            "fields_masked": fields, "records_in": counts["in"], "records_out": counts["out"],
            "records_blocked": counts["blocked"], "outcome": outcome(counts["out"], counts["blocked"]),
            "policy_changed_from": e.doc.get("policy_changed_from") or "",
            "key_rotation": _rotation(e.doc.get("key_rotation")),
        })
    return out


def _rotation(note: Any) -> str:
    """An acknowledged key rotation in one cell: who approved continuing which topics under which key."""
    if not isinstance(note, dict):
        return ""
    topics = ";".join(str(t) for t in note.get("target_topics") or ())
    fingerprints = (f" (fingerprint {note.get('from_fingerprint')} -> {note.get('to_fingerprint')})"
                    if "from_fingerprint" in note or "to_fingerprint" in note else "")
    return (f"{note.get('from_key_id')} -> {note.get('to_key_id')}{fingerprints} approved by "
            f"{note.get('approved_by')} ({note.get('reason')}) for {topics}")


def write_csv(table: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """A header row, then one row per transaction; list columns joined with ``;``."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in table:
        writer.writerow([";".join(row[c]) if c in LIST_COLUMNS else row[c] for c in COLUMNS])


def write_jsonl(table: Iterable[dict[str, Any]], out: IO[str]) -> None:
    for row in table:
        out.write(orjson.dumps({c: row[c] for c in COLUMNS}).decode() + "\n")
