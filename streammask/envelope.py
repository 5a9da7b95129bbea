"""Debezium event anatomy: converter framing, event classification and the table an event belongs to."""

from __future__ import annotations

from typing import Any

from streammask.outcome import EventKind

CHANGE_OPS = frozenset({"c", "u", "d", "r", "t", "m"})
# Envelope fields a change event may carry; any other one may hold row data and blocks the record
# (e.g. MongoDB's updateDescription), until streammask learns to mask it.
# (`message` belongs to op m events only, which are handled apart: in a change event it is unknown.)
ENVELOPE_FIELDS = frozenset({"before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns", "transaction"})
# Heartbeats and transaction metadata pass unchanged, so only with exactly the fields Debezium gives
# them: any other field could hold anything.
HEARTBEAT_FIELDS = frozenset({"ts_ms"})
TRANSACTION_FIELDS = frozenset({"status", "id", "event_count", "data_collections", "ts_ms"})
# Source-block fields that copy row data: MySQL's `query` (binlog_rows_query_log_events) and Oracle's
# `redo_sql` (log.mining.include.redo.sql).
SOURCE_ROW_DATA_FIELDS = frozenset({"query", "redo_sql"})
KEY_HEADERS = frozenset({"__debezium.oldkey", "__debezium.newkey"})


def split_converter_framing(doc: Any) -> tuple[dict[str, Any] | None, Any, bool]:
    """JsonConverter output is {"schema", "payload"} with schemas.enable=true, the bare payload without."""
    if isinstance(doc, dict) and len(doc) == 2 and "schema" in doc and "payload" in doc:
        schema = doc["schema"]
        return (schema if isinstance(schema, dict) else None), doc["payload"], True
    return None, doc, False


def classify(payload: dict[str, Any], schema: dict[str, Any] | None) -> EventKind | None:
    """What kind of Debezium event a value payload is; None when it is none we know."""
    if "op" in payload:
        return EventKind.MESSAGE if payload.get("op") == "m" else EventKind.CHANGE
    name = (schema or {}).get("name") or ""
    if payload.keys() == HEARTBEAT_FIELDS and (not name or name.endswith(".Heartbeat")):
        return EventKind.HEARTBEAT
    if payload.get("status") in ("BEGIN", "END") and "id" in payload and payload.keys() <= TRANSACTION_FIELDS:
        return EventKind.TRANSACTION
    if "ddl" in payload or "tableChanges" in payload or "historyRecord" in payload:
        return EventKind.SCHEMA_CHANGE
    return None


def table_of(source: Any) -> str | None:
    """schema.table from the source block; MySQL (no schema) gives db.table."""
    if not isinstance(source, dict):
        return None
    table = source.get("table") or source.get("collection")
    prefix = source.get("schema") or source.get("db")
    if not table or not prefix:
        return None
    return f"{prefix}.{table}"


def tombstone_table_candidates(topic: str, key_schema: dict[str, Any] | None) -> list[str]:
    """Where a tombstone's table can come from: the key schema name, then the topic's last two parts."""
    names: list[str] = []
    key_name = (key_schema or {}).get("name") or ""
    if key_name.endswith(".Key"):
        parts = key_name[: -len(".Key")].split(".")
        if len(parts) >= 2:
            names.append(".".join(parts[-2:]))
    parts = topic.split(".")
    if len(parts) >= 2:
        names.append(".".join(parts[-2:]))
    return names


def row_struct_schema(envelope_schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The struct schema of `after` (or `before`) inside an envelope schema."""
    if not envelope_schema:
        return None
    found = None
    for f in envelope_schema.get("fields") or ():
        if f.get("field") == "after":
            return dict(f)
        if f.get("field") == "before":
            found = dict(f)
    return found
