"""A policy compiled for masking: per table, per row schema, one transform per column.

``TablePlan.row_masker(schema, forms)`` compiles (and caches) a ``RowMasker`` for one Connect struct
schema and a wire format's value forms (strategies see plain values: ``codec.base.ValueForms``);
without a schema, types are inferred per value. A row column the policy does not classify raises
``Unclassified``, one the schema does not declare ``Undeclared`` (the record is blocked); a
transform's failure raises ``MaskingError``. Debezium's placeholders pass every column unchanged.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

from streammask.codec.base import ValueForms
from streammask.errors import MaskingError, StreamMaskError
from streammask.keys import MasterKey
from streammask.placeholders import Placeholders
from streammask.policy.loader import LoadedPolicy, entity_domain_of
from streammask.strategies import STRATEGIES
from streammask.strategies.base import CompileContext, RowContext, StrategyOptions, Transform
from streammask.types import ColumnType, Kind, infer

_SCHEMA_CACHE_LIMIT = 1024


class Unclassified(StreamMaskError):
    """A column the policy neither masks nor lists as passthrough (schema drift)."""

    def __init__(self, column: str) -> None:
        self.column = column
        super().__init__(f"column {column!r} is not classified by the policy")


class Undeclared(StreamMaskError):
    """A row or key field that the record's embedded schema does not declare: schema and payload disagree."""

    def __init__(self, column: str) -> None:
        self.column = column
        super().__init__(f"field {column!r} is not declared by the record's schema")


class NotApplicable(MaskingError):
    """A strategy cannot mask this column's type; names the policy line to change."""


class ColumnStats(NamedTuple):
    """The identity a masked value is counted under in audits and metrics (a tuple: counted per
    value on the hot path, so its hash must be C's)."""

    table: str
    column: str
    strategy: str


# How the leak guard treats a masked column's value: a kept one is never looked for; a lenient one
# (bucket, redact, enum tokens, a kept prefix or suffix) may come out unchanged; a strict one may not.
KEPT, STRICT, LENIENT = 0, 1, 2


class Tally:
    """What masking one record touched: a ``ColumnStats`` per value masked and per placeholder passed.
    What the leak guard needs stays None here (a class default: nothing to set per record when the guard
    is off); ``GuardedTally`` collects it."""

    __slots__ = ("masked", "placeholders")
    rows: list[tuple[RowMasker, dict[str, Any], dict[str, Any], str]] | None = None
    raw: list[Any] | None = None
    unchanged: list[tuple[str, str, Any, Any]] | None = None

    def __init__(self) -> None:
        self.masked: list[ColumnStats] = []
        self.placeholders: list[ColumnStats] = []


class GuardedTally(Tally):
    """A tally for the leak guard too: each row as (its masker, raw row, masked row, where it is in the
    output); the raw values masking changed (``raw``, all of them: the guard's C-level passes filter
    them, a step per value here would cost more); and (row label, column, raw, masked) of each strict
    column's value that came out equal."""

    __slots__ = ("rows", "raw", "unchanged")

    def __init__(self) -> None:
        self.masked = []
        self.placeholders = []
        self.rows = []
        self.raw = []
        self.unchanged = []


def _elementwise(transform: Transform) -> Transform:
    """Arrays of a maskable type (e.g. text[]): every element gets the column's transform."""

    def masked(value: Any, row: RowContext) -> Any:
        if not isinstance(value, list):
            raise MaskingError("array column value is not a list")
        return [None if v is None else transform(v, row) for v in value]

    return masked


class RowMasker:
    """Masks one row struct: a copy with every classified column transformed; fails on others.

    ``declared`` is the fields the row's schema declares (None without a schema): a payload field
    outside it is a schema/payload mismatch, not schema drift, and is reported as such."""

    __slots__ = ("_columns", "_classified", "_declared", "_key_declared", "_for_key", "_allowed", "_entries",
                 "_guarded_entries", "guarded", "masked_columns", "lenient", "passthrough", "_placeholders", "_types",
                 "_narrowed", "_plan", "_forms")

    def __init__(
        self,
        columns: dict[str, tuple[Transform, ColumnStats]],
        passthrough: frozenset[str],
        placeholders: Placeholders,
        declared: frozenset[str] | None = None,
        types: dict[str, ColumnType] | None = None,
        lenient: frozenset[str] = frozenset(),
        key_declared: frozenset[str] | None = None,
        classified: frozenset[str] | None = None,
        for_key: bool = False,
        plan: TablePlan | None = None,
        forms: ValueForms | None = None,
    ) -> None:
        types = types or {}
        self._plan = plan  # what compiled ``columns`` for ``forms``: a key in another format recompiles
        self._forms = forms
        self._columns = columns
        here = frozenset(columns) | passthrough  # what this masker masks or passes
        self._classified = here if classified is None else classified  # what the policy classifies
        self._declared = declared
        self._key_declared = key_declared  # a key's own schema, when this masks a key with a row's transforms
        self._for_key = for_key
        allowed = here if declared is None else here & declared
        self._allowed = allowed if key_declared is None else allowed & key_declared
        self._entries = tuple(
            (name, transform, stats, _may_hold_placeholder(types.get(name)))
            for name, (transform, stats) in columns.items()
        )
        # the same, with how the leak guard treats each column
        self._guarded_entries = tuple(
            (*entry, KEPT if entry[2].strategy == "keep" else LENIENT if entry[0] in lenient else STRICT)
            for entry in self._entries
        )
        self.guarded = tuple(name for name, (_, stats) in columns.items() if stats.strategy != "keep")
        """The masked columns whose raw values the leak guard looks for (a kept one may be in the output)."""
        self.lenient = lenient
        """The masked columns whose masked value may legitimately equal the raw one."""
        self.masked_columns = {name: stats for name, (_, stats) in columns.items()}
        self.passthrough = tuple(passthrough)
        """The columns copied as they come: what may carry a masked column's raw value out."""
        self._placeholders = placeholders
        self._types = types
        self._narrowed: dict[Hashable, RowMasker] = {}

    def narrowed(
        self, cache_key: Hashable, names: Sequence[str], key_declared: frozenset[str] | None = None,
        forms: ValueForms | None = None,
    ) -> RowMasker:
        """This masker's own transforms for ``names`` only (a key's columns; ``key_declared``: the fields
        its schema declares), cached under ``cache_key`` (the key schema's identity, or the names): the key
        is masked exactly like the row, without a pass over every other column of the table for each key.
        A key in another wire format (``forms``) gets the same transforms for its own value forms."""
        other_format = forms is not None and forms is not self._forms
        if other_format:
            cache_key = (cache_key, forms)  # a key in another wire format than the row's (rare)
        masker = self._narrowed.get(cache_key)
        if masker is None:
            if len(self._narrowed) >= _SCHEMA_CACHE_LIMIT:
                self._narrowed.clear()
            columns = {name: entry for name, entry in self._columns.items() if name in names}
            if other_format and self._plan is not None and forms is not None:
                plan = self._plan
                columns = {name: plan.compile_column(name, self._types[name], forms) for name in columns}
            passthrough = frozenset(name for name in self.passthrough if name in names)
            masker = self._narrowed[cache_key] = RowMasker(
                columns, passthrough, self._placeholders, self._declared, self._types, self.lenient,
                key_declared, self._classified, True, self._plan, forms or self._forms,
            )
        return masker

    def mask(self, row: dict[str, Any], ctx: RowContext, tally: Tally, where: str = "row") -> dict[str, Any]:
        """A masked copy of ``row``; ``where`` (``value field after``, ``key field``…) names it for the guard."""
        if not row.keys() <= self._allowed:  # one set comparison instead of a test per column
            self._reject(row)
        if tally.rows is not None:
            return self._mask_guarded(row, ctx, tally, where)
        out = row.copy()  # passthrough columns as they are; the raw row stays intact for RowContext
        get, count = row.get, tally.masked.append
        placeholder_strings, placeholder = self._placeholders.strings, self._placeholders.matches
        for name, transform, stats, check_placeholder in self._entries:
            value = get(name)
            if value is None:
                continue  # absent (a partial `before`) or null: nothing to mask
            if check_placeholder and (value in placeholder_strings if value.__class__ is str else placeholder(value)):
                tally.placeholders.append(stats)  # out[name] is the placeholder already
                continue
            try:
                out[name] = transform(value, ctx)
            except MaskingError as exc:
                if exc.column is None:
                    exc.column = name
                raise
            count(stats)
        return out

    def _mask_guarded(self, row: dict[str, Any], ctx: RowContext, tally: Tally, where: str) -> dict[str, Any]:
        """``mask`` with the leak guard's share (apart: the loop without it is the hot path when it is off):
        the raw values masking changed, and the strict ones that came out equal."""
        out = row.copy()
        get, count, keep = row.get, tally.masked.append, tally.raw.append  # type: ignore[union-attr]
        placeholder_strings, placeholder = self._placeholders.strings, self._placeholders.matches
        for name, transform, stats, check_placeholder, guard in self._guarded_entries:
            value = get(name)
            if value is None:
                continue
            if check_placeholder and (value in placeholder_strings if value.__class__ is str else placeholder(value)):
                tally.placeholders.append(stats)
                continue
            try:
                masked = out[name] = transform(value, ctx)
            except MaskingError as exc:
                if exc.column is None:
                    exc.column = name
                raise
            count(stats)
            if guard:
                if masked != value:
                    keep(value)
                elif guard == STRICT:
                    tally.unchanged.append((where, name, value, masked))  # type: ignore[union-attr]
        tally.rows.append((self, row, out, where))  # type: ignore[union-attr]
        return out

    def _reject(self, row: dict[str, Any]) -> None:
        """Which field is not allowed, and why: for a row, one its schema does not declare, then one the
        policy does not classify; for a key, one its own schema does not declare, then one the policy
        does not classify (a key column is a policy gap first), then one the row's schema does not."""
        key_declared, declared = self._key_declared, self._declared
        if key_declared is not None:
            _raise_first(row, key_declared, Undeclared)
        if self._for_key:
            _raise_first(row, self._classified, Unclassified)
        if declared is not None:
            _raise_first(row, declared, Undeclared)
        _raise_first(row, self._classified, Unclassified)


def _raise_first(row: dict[str, Any], allowed: frozenset[str], error: type[Unclassified | Undeclared]) -> None:
    name = next((name for name in row if name not in allowed), None)
    if name is not None:
        raise error(name)


class InferringRowMasker(RowMasker):
    """For rows without a schema: compiles each column's transform for the JSON type it sees, or for the
    type ``hints`` give (the key's schema, when only the key carries one: key columns are then masked
    by their declared type in the row as in the key, so the two agree and the key stays valid)."""

    __slots__ = ("_by_type", "_hints")

    def __init__(self, plan: TablePlan, forms: ValueForms, hints: dict[str, ColumnType] | None = None) -> None:
        super().__init__({}, plan.passthrough, plan.placeholders, plan=plan, forms=forms)
        self._hints = hints or {}
        self.masked_columns = plan.stats  # any masked column of the table may come
        self.guarded = tuple(c for c, f in plan.fields.items() if f.strategy != "keep")
        self.lenient = frozenset(c for c, f in plan.fields.items() if f.strategy in _LENIENT_STRATEGIES)
        self._by_type: dict[tuple[str, type, type | None], tuple[Transform, ColumnStats]] = {}

    def narrowed(
        self, cache_key: Hashable, names: Sequence[str], key_declared: frozenset[str] | None = None,
        forms: ValueForms | None = None,
    ) -> RowMasker:
        """Itself: it compiles per column as it meets them anyway (a key's own schema is checked apart);
        inferred types hold no bytes or decimals, so value forms do not matter."""
        return self

    def mask(self, row: dict[str, Any], ctx: RowContext, tally: Tally, where: str = "row") -> dict[str, Any]:
        plan = self._plan
        forms = self._forms
        assert plan is not None and forms is not None
        placeholder = self._placeholders.matches
        out: dict[str, Any] = {}
        for name, value in row.items():
            if name in plan.fields:
                if value is None:
                    out[name] = None
                    continue
                if placeholder(value):
                    out[name] = value
                    tally.placeholders.append(plan.stats[name])
                    continue
                key = (name, type(value), _element_type(value))
                entry = self._by_type.get(key)
                if entry is None:
                    entry = self._by_type[key] = plan.compile_column(
                        name, self._hints.get(name) or infer(value), forms
                    )
                try:
                    masked = out[name] = entry[0](value, ctx)
                except MaskingError as exc:
                    if exc.column is None:
                        exc.column = name
                    raise
                tally.masked.append(entry[1])
                if tally.raw is not None and entry[1].strategy != "keep":
                    if masked != value:
                        tally.raw.append(value)
                    elif name not in self.lenient:
                        tally.unchanged.append((where, name, value, masked))  # type: ignore[union-attr]
            elif name in plan.passthrough:
                out[name] = value
            else:
                raise Unclassified(name)
        if tally.rows is not None:
            tally.rows.append((self, row, out, where))
        return out


# A band floor and a literal may equal the raw value; so may a fake name drawn from Faker's pools (the
# raw name may well be in them: "Smith" is).
_LENIENT_STRATEGIES = frozenset({"bucket", "redact", "replace"})


def output_may_equal_raw(options: StrategyOptions, ctype: ColumnType) -> bool:
    """Where a masked value may legitimately equal its raw value, for the leak guard: a band floor, a
    literal, a fake drawn from a pool that holds the raw value too, a fixed point of a permutation over a
    handful of enum labels, a value kept in part on purpose. Elsewhere an unchanged value is one the
    strategy failed to mask (unless it has few masked forms: see leak_guard)."""
    strategy = options.strategy
    if strategy in _LENIENT_STRATEGIES:
        return True
    if strategy in ("tokenize", "hash"):
        return ctype.kind is Kind.ENUM
    return bool(getattr(options, "keep_prefix", 0) or getattr(options, "keep_suffix", 0))


_NO_PLACEHOLDER_TYPES = frozenset({"int8", "int16", "int32", "int64", "float32", "float64", "boolean"})


def _may_hold_placeholder(ctype: ColumnType | None) -> bool:
    """Debezium writes its placeholder in strings, bytes, arrays, maps and structs (geometries), never
    in a number or a boolean: those columns skip the test (it runs per value)."""
    return ctype is None or ctype.connect_type not in _NO_PLACEHOLDER_TYPES


def _element_type(value: Any) -> type | None:
    """An array's element type, which its inferred column type depends on (see ``types.infer``)."""
    if value.__class__ is not list:
        return None
    return next((type(v) for v in value if v is not None), None)


class TablePlan:
    """One table's policy, ready to compile row maskers for the schemas it meets."""

    def __init__(self, loaded: LoadedPolicy, table: str, key: MasterKey, placeholders: Placeholders) -> None:
        spec = loaded.policy.tables[table]
        self.placeholders = placeholders
        self.table = table
        self.loaded = loaded
        self.fields: dict[str, StrategyOptions] = dict(spec.fields)
        self.passthrough = frozenset(spec.passthrough)
        self.classified = frozenset(self.fields) | self.passthrough
        self.stats = {c: ColumnStats(table, c, f.strategy) for c, f in self.fields.items()}
        self._key = key
        self._by_schema: dict[ValueForms, dict[Hashable, RowMasker]] = {}
        self._by_column: dict[tuple[str, ColumnType, ValueForms], tuple[Transform, ColumnStats]] = {}
        self._inferring: dict[ValueForms, RowMasker] = {}
        self._hinted: dict[tuple[Hashable, ValueForms], RowMasker] = {}

    def compile_column(self, column: str, ctype: ColumnType, forms: ValueForms) -> tuple[Transform, ColumnStats]:
        """The transform of wire values in ``forms`` for one column of one type; shared by the key and the
        value schema."""
        cached = self._by_column.get((column, ctype, forms))
        if cached is None:
            cached = self._by_column[(column, ctype, forms)] = self._compile_column(column, ctype, forms)
        return cached

    def _compile_column(self, column: str, ctype: ColumnType, forms: ValueForms) -> tuple[Transform, ColumnStats]:
        options = self.fields[column]
        strategy = STRATEGIES[options.strategy]
        target = ctype
        if ctype.kind is Kind.ARRAY and ctype.items is not None and not strategy.accepts(ctype):
            target = ctype.items  # e.g. tokenize a text[] element by element; redact/keep take the whole array
        if not strategy.accepts(target):
            line = self.loaded.field_line(self.table, column)
            raise NotApplicable(
                f"policy {self.loaded.source}:{line}: strategy {options.strategy} cannot mask a "
                f"{ctype.describe()} column; choose one that accepts this type",
                column=column,
            )
        ctx = CompileContext(
            key=self._key,
            table=self.table,
            column=column,
            entity_domain=lambda c: entity_domain_of(self.loaded.policy, self.table, c),
        )
        transform = forms.wrap(
            target, strategy.compile(options, target, ctx),
            reads=getattr(strategy, "reads_value", True), writes=getattr(strategy, "writes_value", True),
        )
        if target is not ctype:
            transform = _elementwise(transform)
        return transform, self.stats[column]

    def hinted_row_masker(self, key_schema: Hashable, key_struct: ColumnType, forms: ValueForms) -> RowMasker:
        """The masker for rows without a schema whose key has one: key columns take the key's types."""
        masker = self._hinted.get((key_schema, forms))
        if masker is None:
            if len(self._hinted) >= _SCHEMA_CACHE_LIMIT:
                self._hinted.clear()
            masker = self._hinted[(key_schema, forms)] = InferringRowMasker(self, forms, dict(key_struct.fields))
        return masker

    def row_masker(self, schema_key: Hashable | None, struct: ColumnType | None, forms: ValueForms) -> RowMasker:
        """The masker for rows of ``struct`` in ``forms`` (cached under ``schema_key``); None: schemaless."""
        if struct is None or schema_key is None:
            masker = self._inferring.get(forms)
            if masker is None:
                masker = self._inferring[forms] = InferringRowMasker(self, forms)
            return masker
        by_schema = self._by_schema.get(forms)
        if by_schema is None:
            by_schema = self._by_schema[forms] = {}
        masker = by_schema.get(schema_key)
        if masker is None:
            masker = self._compile(struct, forms)
            if len(by_schema) >= _SCHEMA_CACHE_LIMIT:
                by_schema.clear()
            by_schema[schema_key] = masker
        return masker

    def _compile(self, struct: ColumnType, forms: ValueForms) -> RowMasker:
        columns: dict[str, tuple[Transform, ColumnStats]] = {}
        for name, ctype in struct.fields:
            if name in self.fields:
                columns[name] = self.compile_column(name, ctype, forms)
        declared = frozenset(name for name, _ in struct.fields)
        lenient = frozenset(
            name for name, ctype in struct.fields if name in columns and output_may_equal_raw(self.fields[name], ctype)
        )
        return RowMasker(
            columns, self.passthrough, self.placeholders, declared, dict(struct.fields), lenient, None, self.classified,
            False, self, forms,
        )


class CompiledPolicy:
    """All tables' plans under one key."""

    def __init__(self, loaded: LoadedPolicy, key: MasterKey) -> None:
        self.loaded = loaded
        self.key = key
        self.placeholders = Placeholders(loaded.policy.placeholders)
        self.tables = {t: TablePlan(loaded, t, key, self.placeholders) for t in loaded.policy.tables}

    def table(self, name: str) -> TablePlan | None:
        return self.tables.get(name)

