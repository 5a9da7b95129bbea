"""Audit counts: what was masked, how, under which policy, key id and key fingerprint. Never a value.

``AuditCounts`` accumulates outcomes (the offline CLI keeps one for a whole run; the proxy keeps one
per transaction) and renders the JSON document described by ``schemas/audit-summary.schema.json``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from streammask import __version__
from streammask.outcome import Blocked, Coordinates, Masked, Outcome, blocked_fields
from streammask.plan import ColumnStats
from streammask.policy.model import LeakGuardPolicy

MAX_BLOCKED_LISTED = 10_000


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditCounts:
    def __init__(
        self, policy_sha256: str, key_id: str, leak_guard: LeakGuardPolicy | None = None,
        key_fingerprint: str | None = None,
    ) -> None:
        self.policy_sha256 = policy_sha256
        self.key_id = key_id
        self.key_fingerprint = key_fingerprint
        self.leak_guard = leak_guard or LeakGuardPolicy()
        self.started_at = utc_now()
        self.records_in = 0
        self.records_out = 0
        self.ops: Counter[tuple[str, str]] = Counter()
        self.kinds: Counter[str] = Counter()
        self.columns: Counter[ColumnStats] = Counter()
        self.placeholders: Counter[ColumnStats] = Counter()
        self.blocked: list[dict[str, Any]] = []
        self.blocked_total = 0
        self.blocked_by_code: Counter[str] = Counter()

    def add(self, where: Coordinates, outcome: Outcome) -> None:
        if isinstance(outcome, Masked):
            self.add_masked(outcome)
        else:
            self.add_blocked(where, outcome)

    def add_masked(self, outcome: Masked) -> None:
        self.records_in += 1
        self.records_out += 1
        self.kinds[outcome.kind.value] += 1
        if outcome.table is not None:
            self.ops[(outcome.table, outcome.op or outcome.kind.value)] += 1
        self.columns.update(outcome.masked_columns)
        if outcome.placeholders:
            self.placeholders.update(outcome.placeholders)

    def add_blocked(self, where: Coordinates, outcome: Blocked) -> None:
        self.records_in += 1
        self.blocked_total += 1
        reason = outcome.reason
        self.blocked_by_code[reason.code.value] += 1
        if len(self.blocked) < MAX_BLOCKED_LISTED:
            self.blocked.append(blocked_fields(where, reason))

    def _leak_guard(self) -> dict[str, Any]:
        """Whether the output was checked for raw values, and who approved it if not: a DPO reads it here."""
        guard = self.leak_guard
        if guard.enabled:
            return {"enabled": True, "min_length": guard.min_length}
        return {"enabled": False, "approved_by": guard.approved_by, "reason": guard.reason}

    def as_dict(self) -> dict[str, Any]:
        """The summary; ``key_fingerprint`` only when known (the key's, ``keys.MasterKey.fingerprint``)."""
        tables: dict[str, dict[str, Any]] = {}
        for (table, op), n in sorted(self.ops.items()):
            tables.setdefault(table, {"ops": {}, "columns": {}})["ops"][op] = n
        for stats in sorted(self.columns.keys() | self.placeholders.keys(), key=lambda s: (s.table, s.column)):
            entry = tables.setdefault(stats.table, {"ops": {}, "columns": {}})
            column = entry["columns"][stats.column] = {"strategy": stats.strategy, "values_masked": self.columns[stats]}
            if self.placeholders[stats]:
                column["placeholders"] = self.placeholders[stats]
        fingerprint = {} if self.key_fingerprint is None else {"key_fingerprint": self.key_fingerprint}
        return {
            "streammask_version": __version__,
            "policy_sha256": self.policy_sha256,
            "key_id": self.key_id,
            **fingerprint,
            "leak_guard": self._leak_guard(),
            "started_at": self.started_at,
            "finished_at": utc_now(),
            "records": {"in": self.records_in, "out": self.records_out, "blocked": self.blocked_total},
            "events": dict(sorted(self.kinds.items())),
            "tables": tables,
            "blocked_by_code": dict(sorted(self.blocked_by_code.items())),
            "blocked": self.blocked,
            "blocked_truncated": self.blocked_total > len(self.blocked),
        }
