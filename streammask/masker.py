"""Masking one Kafka record of a Debezium event: bytes in, a typed ``Outcome`` out. No Kafka I/O here, and
no wire format: a codec (``streammask.codec``) decodes the key and value into Connect data and encodes
the masked payload back.

Everything that carries row data is masked: ``before``, ``after``, the message key (with exactly the
transform of the same columns in the value), the ``__debezium.oldkey``/``newkey`` headers, and MySQL's
``source.query`` and Oracle's ``source.redo_sql`` (nulled). Anything the policy does not classify, and
any record whose kind is uncertain, is blocked, never passed; Debezium's placeholders pass as they are.
Then the leak guard (``leak_guard.py``) checks the record's output for raw values of masked columns.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Hashable
from typing import Any

from streammask.codec.base import KEY, VALUE, Codec, Document, Headers, Part, RecordContext, ValueForms
from streammask.codec.connect_json import ConnectJsonCodec
from streammask.envelope import (
    CHANGE_OPS,
    ENVELOPE_FIELDS,
    KEY_HEADERS,
    SOURCE_ROW_DATA_FIELDS,
    MetadataTopics,
    Uncertain,
    classify,
    metadata_key_fits,
    row_struct_schema,
    table_of,
    tombstone_table_candidates,
)
from streammask.errors import (
    DecodeError,
    EntityUnavailable,
    MaskingError,
    RegistryError,
    TypeNotPreserved,
    WrongFormat,
)
from streammask.leak_guard import SOURCE_METADATA, Carrier, LeakGuard, source_carriers
from streammask.outcome import BlockCode, Blocked, BlockReason, EventKind, Masked, Outcome
from streammask.plan import (
    CompiledPolicy,
    GuardedTally,
    NotApplicable,
    RowMasker,
    TablePlan,
    Tally,
    Unclassified,
    Undeclared,
)
from streammask.strategies.base import RowContext
from streammask.types import ColumnType, from_connect_schema


class _Block(Exception):
    """Internal: stop masking this record with a reason."""

    def __init__(self, reason: BlockReason, kind: EventKind | None = None, op: str | None = None) -> None:
        self.reason = reason
        self.kind = kind
        self.op = op


class _UndecodableKey(Exception):
    """Internal: the record key did not decode (``DecodeError``'s message, which names no value)."""


class RecordMasker:
    """Masks records of any table of a compiled policy. Keeps only caches, no per-record state.

    ``mask`` returns an outcome for every record, but raises ``RegistryError`` when a Schema Registry is
    unreachable (after its retries): that is no record's fault, and the caller stops.

    ``value_codec`` reads and writes values (JsonConverter's by default), ``key_codec`` keys (the value's
    by default). Key headers (``__debezium.oldkey``/``newkey``) are JSON, as Connect's default header
    converter writes a struct."""

    def __init__(
        self, compiled: CompiledPolicy, value_codec: Codec | None = None, key_codec: Codec | None = None
    ) -> None:
        self.compiled = compiled
        self._plans = compiled.tables
        policy = compiled.loaded.policy
        self._schema_changes = policy.events.schema_changes
        self._messages = policy.events.messages
        self._topics = MetadataTopics.of(policy.events)
        self._header_patterns = tuple(policy.headers.passthrough)
        self._header_keep: dict[str, bool] = {}
        self._structs: dict[Hashable, ColumnType | None] = {}
        self._declared: dict[Hashable, tuple[tuple[str, ...], frozenset[str]]] = {}
        self._values: Codec = value_codec or ConnectJsonCodec()
        self._keys: Codec = key_codec or self._values
        self._header_keys: Codec = (
            self._keys if isinstance(self._keys, ConnectJsonCodec) else
            self._values if isinstance(self._values, ConnectJsonCodec) else ConnectJsonCodec()
        )
        guard = policy.leak_guard
        self._guard = LeakGuard(guard.min_length, compiled.placeholders) if guard.enabled else None

    # -- public -------------------------------------------------------------------------------------

    def mask(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None,
        target_topic: str | None = None,
    ) -> Outcome:
        """The outcome of one record of ``topic``, bound for ``target_topic`` (default: the same name; a
        schema registry names the target's subjects after it)."""
        tally = Tally() if self._guard is None else GuardedTally()
        table: str | None = None
        record = RecordContext(topic, target_topic or topic, headers or ())
        try:
            if value is None:
                return self._tombstone(record, key, tally)
            doc = self._values.decode(value, record, VALUE)
            payload = doc.payload
            if not isinstance(payload, dict):
                raise _Block(BlockReason(BlockCode.NOT_DEBEZIUM, "record value is not a Debezium event object"))
            kind = classify(payload, doc.schema, topic, self._topics)
            if kind is None:
                raise _Block(BlockReason(BlockCode.NOT_DEBEZIUM, "record value is not a Debezium event"))
            if isinstance(kind, Uncertain):
                raise _Block(BlockReason(BlockCode.UNCERTAIN_KIND, f"event kind uncertain: {kind.why}"))
            if kind is EventKind.CHANGE:
                table = table_of(payload.get("source"))
                return self._change(table, record, key, doc, payload, tally)
            if kind is EventKind.MESSAGE:
                return self._message(record, key, doc, payload)
            if kind is EventKind.SCHEMA_CHANGE and self._schema_changes != "pass":
                raise _Block(
                    BlockReason(BlockCode.SCHEMA_CHANGE, "schema-change events are blocked (events.schema_changes)"),
                    kind,
                )
            # heartbeat, transaction metadata, allowed schema change: no row data, bytes unchanged
            out_key = self._metadata_key(kind, record, key)
            return Masked(out_key, doc.reframed(), self._headers(record, None, None, tally, None), kind)
        except _Block as blocked:
            return Blocked(blocked.reason, blocked.kind, blocked.op)
        except Unclassified as exc:
            return Blocked(
                BlockReason(BlockCode.UNCLASSIFIED_COLUMN, "column not classified by the policy; add it to "
                            "passthrough or fields", table, exc.column)
            )
        except Undeclared as exc:
            return Blocked(
                BlockReason(BlockCode.SCHEMA_MISMATCH, "field not declared by the record's embedded schema "
                            "(schema and payload disagree)", table, exc.column)
            )
        except TypeNotPreserved as exc:
            return Blocked(BlockReason(BlockCode.TYPE_NOT_PRESERVED, str(exc), table, exc.column))
        except NotApplicable as exc:
            return Blocked(BlockReason(BlockCode.NOT_APPLICABLE, str(exc), table, exc.column))
        except MaskingError as exc:
            return Blocked(BlockReason(BlockCode.MASKING_FAILED, str(exc), table, exc.column))
        except WrongFormat as exc:
            return Blocked(BlockReason(BlockCode.WRONG_FORMAT, str(exc), table))
        except DecodeError as exc:
            return Blocked(BlockReason(BlockCode.UNDECODABLE, str(exc), table))
        except _UndecodableKey as exc:
            return Blocked(BlockReason(BlockCode.UNDECODABLE_KEY, str(exc), table))
        except RegistryError as exc:
            if exc.unreachable:  # not this record's fault: skipping it would drop good data, so the run
                raise  # stops (nothing written with it) and resumes from its committed offsets
            return Blocked(BlockReason(BlockCode.SCHEMA_REGISTRY, str(exc), table))
        except Exception as exc:  # never str(exc): third-party messages may quote the value
            return Blocked(BlockReason(BlockCode.MASKING_FAILED, f"internal error ({type(exc).__name__})", table))

    # -- event kinds --------------------------------------------------------------------------------

    def _change(
        self, table: str | None, record: RecordContext, key: bytes | None, doc: Document, payload: dict[str, Any],
        tally: Tally,
    ) -> Outcome:
        op = payload.get("op")
        if op not in CHANGE_OPS:
            raise _Block(BlockReason(BlockCode.NOT_DEBEZIUM, "unknown Debezium op", table), EventKind.CHANGE)
        plan = self._plans.get(table) if table else None
        if plan is None:
            raise _Block(
                BlockReason(BlockCode.UNKNOWN_TABLE, "table not in the policy; classify it under tables", table),
                EventKind.CHANGE, op,
            )
        if not payload.keys() <= ENVELOPE_FIELDS:  # a subset test allocates nothing on the common path
            unknown = payload.keys() - ENVELOPE_FIELDS
            raise _Block(
                BlockReason(BlockCode.UNKNOWN_FIELD, f"envelope field {sorted(unknown)[0]!r} is not supported", table),
                EventKind.CHANGE, op,
            )
        before, after = payload.get("before"), payload.get("after")
        key_doc = None if key is None else self._decode_key(key, record)
        row_masker = self._row_masker(plan, doc, key_doc)
        out = payload  # freshly parsed and ours: masked in place; raw rows stay referenced above
        if before is not None:
            out["before"] = row_masker.mask(_row(before), RowContext(before, after), tally, "value field before")
        if after is not None:
            out["after"] = row_masker.mask(_row(after), RowContext(after, before), tally, "value field after")
        source = payload["source"]  # table_of() found a table in it, so it is a dict
        if not source.keys().isdisjoint(SOURCE_ROW_DATA_FIELDS) and any(  # keys view: 2 lookups, not 14
            source.get(f) is not None for f in SOURCE_ROW_DATA_FIELDS
        ):
            out["source"] = {k: (None if k in SOURCE_ROW_DATA_FIELDS else v) for k, v in source.items()}
        masked_key = None
        if key_doc is not None:  # the key's columns are masked by the row's masker: key and row always agree
            masked_key = self._mask_key(
                plan, key_doc, self._keys.forms, tally, RowContext(key_doc.payload, after, before), row_masker
            )
        passed: list[Carrier] = []
        new_headers = self._headers(record, plan, row_masker, tally, passed) if record.headers else []
        value = doc.encode(out)
        self._guard_output(tally, table, passed, out["source"])
        ts_ms = source.get("ts_ms")
        return Masked(
            masked_key, value, new_headers, EventKind.CHANGE, table, op,
            tally.masked, ts_ms if ts_ms.__class__ is int else None, tally.placeholders,
        )

    def _tombstone(self, record: RecordContext, key: bytes | None, tally: Tally) -> Outcome:
        if key is None:
            return Masked(None, None, self._headers(record, None, None, tally, None), EventKind.TOMBSTONE)
        key_doc = self._decode_key(key, record)
        for table in tombstone_table_candidates(record.source_topic, key_doc.schema):
            plan = self.compiled.table(table)
            if plan is not None:
                masked_key = self._mask_key(plan, key_doc, self._keys.forms, tally, RowContext(key_doc.payload), None)
                passed: list[Carrier] = []
                new_headers = self._headers(record, plan, None, tally, passed)
                self._guard_output(tally, table, passed, None)
                return Masked(
                    masked_key, None, new_headers, EventKind.TOMBSTONE, table, None, tally.masked, None,
                    tally.placeholders,
                )
        raise _Block(
            BlockReason(
                BlockCode.UNKNOWN_TABLE, "tombstone's table (from key schema name or topic) is not in the policy"
            ),
            EventKind.TOMBSTONE,
        )

    def _message(self, record: RecordContext, key: bytes | None, doc: Document, payload: dict[str, Any]) -> Outcome:
        if self._messages == "block":
            raise _Block(
                BlockReason(BlockCode.MESSAGE, "logical decoding messages are blocked (events.messages)"),
                EventKind.MESSAGE, "m",
            )
        out_key = self._metadata_key(EventKind.MESSAGE, record, key)
        out = payload
        if self._messages == "redact" and isinstance(payload.get("message"), dict):
            out = {**payload, "message": {**payload["message"], "content": self._values.forms.empty_bytes}}
        value = doc.encode(out)
        return Masked(out_key, value, self._headers(record, None, None, Tally(), None), EventKind.MESSAGE, None, "m")

    # -- parts --------------------------------------------------------------------------------------

    def _decode_key(self, key: bytes, record: RecordContext) -> Document:
        """The record key's document. One that does not decode blocks as ``undecodable-key``, not as an
        undecodable value: the key has its own format (``key_format``) and converter. A key in another wire
        format stays ``wrong-format``."""
        try:
            return self._keys.decode(key, record, KEY)
        except WrongFormat:
            raise
        except DecodeError as exc:
            raise _UndecodableKey(str(exc)) from None

    def _metadata_key(self, kind: EventKind, record: RecordContext, key: bytes | None) -> bytes | None:
        """A metadata event passes with its key unchanged (framed for the target): only with the key
        Debezium gives that kind."""
        if key is None:
            return None
        key_doc = self._decode_key(key, record)
        if not metadata_key_fits(kind, key_doc.payload):
            raise _Block(
                BlockReason(BlockCode.UNCERTAIN_KIND, f"a {kind.value} event with a key Debezium does not give it"),
                kind, "m" if kind is EventKind.MESSAGE else None,
            )
        return key_doc.reframed()

    def _row_masker(self, plan: TablePlan, doc: Document, key_doc: Document | None) -> RowMasker:
        forms = self._values.forms
        schema_key = doc.schema_key
        if schema_key is None:
            if key_doc is not None and key_doc.schema_key is not None and isinstance(key_doc.payload, dict):
                key_struct = self._key_struct(key_doc.schema_key, key_doc.schema)
                return plan.hinted_row_masker(key_doc.schema_key, key_struct, forms)
            return plan.row_masker(None, None, forms)
        struct = self._structs.get(schema_key)
        if struct is None and schema_key not in self._structs:
            row_schema = row_struct_schema(doc.schema)
            struct = from_connect_schema(row_schema) if row_schema else None
            if len(self._structs) > 4096:
                self._structs.clear()
            self._structs[schema_key] = struct
        return plan.row_masker(schema_key, struct, forms)

    def _mask_key(
        self, plan: TablePlan, key_doc: Document, forms: ValueForms, tally: Tally, ctx: RowContext,
        row_masker: RowMasker | None, where: str = "key field",
    ) -> bytes:
        """The masked key (its values in ``forms``). With the event's ``row_masker``, key columns get exactly
        the transform of the same columns in the row, types and parameters from the value schema
        (``column.propagate.source.type`` parameters are in the value schema only); a tombstone has no row,
        so its key is masked with the key's own schema. ``ctx``: the rows a ``shift`` entity may be read
        from."""
        payload = key_doc.payload
        if payload is None:
            return key_doc.encode(None)
        if not isinstance(payload, dict):
            raise _Block(BlockReason(BlockCode.NOT_DEBEZIUM, "record key is not a JSON struct", plan.table))
        schema_key = key_doc.schema_key
        if row_masker is None:  # a tombstone: the key schema's own types
            masker = self._key_masker(plan, key_doc, forms)
        elif schema_key is not None:  # the row's transforms for the fields the key schema declares
            names, declared = self._key_fields(schema_key, key_doc.schema)
            masker = row_masker.narrowed(schema_key, names, declared, forms)
            if masker is row_masker and not payload.keys() <= declared:  # (a row read without a schema)
                raise Undeclared(next(name for name in payload if name not in declared))
        else:
            names = tuple(payload)
            masker = row_masker.narrowed(names, names, None, forms)
        return key_doc.encode(masker.mask(payload, ctx, tally, where))

    def _key_masker(self, plan: TablePlan, key_doc: Document, forms: ValueForms) -> RowMasker:
        if key_doc.schema_key is None:
            return plan.row_masker(None, None, forms)
        return plan.row_masker(key_doc.schema_key, self._key_struct(key_doc.schema_key, key_doc.schema), forms)

    def _key_struct(self, schema_key: Hashable, schema: dict[str, Any] | None) -> ColumnType:
        struct = self._structs.get(schema_key)
        if struct is None:
            struct = self._structs[schema_key] = from_connect_schema(schema or {})
        return struct

    def _key_fields(
        self, schema_key: Hashable, schema: dict[str, Any] | None
    ) -> tuple[tuple[str, ...], frozenset[str]]:
        """The fields a key schema declares, in order and as a set (cached per schema)."""
        fields = self._declared.get(schema_key)
        if fields is None:
            if len(self._declared) > 4096:
                self._declared.clear()
            names = tuple(name for name, _ in self._key_struct(schema_key, schema).fields)
            fields = self._declared[schema_key] = (names, frozenset(names))
        return fields

    def _headers(
        self, record: RecordContext, plan: TablePlan | None, row_masker: RowMasker | None, tally: Tally,
        passed: list[Carrier] | None,
    ) -> list[tuple[str, bytes | None]]:
        """Key headers masked like the key, passthrough headers as they are, the rest dropped. ``passed``
        collects the passed headers for the leak guard (a key header's passthrough columns it finds in the
        tally)."""
        out: list[tuple[str, bytes | None]] = []
        for name, value in record.headers:
            if name in KEY_HEADERS:
                if plan is None or value is None:
                    continue  # no table to mask it with: dropped, never passed raw
                try:
                    header_doc = self._header_keys.decode(value, record, Part(True, f"header {name}"))
                    # The key of another row (the one before or after a primary-key change): only its own
                    # columns can feed a shift entity; where they cannot, the header is dropped. A value
                    # that cannot be masked blocks the record, as in the key itself.
                    masked = self._mask_key(
                        plan, header_doc, self._header_keys.forms, tally, RowContext(header_doc.payload),
                        row_masker, f"header {name} field",
                    )
                except (DecodeError, EntityUnavailable):
                    continue
                out.append((name, masked))
            elif self._keep_header(name):
                out.append((name, value))
                if passed is not None and value:
                    passed.append((f"header {name}", value))
        return out

    def _guard_output(
        self, tally: Tally, table: str | None, passed: list[Carrier], source: dict[str, Any] | None
    ) -> None:
        """Defence in depth: block the record if a raw value of a masked column is anywhere in its output
        (``passed``: the headers passed as they came; ``source``: the value's source block, if any)."""
        if self._guard is None:
            return
        if source is not None and not source.keys() <= SOURCE_METADATA:  # per record: a payload may carry
            passed += source_carriers(source)  # more than its schema says
        found = self._guard.scan(tally, passed)
        if found is not None:
            raise _Block(BlockReason(BlockCode.LEAK_GUARD, found.describe(), table, found.column))

    def _keep_header(self, name: str) -> bool:
        keep = self._header_keep.get(name)
        if keep is None:
            keep = any(fnmatch.fnmatchcase(name, p) for p in self._header_patterns)
            if len(self._header_keep) < 10_000:
                self._header_keep[name] = keep
        return keep


def _row(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise MaskingError("before/after is not a row struct")
    return row
