"""Avro's binary encoding for one writer schema, compiled to Python: a fast path beside fastavro.

fastavro's ``schemaless_reader``/``_writer`` interpret the schema for every datum and pay a per-call toll (the
named-types table, option dicts, a union's branch found by validating the datum against each branch); for a
Debezium envelope that is most of the Avro codec's time. ``compile_reader`` and ``compile_writer`` turn a
schema into straight-line Python once (one function per record type), for the well-formed case only:

- the reader takes exactly what the Avro specification defines (minimal union indexes, booleans 0/1, varints
  of at most 64 bits and ints of 32, lengths within the body, no NaN floats) and raises ``Mismatch`` (or
  whatever Python raises, such as an ``IndexError`` at the end of the data) on anything else. It returns the
  position after the datum: the caller checks that this is the end of the body;
- the writer takes exactly typed data (a ``dict`` with exactly the record's fields, ``int`` within the type's
  range, ``float`` that is not NaN, ``str``, ``bytes`` of a fixed's size, ``list``, a ``dict`` with ``str``
  keys, ``True``/``False``, ``None`` for null) and raises ``Mismatch`` (or whatever Python raises) on anything
  else.

Whatever a compiled function accepts, fastavro reads to the same datum (same types) and writes to the same
bytes (``tests/test_avro_binary.py`` checks this against fastavro); whatever it refuses, the caller hands to
fastavro, whose result or error then stands. Schemas with shapes not compiled here (a logical type kept, a
union of two non-null branches for writing, more than two branches) compile to None: fastavro only.

The generated code quotes nothing from the schema but field names (as ``repr`` literals) and integers it has
checked (sizes, symbol counts); enum symbols and helpers are namespace constants.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1

Reader = Callable[[bytes, int], tuple[Any, int]]
"""``(data, position)`` -> ``(datum, position after it)``."""
Writer = Callable[[Any, bytearray], None]
"""Appends the datum's encoding to the buffer."""


class Mismatch(Exception):
    """Not the well-formed case the compiled code handles: let fastavro decide."""


class Unsupported(Exception):
    """A schema shape this module does not compile."""


def _read_long_tail(d: bytes, p: int, b: int) -> tuple[int, int]:
    """The rest of a varint whose first byte ``b`` (at ``p - 1``) has its continuation bit set."""
    n = b & 0x7F
    shift = 7
    while True:
        b = d[p]
        p += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise Mismatch
    if n >> 64:
        raise Mismatch
    return (n >> 1) ^ -(n & 1), p


def _namespace() -> dict[str, Any]:
    return {
        "Mismatch": Mismatch,
        "rl": _read_long_tail,
        "uf": struct.Struct("<f").unpack_from,
        "ud": struct.Struct("<d").unpack_from,
        "pf": struct.Struct("<f").pack,
        "pd": struct.Struct("<d").pack,
        "__builtins__": {"len": len, "range": range, "dict": dict, "list": list, "str": str, "int": int,
                         "float": float, "bytes": bytes},
    }


class _Schema:
    """The schema walk both compilers share: named types by full name, as fastavro's parsed form writes them
    (full names on definitions, references by full name)."""

    def __init__(self) -> None:
        self.named: dict[str, dict[str, Any]] = {}

    def resolve(self, node: Any) -> tuple[str, Any]:
        """(Avro type, its definition: the dict, the union's list, or None for a bare primitive)."""
        if isinstance(node, str):
            if node in PRIMITIVES:
                return node, None
            found = self.named.get(node)
            if found is None:
                raise Unsupported(f"reference to an undefined type {node}")
            return ("record" if found["type"] == "error" else found["type"]), found
        if isinstance(node, list):
            return "union", node
        if not isinstance(node, dict):
            raise Unsupported("not a schema")
        if "logicalType" in node:
            raise Unsupported("logical type")  # fastavro would convert the value: not the raw form compiled here
        kind = node.get("type")
        if kind in PRIMITIVES:
            return kind, node
        if kind in ("record", "error", "enum", "fixed"):
            name = node.get("name")
            if not isinstance(name, str):
                raise Unsupported("named type without a name")
            if name not in self.named:
                self.named[name] = node
            elif self.named[name] is not node:
                raise Unsupported(f"{name} defined twice")
            return ("record" if kind == "error" else kind), node
        if kind in ("array", "map"):
            return kind, node
        if isinstance(kind, str):  # {"type": "<full name>"}
            return self.resolve(kind)
        raise Unsupported("unknown type")


class _Code:
    """Generated functions and the constants they use."""

    def __init__(self) -> None:
        self.functions: list[list[str]] = []
        self.consts: dict[str, Any] = {}
        self.by_record: dict[int, str] = {}
        self.counter = 0

    def var(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def const(self, value: Any) -> str:
        name = self.var("c")
        self.consts[name] = value
        return name

    def source(self) -> str:
        return "\n".join("\n".join(f) for f in self.functions) + "\n"


def _varint_read(target: str, ind: str) -> list[str]:
    return [
        f"{ind}b = d[p]",
        f"{ind}p += 1",
        f"{ind}if b < 128:",
        f"{ind}    {target} = (b >> 1) ^ -(b & 1)",
        f"{ind}else:",
        f"{ind}    {target}, p = rl(d, p, b)",
    ]


class _Gen:
    """What the reader and the writer generator share: one function for the top schema and one per record
    (written once, called wherever the record is used); the subclass writes their bodies."""

    prefix = ""

    def __init__(self) -> None:
        self.schema = _Schema()
        self.code = _Code()

    def top(self, node: Any) -> str:
        kind, body = self.schema.resolve(node)
        if kind == "record":
            return self.record(body)
        name = self.code.var(self.prefix)
        self.code.functions.append(self.top_function(name, node))
        return name

    def record(self, body: dict[str, Any]) -> str:
        done = self.code.by_record.get(id(body))
        if done is not None:
            return done
        name = self.code.by_record[id(body)] = self.code.var(self.prefix)
        fields = body.get("fields")
        if not isinstance(fields, list):
            raise Unsupported("record without fields")
        for f in fields:
            if not isinstance(f, dict) or not isinstance(f.get("name"), str) or "type" not in f:
                raise Unsupported("field without a name or type")
        self.code.functions.append(self.record_function(name, fields))
        return name

    def top_function(self, name: str, node: Any) -> list[str]:
        raise NotImplementedError

    def record_function(self, name: str, fields: list[dict[str, Any]]) -> list[str]:
        raise NotImplementedError

    def value(self, node: Any, var: str, ind: str) -> list[str]:
        raise NotImplementedError


class _ReaderGen(_Gen):
    prefix = "r"

    def top_function(self, name: str, node: Any) -> list[str]:
        return [f"def {name}(d, p):", "    L = len(d)", *self.value(node, "t", "    "), "    return t, p"]

    def record_function(self, name: str, fields: list[dict[str, Any]]) -> list[str]:
        lines = [f"def {name}(d, p):", "    L = len(d)"]
        items = []
        for f in fields:
            target = self.code.var("v")
            lines += self.value(f["type"], target, "    ")
            items.append(f"{f['name']!r}: {target}")
        lines.append(f"    return {{{', '.join(items)}}}, p")
        return lines

    def value(self, node: Any, t: str, ind: str) -> list[str]:
        kind, body = self.schema.resolve(node)
        if kind == "null":
            return [f"{ind}{t} = None"]
        if kind == "boolean":
            return [f"{ind}b = d[p]", f"{ind}p += 1", f"{ind}if b == 0:", f"{ind}    {t} = False",
                    f"{ind}elif b == 1:", f"{ind}    {t} = True", f"{ind}else:", f"{ind}    raise Mismatch"]
        if kind == "long":
            return _varint_read(t, ind)
        if kind == "int":  # beyond 32 bits: fastavro's reader may read it otherwise
            return [*_varint_read(t, ind), f"{ind}    if not {_INT_MIN} <= {t} <= {_INT_MAX}:",
                    f"{ind}        raise Mismatch"]
        if kind in ("float", "double"):
            unpack = "uf" if kind == "float" else "ud"
            return [f"{ind}{t} = {unpack}(d, p)[0]", f"{ind}p += {4 if kind == 'float' else 8}",
                    f"{ind}if {t} != {t}:", f"{ind}    raise Mismatch"]  # NaN: its bits are fastavro's business
        if kind in ("string", "bytes"):
            n, e = self.code.var("n"), self.code.var("e")
            decode = ".decode()" if kind == "string" else ""
            return [*_varint_read(n, ind), f"{ind}{e} = p + {n}", f"{ind}if {n} < 0 or {e} > L:",
                    f"{ind}    raise Mismatch", f"{ind}{t} = d[p:{e}]{decode}", f"{ind}p = {e}"]
        if kind == "fixed":
            size = body.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise Unsupported("fixed without a size")
            e = self.code.var("e")
            return [f"{ind}{e} = p + {size}", f"{ind}if {e} > L:", f"{ind}    raise Mismatch",
                    f"{ind}{t} = d[p:{e}]", f"{ind}p = {e}"]
        if kind == "enum":
            symbols = body.get("symbols")
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise Unsupported("enum without symbols")
            i, syms = self.code.var("i"), self.code.const(tuple(symbols))
            return [*_varint_read(i, ind), f"{ind}if not 0 <= {i} < {len(symbols)}:", f"{ind}    raise Mismatch",
                    f"{ind}{t} = {syms}[{i}]"]
        if kind == "record":
            return [f"{ind}{t}, p = {self.record(body)}(d, p)"]
        if kind == "union":
            if not 1 <= len(body) <= 2:
                raise Unsupported("union of more than two branches")
            lines = [f"{ind}b = d[p]", f"{ind}p += 1"]
            for index, branch in enumerate(body):
                lines.append(f"{ind}{'if' if index == 0 else 'elif'} b == {2 * index}:")
                lines += self.value(branch, t, ind + "    ")
            return [*lines, f"{ind}else:", f"{ind}    raise Mismatch"]
        if kind in ("array", "map"):
            inner = body.get("items" if kind == "array" else "values")
            if inner is None:
                raise Unsupported(f"{kind} without its type")
            c, y, k = self.code.var("c"), self.code.var("y"), self.code.var("k")
            lines = [f"{ind}{t} = {'[]' if kind == 'array' else '{}'}", f"{ind}while True:"]
            lines += _varint_read(c, ind + "    ")
            lines += [f"{ind}    if {c} == 0:", f"{ind}        break", f"{ind}    if {c} < 0:",
                      f"{ind}        {c} = -{c}"]
            lines += _varint_read("_", ind + "        ")  # the block's byte size: not needed
            if kind == "map" or self.min_size(inner) > 0:  # more items than bytes left: cut short
                lines += [f"{ind}    if {c} > L - p:", f"{ind}        raise Mismatch"]
            lines.append(f"{ind}    for _ in range({c}):")
            if kind == "map":
                lines += self.value("string", k, ind + "        ")
            lines += self.value(inner, y, ind + "        ")
            lines.append(f"{ind}        {t}.append({y})" if kind == "array" else f"{ind}        {t}[{k}] = {y}")
            return lines
        raise Unsupported(kind)  # pragma: no cover - resolve() returns only the kinds above

    def min_size(self, node: Any, open_records: frozenset[int] = frozenset()) -> int:
        """The fewest bytes a value of ``node`` takes (0: null, an empty record, a fixed of size 0)."""
        kind, body = self.schema.resolve(node)
        if kind == "null":
            return 0
        if kind == "fixed":
            return int(body.get("size") or 0)
        if kind == "float":
            return 4
        if kind == "double":
            return 8
        if kind == "record":
            if id(body) in open_records:  # recursive: through a union or an array, which take a byte
                return 1
            inner = open_records | {id(body)}
            return sum(self.min_size(f["type"], inner) for f in body.get("fields") or ())
        return 1  # a varint, a length, a union index, a block count


def _varint_write(expr: str, ind: str) -> list[str]:
    """Appends the varint of the non-negative (already zigzagged) ``expr``."""
    return [f"{ind}n = {expr}", f"{ind}while n > 127:", f"{ind}    o.append((n & 127) | 128)", f"{ind}    n >>= 7",
            f"{ind}o.append(n)"]


class _WriterGen(_Gen):
    prefix = "w"

    def top_function(self, name: str, node: Any) -> list[str]:
        return [f"def {name}(x, o):", *self.value(node, "x", "    "), "    return"]

    def record_function(self, name: str, fields: list[dict[str, Any]]) -> list[str]:
        lines = [f"def {name}(v, o):", f"    if v.__class__ is not dict or len(v) != {len(fields)}:",
                 "        raise Mismatch"]
        for f in fields:
            x = self.code.var("x")
            lines.append(f"    {x} = v[{f['name']!r}]")  # a missing field: KeyError, fastavro's defaults decide
            lines += self.value(f["type"], x, "    ")
        return lines

    def value(self, node: Any, x: str, ind: str) -> list[str]:
        kind, body = self.schema.resolve(node)
        bad = f"{ind}    raise Mismatch"
        if kind == "null":
            return [f"{ind}if {x} is not None:", bad]
        if kind == "boolean":
            return [f"{ind}if {x} is True:", f"{ind}    o.append(1)", f"{ind}elif {x} is False:",
                    f"{ind}    o.append(0)", f"{ind}else:", bad]
        if kind in ("int", "long"):
            low, high = (_INT_MIN, _INT_MAX) if kind == "int" else (_LONG_MIN, _LONG_MAX)
            return [f"{ind}if {x}.__class__ is not int or not {low} <= {x} <= {high}:", bad,
                    *_varint_write(f"({x} << 1) ^ ({x} >> 63)", ind)]
        if kind in ("float", "double"):
            return [f"{ind}if {x}.__class__ is not float or {x} != {x}:", bad,
                    f"{ind}o += {'pf' if kind == 'float' else 'pd'}({x})"]  # pf: OverflowError beyond float32
        if kind in ("string", "bytes"):
            if kind == "string":
                s = self.code.var("s")
                return [f"{ind}if {x}.__class__ is not str:", bad, f"{ind}{s} = {x}.encode()",
                        *_varint_write(f"len({s}) << 1", ind), f"{ind}o += {s}"]
            return [f"{ind}if {x}.__class__ is not bytes:", bad, *_varint_write(f"len({x}) << 1", ind),
                    f"{ind}o += {x}"]
        if kind == "fixed":
            size = body.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise Unsupported("fixed without a size")
            return [f"{ind}if {x}.__class__ is not bytes or len({x}) != {size}:", bad, f"{ind}o += {x}"]
        if kind == "enum":
            symbols = body.get("symbols")
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise Unsupported("enum without symbols")
            index: dict[str, int] = {}
            for position, symbol in enumerate(symbols):
                index.setdefault(symbol, position)  # list.index: the first
            i, table = self.code.var("i"), self.code.const(index)
            return [f"{ind}{i} = {table}.get({x}) if {x}.__class__ is str else None", f"{ind}if {i} is None:", bad,
                    *_varint_write(f"{i} << 1", ind)]
        if kind == "record":
            return [f"{ind}{self.record(body)}({x}, o)"]
        if kind == "union":
            nulls = [i for i, b in enumerate(body) if self.schema.resolve(b)[0] == "null"]
            if len(body) == 1:
                return [f"{ind}o.append(0)", *self.value(body[0], x, ind)]
            if len(body) != 2 or len(nulls) != 1:
                raise Unsupported("a union other than [null, X]")  # fastavro picks branches by validation
            other = 1 - nulls[0]
            return [f"{ind}if {x} is None:", f"{ind}    o.append({2 * nulls[0]})", f"{ind}else:",
                    f"{ind}    o.append({2 * other})", *self.value(body[other], x, ind + "    ")]
        if kind in ("array", "map"):
            inner = body.get("items" if kind == "array" else "values")
            if inner is None:
                raise Unsupported(f"{kind} without its type")
            y, k = self.code.var("y"), self.code.var("k")
            if kind == "array":
                lines = [f"{ind}if {x}.__class__ is not list:", bad, f"{ind}if {x}:",
                         *_varint_write(f"len({x}) << 1", ind + "    "), f"{ind}    for {y} in {x}:"]
            else:
                lines = [f"{ind}if {x}.__class__ is not dict:", bad, f"{ind}if {x}:",
                         *_varint_write(f"len({x}) << 1", ind + "    "), f"{ind}    for {k}, {y} in {x}.items():"]
                lines += self.value("string", k, ind + "        ")
            return [*lines, *self.value(inner, y, ind + "        "), f"{ind}o.append(0)"]
        raise Unsupported(kind)  # pragma: no cover - resolve() returns only the kinds above


def _build(gen: _Gen, schema: Any, what: str) -> Any:
    try:
        entry = gen.top(schema)
        namespace = {**_namespace(), **gen.code.consts}
        exec(compile(gen.code.source(), f"<avro {what}>", "exec"), namespace)  # noqa: S102 - generated above
    except Exception:  # Unsupported, or a shape the generator trips on (too deep to compile): fastavro only
        return None
    return namespace[entry]


def compile_reader(parsed: Any) -> Reader | None:
    """A reader of ``parsed`` (fastavro's parsed form, without logical types), or None if not compiled."""
    reader: Reader | None = _build(_ReaderGen(), parsed, "reader")
    return reader


def compile_writer(parsed: Any) -> Writer | None:
    """A writer of ``parsed`` (fastavro's parsed form, without logical types), or None if not compiled."""
    writer: Writer | None = _build(_WriterGen(), parsed, "writer")
    return writer


def generated_source(parsed: Any, writer: bool = False) -> str:
    """The code compiled for ``parsed`` (for reading it, and for tests)."""
    gen: _ReaderGen | _WriterGen = _WriterGen() if writer else _ReaderGen()
    gen.top(parsed)
    return gen.code.source()
