"""Policy coverage over a sample: every table and column seen but not classified, and every strategy
that cannot mask the column type the sample's schema declares. Used by ``streammask check``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streammask.codec.base import KEY, VALUE, Codec, RecordContext
from streammask.codec.connect_json import ConnectJsonCodec
from streammask.envelope import MetadataTopics, classify, row_struct_schema, table_of
from streammask.errors import DecodeError, MaskingError
from streammask.keys import MasterKey
from streammask.outcome import EventKind, SourceRecord
from streammask.plan import CompiledPolicy
from streammask.policy import LoadedPolicy
from streammask.types import from_connect_schema


@dataclass
class CoverageReport:
    records: int = 0
    unknown_tables: Counter[str] = field(default_factory=Counter)
    unclassified: Counter[tuple[str, str]] = field(default_factory=Counter)
    types: dict[tuple[str, str], str] = field(default_factory=dict)
    """The schema's type of each unclassified column (when the sample carries schemas): a first policy can
    be written from the report."""
    not_applicable: dict[tuple[str, str], str] = field(default_factory=dict)
    undecodable: int = 0
    seen_tables: set[str] = field(default_factory=set)
    wire_format: str = "JSON"

    @property
    def ok(self) -> bool:
        return bool(self.records) and not (
            self.unknown_tables or self.unclassified or self.not_applicable or self.undecodable)

    def _type_of(self, table: str, column: str) -> str:
        found = self.types.get((table, column))
        return f" ({found})" if found else ""

    def lines(self) -> list[str]:
        out = [f"table {t}: seen in {n} record(s), not in the policy" for t, n in sorted(self.unknown_tables.items())]
        out += [
            f"table {t}, column {c}{self._type_of(t, c)}: seen in {n} record(s), not classified (add to passthrough "
            "or fields)"
            for (t, c), n in sorted(self.unclassified.items())
        ]
        out += [f"table {t}, column {c}: {why}" for (t, c), why in sorted(self.not_applicable.items())]
        if not self.records:
            out.append("the sample holds no record: it proves nothing")
        if self.undecodable:
            out.append(f"{self.undecodable} record(s) could not be decoded as Debezium {self.wire_format}")
        return out


def _columns(payload: dict[str, Any]) -> Iterable[str]:
    for side in ("before", "after"):
        row = payload.get(side)
        if isinstance(row, dict):
            yield from row


def check_sample(
    loaded: LoadedPolicy, records: Iterable[SourceRecord],
    value_codec: Codec | None = None, key_codec: Codec | None = None,
) -> CoverageReport:
    """Scan records (the shared pipeline's ``SourceRecord``s), read by the codecs the masker would use
    (JsonConverter's by default); no key material is needed (types are checked with a throwaway key)."""
    compiled = CompiledPolicy(loaded, MasterKey(os.urandom(32), "check"))
    values: Codec = value_codec or ConnectJsonCodec()
    keys = key_codec or values
    report = CoverageReport(wire_format="Avro" if values.name == "avro" else "JSON")
    topics = MetadataTopics.of(loaded.policy.events)
    for item in records:
        topic, key, value = item.coordinates.topic, item.key, item.value
        report.records += 1
        if value is None:
            continue
        record = RecordContext(topic, topic)
        try:
            doc = values.decode(value, record, VALUE)
        except DecodeError:
            report.undecodable += 1
            continue
        schema, payload = doc.schema, doc.payload
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
        key_payload = _key_payload(keys, record, key)
        columns.update(key_payload)
        for column in sorted(columns):
            if column not in plan.fields and column not in plan.passthrough:
                report.unclassified[(table, column)] += 1
        row_schema = row_struct_schema(schema)
        if row_schema:
            for column, ctype in from_connect_schema(row_schema).fields:
                if (table, column) in report.unclassified:
                    report.types.setdefault((table, column), ctype.describe())
                if column in plan.fields and (table, column) not in report.not_applicable:
                    try:
                        plan.compile_column(column, ctype, values.forms)
                    except MaskingError as exc:
                        report.not_applicable[(table, column)] = str(exc)
    return report


def _key_payload(keys: Codec, record: RecordContext, key: bytes | None) -> dict[str, Any]:
    if key is None:
        return {}
    try:
        payload = keys.decode(key, record, KEY).payload
    except DecodeError:
        return {}
    return payload if isinstance(payload, dict) else {}
