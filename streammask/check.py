"""Policy coverage over a sample: every table and column seen but not classified, and every strategy
that cannot mask the column type the sample's schema declares. Used by ``streammask check``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from streammask.envelope import MetadataTopics, classify, row_struct_schema, split_converter_framing, table_of
from streammask.errors import MaskingError
from streammask.keys import MasterKey
from streammask.outcome import EventKind
from streammask.plan import CompiledPolicy
from streammask.policy import LoadedPolicy
from streammask.types import from_connect_schema


@dataclass
class CoverageReport:
    records: int = 0
    unknown_tables: Counter[str] = field(default_factory=Counter)
    unclassified: Counter[tuple[str, str]] = field(default_factory=Counter)
    not_applicable: dict[tuple[str, str], str] = field(default_factory=dict)
    undecodable: int = 0
    seen_tables: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not (self.unknown_tables or self.unclassified or self.not_applicable or self.undecodable)

    def lines(self) -> list[str]:
        out = [f"table {t}: seen in {n} record(s), not in the policy" for t, n in sorted(self.unknown_tables.items())]
        out += [
            f"table {t}, column {c}: seen in {n} record(s), not classified (add to passthrough or fields)"
            for (t, c), n in sorted(self.unclassified.items())
        ]
        out += [f"table {t}, column {c}: {why}" for (t, c), why in sorted(self.not_applicable.items())]
        if self.undecodable:
            out.append(f"{self.undecodable} record(s) could not be decoded as Debezium JSON")
        return out


def _columns(payload: dict[str, Any]) -> Iterable[str]:
    for side in ("before", "after"):
        row = payload.get(side)
        if isinstance(row, dict):
            yield from row


def check_sample(
    loaded: LoadedPolicy, records: Iterable[tuple[str, bytes | None, bytes | None]]
) -> CoverageReport:
    """Scan (topic, key, value) records; no key material is needed (types are checked with a throwaway key)."""
    compiled = CompiledPolicy(loaded, MasterKey(os.urandom(32), "check"))
    report = CoverageReport()
    topics = MetadataTopics.of(loaded.policy.events)
    for topic, key, value in records:
        report.records += 1
        if value is None:
            continue
        try:
            schema, payload, _ = split_converter_framing(orjson.loads(value))
        except orjson.JSONDecodeError:
            report.undecodable += 1
            continue
        if not isinstance(payload, dict) or classify(payload, schema, topic, topics) is not EventKind.CHANGE:
            continue
        table = table_of(payload.get("source"))
        if table is None:
            continue
        report.seen_tables.add(table)
        plan = compiled.table(table)
        if plan is None:
            report.unknown_tables[table] += 1
            continue
        columns = set(_columns(payload))
        key_payload = _key_payload(key)
        columns.update(key_payload)
        for column in sorted(columns):
            if column not in plan.fields and column not in plan.passthrough:
                report.unclassified[(table, column)] += 1
        row_schema = row_struct_schema(schema)
        if row_schema:
            for column, ctype in from_connect_schema(row_schema).fields:
                if column in plan.fields and (table, column) not in report.not_applicable:
                    try:
                        plan.compile_column(column, ctype)
                    except MaskingError as exc:
                        report.not_applicable[(table, column)] = str(exc)
    return report


def _key_payload(key: bytes | None) -> dict[str, Any]:
    if key is None:
        return {}
    try:
        _, payload, _ = split_converter_framing(orjson.loads(key))
    except orjson.JSONDecodeError:
        return {}
    return payload if isinstance(payload, dict) else {}
