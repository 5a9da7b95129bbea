"""Debezium event anatomy, on Connect data of any wire format: event classification and the table an event
belongs to."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Uncertain:
    """A record that looks like one Debezium event kind while what identifies that kind (schema name,
    shape, topic) disagrees: it could be a row (a flattened record with a ``ddl`` column, say), so it
    is blocked rather than passed unmasked."""

    why: str


@dataclass(frozen=True)
class MetadataTopics:
    """Topic name patterns (fnmatch) of Debezium's metadata topics, for records without a schema: a bare
    ``{"ts_ms": ...}`` is a heartbeat only on a heartbeat topic (``topic.heartbeat.prefix``), a
    BEGIN/END record a transaction event only on a transaction topic (``topic.transaction``)."""

    heartbeat: tuple[str, ...] = ("__debezium-heartbeat.*",)
    transaction: tuple[str, ...] = ("*.transaction",)

    @classmethod
    def of(cls, events: Any) -> MetadataTopics:
        """From a policy's ``events`` (its ``heartbeat_topics`` and ``transaction_topics``)."""
        return cls(tuple(events.heartbeat_topics), tuple(events.transaction_topics))

    def is_heartbeat(self, topic: str) -> bool:
        return any(fnmatch.fnmatchcase(topic, p) for p in self.heartbeat)

    def is_transaction(self, topic: str) -> bool:
        return any(fnmatch.fnmatchcase(topic, p) for p in self.transaction)


# Connect schema names Debezium gives each kind of value (the row envelope's is ``<topic>.Envelope``).
ENVELOPE_SUFFIX = ".Envelope"
HEARTBEAT_NAME = "io.debezium.connector.common.Heartbeat"
TRANSACTION_NAME = "io.debezium.connector.common.TransactionMetadataValue"
_CONNECTOR_NAME = re.compile(r"io\.debezium\.connector\.[A-Za-z0-9_]+\.(SchemaChangeValue|MessageValue)")
# What each metadata kind's value holds, and its key (None: a null key is fine too).
MESSAGE_FIELDS = frozenset({"op", "ts_ms", "ts_us", "ts_ns", "source", "message"})
SCHEMA_CHANGE_FIELDS = frozenset(
    {"source", "ts_ms", "ts_us", "ts_ns", "databaseName", "schemaName", "ddl", "tableChanges", "historyRecord"}
)
_KEY_FIELDS = {
    EventKind.MESSAGE: frozenset({"prefix"}),
    EventKind.HEARTBEAT: frozenset({"serverName"}),
    EventKind.TRANSACTION: frozenset({"id"}),
    EventKind.SCHEMA_CHANGE: frozenset({"databaseName"}),
}


def classify(
    payload: dict[str, Any], schema: dict[str, Any] | None, topic: str, topics: MetadataTopics = MetadataTopics()
) -> EventKind | Uncertain | None:
    """What kind of Debezium event a value payload is, from what identifies each kind: with an embedded
    schema its name, and the payload's shape; without one the shape (a source block is Debezium's only
    if it names version, connector and server) and, for the metadata kinds, the topic Debezium gives
    them: ``<server>`` for schema changes, ``<server>.message``, heartbeat and transaction topics. None:
    nothing Debezium writes (a flattened row, another tool's JSON)."""
    if schema is not None:
        name = schema.get("name")
        if name.__class__ is not str:
            name = ""
        elif name.endswith(ENVELOPE_SUFFIX):  # a change event, the common case: its test inline, per record
            op = payload.get("op")  # (the name tells a Debezium envelope from a flattened row's `.Value`)
            if op in CHANGE_OPS and op != "m" and payload.get("source").__class__ is dict:
                return EventKind.CHANGE
        return _by_schema_name(name, payload)
    if "op" in payload:
        if payload["op"] == "m":
            if not _is_message(payload):
                return None
            if topic == f"{payload['source']['name']}.message":
                return EventKind.MESSAGE
            return Uncertain("a logical decoding message on a topic that is not <server>.message")
        return EventKind.CHANGE if _is_change(payload) else None
    if payload.keys() == HEARTBEAT_FIELDS:
        if topics.is_heartbeat(topic):
            return EventKind.HEARTBEAT
        return Uncertain("a bare {ts_ms} value on a topic that is not a heartbeat topic (events.heartbeat_topics)")
    if _is_transaction(payload):
        if topics.is_transaction(topic):
            return EventKind.TRANSACTION
        return Uncertain("a BEGIN/END value on a topic that is not a transaction topic (events.transaction_topics)")
    if _is_schema_change(payload):
        if topic == payload["source"]["name"]:
            return EventKind.SCHEMA_CHANGE
        return Uncertain("a schema change on a topic that is not the server's own (topic.prefix)")
    return None


def _by_schema_name(name: str, payload: dict[str, Any]) -> EventKind | Uncertain | None:
    if name.endswith(ENVELOPE_SUFFIX):  # (classify took the change events)
        return Uncertain(f"value schema {name.rsplit('.', 1)[-1]} without the shape of a change event")
    if name == HEARTBEAT_NAME:
        return EventKind.HEARTBEAT if payload.keys() == HEARTBEAT_FIELDS else Uncertain("heartbeat schema, other shape")
    if name == TRANSACTION_NAME:
        return EventKind.TRANSACTION if _is_transaction(payload) else Uncertain("transaction schema, other shape")
    match = _CONNECTOR_NAME.fullmatch(name)
    if match is not None and match.group(1) == "MessageValue":
        return EventKind.MESSAGE if _is_message(payload) else Uncertain("message schema, other shape")
    if match is not None:
        return EventKind.SCHEMA_CHANGE if _is_schema_change(payload) else Uncertain("schema-change schema, other shape")
    if "op" in payload or _is_transaction(payload) or _is_schema_change(payload) or payload.keys() == HEARTBEAT_FIELDS:
        return Uncertain("shaped like a Debezium event, but its schema is not one Debezium names so")
    return None


def _is_source_block(source: Any) -> bool:
    """What every Debezium connector's source block starts with: its version, connector and logical name
    (a row's object-valued `source` column has no reason to)."""
    return (
        isinstance(source, dict) and source.get("version").__class__ is str
        and source.get("connector").__class__ is str and source.get("name").__class__ is str
    )


def _is_change(payload: dict[str, Any]) -> bool:
    """op and a source block: the envelope (its other fields are checked against ENVELOPE_FIELDS later)."""
    return payload.get("op") in CHANGE_OPS and _is_source_block(payload.get("source"))


def _is_message(payload: dict[str, Any]) -> bool:
    return (
        payload.get("op") == "m" and payload.keys() <= MESSAGE_FIELDS and isinstance(payload.get("message"), dict)
        and _is_source_block(payload.get("source"))
    )


def _is_transaction(payload: dict[str, Any]) -> bool:
    if not (payload.get("status") in ("BEGIN", "END") and payload.keys() <= TRANSACTION_FIELDS):
        return False
    collections = payload.get("data_collections")
    return isinstance(payload.get("id"), str) and (
        collections is None
        or (isinstance(collections, list) and all(
            isinstance(c, dict) and c.keys() <= {"data_collection", "event_count"} for c in collections
        ))
    )


def _is_schema_change(payload: dict[str, Any]) -> bool:
    return (
        ("ddl" in payload or "tableChanges" in payload or "historyRecord" in payload)
        and payload.keys() <= SCHEMA_CHANGE_FIELDS
        and _is_source_block(payload.get("source"))
    )


def metadata_key_fits(kind: EventKind, key_payload: Any) -> bool:
    """A metadata event passes with its key unchanged: only with the key Debezium gives that kind."""
    fields = _KEY_FIELDS.get(kind)
    if fields is None or key_payload is None:
        return True
    return isinstance(key_payload, dict) and key_payload.keys() <= fields and all(
        v is None or isinstance(v, str) for v in key_payload.values()
    )


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
