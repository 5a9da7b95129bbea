"""What every wire format gives masking: a document per key, value or key header, and plain values.

Masking works on Kafka Connect's data model, whatever the converter: a payload of dicts, lists and
scalars, and its Connect schema in the JSON form JsonConverter writes (``{"type": "struct", "name": ...,
"fields": [...]}``), which names event kinds and column types. A codec turns a record's bytes into that
(``decode``) and back (``Document.encode``), and says how its wire form holds the values a strategy
must read as something else (``ValueForms``): bytes as ``bytes`` and decimals as an unscaled ``int``
(plus the column's scale, or a ``VariableDecimal``) reach strategies alike from JSON's base64 text and
from Avro's bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, NamedTuple, Protocol

from streammask.errors import MaskingError
from streammask.strategies.base import RowContext, Transform
from streammask.types import ColumnType, Kind, VariableDecimal

Headers = Sequence[tuple[str, bytes | None]]


class RecordContext(NamedTuple):
    """Where a record comes from and goes to: a registry needs the target topic for the target subject,
    and some framings keep the schema id in a header."""

    source_topic: str
    target_topic: str
    headers: Headers = ()


class Part(NamedTuple):
    """Which part of a record a document is: the key (or a key header) or the value; ``what`` names it
    in errors (``record key``, ``header __debezium.oldkey``)."""

    is_key: bool
    what: str


KEY = Part(True, "record key")
VALUE = Part(False, "record value")


class Document(Protocol):
    """One decoded key, value or key header."""

    @property
    def payload(self) -> Any:
        """Connect data: structs as dicts, arrays as lists; bytes and decimals in the wire's own form."""

    @property
    def schema(self) -> dict[str, Any] | None:
        """Its Connect schema in JsonConverter's JSON form; None when the record carries none."""

    @property
    def schema_key(self) -> Hashable | None:
        """The schema's identity, for caches of what is compiled per schema; None without a schema."""

    def encode(self, payload: Any) -> bytes:
        """``payload`` (the masked one) in the same wire format, framing and schema as the input."""
        ...

    def reframed(self) -> bytes:
        """The input as it goes out unmasked (metadata events): the same bytes, but for a schema id, which
        becomes the target registry's."""
        ...


class Codec(Protocol):
    name: str
    forms: ValueForms

    def decode(self, data: bytes, record: RecordContext, part: Part) -> Document:
        """The document in ``data``; ``DecodeError`` (naming ``part.what``, never a value) if it is not one."""
        ...

    def close(self) -> None:
        """Release what the codec holds (a registry's HTTP sessions)."""
        ...


Convert = Callable[[Any], Any]


def variable_forms(read_unscaled: Callable[[Any], int], write_unscaled: Convert) -> tuple[Convert, Convert]:
    """(decoder, encoder) of a VariableScaleDecimal struct ``{scale, value}`` whose ``value`` a wire format
    holds as ``read_unscaled`` reads and ``write_unscaled`` writes it."""

    def decode(value: Any) -> VariableDecimal:
        if not isinstance(value, dict) or not isinstance(value.get("scale"), int):
            raise MaskingError("VariableScaleDecimal value is not a {scale, value} struct")
        return VariableDecimal(read_unscaled(value.get("value")), value["scale"])

    def encode(value: VariableDecimal) -> dict[str, Any]:
        return {"scale": value.scale, "value": write_unscaled(value.unscaled)}

    return decode, encode


class ValueForms:
    """How a wire format holds the values strategies read as plain ones. ``decoders``/``encoders`` map a
    column kind to the conversion between the wire form and the plain form: bytes (``bytes``), Decimal
    (the unscaled ``int``; the scale is the column's) and VariableScaleDecimal (``VariableDecimal``).
    Kinds absent from them are the same in both forms."""

    __slots__ = ("name", "decoders", "encoders", "empty_bytes")

    def __init__(self, name: str, decoders: dict[Kind, Convert], encoders: dict[Kind, Convert]) -> None:
        self.name = name
        self.decoders = decoders
        self.encoders = encoders
        self.empty_bytes: Any = encoders[Kind.BYTES](b"")
        """Empty bytes in this wire form (a redacted message's content)."""

    def wrap(self, column: ColumnType, transform: Transform, reads: bool = True, writes: bool = True) -> Transform:
        """``transform`` (of plain values) as a transform of wire values of ``column``. ``reads``: whether
        the strategy reads the value (``redact`` does not: a value it replaces need not be readable);
        ``writes``: whether it makes a new one (``keep`` does not: what it keeps stays byte for byte)."""
        encode = self.encoders.get(column.kind)
        if encode is None or not writes:
            return transform
        if not reads:

            def write_only(value: Any, row: RowContext) -> Any:
                out = transform(value, row)
                return None if out is None else encode(out)

            return write_only
        decode = self.decoders[column.kind]

        def converted(value: Any, row: RowContext) -> Any:
            out = transform(decode(value), row)
            return None if out is None else encode(out)

        return converted

    def __repr__(self) -> str:
        return f"ValueForms({self.name})"
