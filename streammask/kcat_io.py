"""Records as JSON lines in the format of ``kcat -C -J`` (and back), for the offline CLI.

A line must have the shape kcat's own writer gives it (edenhill/kcat, json.c ``fmt_msg_output_json``):
``topic``, ``partition``, ``offset``, [``tstype``, ``ts``], [``broker``], [``headers``], ``key``,
``payload``. Anything else is refused rather than guessed at: a field streammask does not know is a field
it cannot mask, and a line of another shape (kcat's ``payload_error`` line, another tool's JSON) would
otherwise pass as a tombstone. Refusal reasons name fields, never values.

**The lossless line form.** kcat holds the key and payload as JSON strings, which is exact for JSON records
but not for binary ones (Avro: a schema id and a binary body are rarely UTF-8). So a line may carry
``key_b64`` in place of ``key`` and ``payload_b64`` in place of ``payload``: the record's exact bytes in
standard base64 (RFC 4648 section 4, ``+/`` alphabet, padded, canonical), or ``null`` for a null key or value
(a tombstone). Per field it is one form or the other, never both; everything else about the line is kcat's
(same fields, same order, same strictness: an unknown field still refuses the line). Input may use either
form in any field. Output (``format_line``) uses the form its ``LineForm`` says: base64 for the parts whose
wire format is binary (``--format avro``, ``--key-format avro``), kcat's text otherwise, so JSON output is
exactly what kcat writes. Every command that writes lines (``mask``, and later ``replay``) goes through here.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from streammask.errors import DecodeError
from streammask.outcome import Coordinates, SourceRecord, Unreadable

Headers = list[tuple[str, bytes | None]]

REQUIRED_FIELDS = ("topic", "partition", "offset", "key", "payload")
OPTIONAL_FIELDS = ("tstype", "ts", "broker", "headers")
BASE64_FORMS = {"key": "key_b64", "payload": "payload_b64"}
"""The lossless form of each byte field: base64 of the exact bytes, in its place."""
TSTYPES = ("create", "logappend", "unknown")

INT32_MAX, INT64_MIN, INT64_MAX = 2**31 - 1, -(2**63), 2**63 - 1
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")  # Kafka's legal topic names: kcat prints no other
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # a field name shown in a reason; others could be data

# Fields kcat adds when it deserialises Avro (-s avro): the line no longer holds the record's bytes.
_UNDECODED = {"key_error": "key", "payload_error": "value"}
_AVRO = ("key_schema_id", "value_schema_id")


class _Refused(Exception):
    """A line that is not kcat's shape; the message names the field, never its value."""


def _unknown(names: list[str]) -> str:
    """Names plain identifiers (at most five, so the reason stays short); any other name could be data."""
    shown = [f"`{name}`" for name in names if _PLAIN_NAME.fullmatch(name)][:5]
    hidden = len(names) - len(shown)
    label = "unknown field" + ("s" if len(names) > 1 else "")
    if not shown:
        return f"{label} (names not shown: not plain identifiers)"
    return f"{label} {', '.join(shown)}" + (f" and {hidden} more (names not shown)" if hidden else "")


_KNOWN = frozenset((*REQUIRED_FIELDS, *OPTIONAL_FIELDS, *BASE64_FORMS.values()))


def _check_fields(doc: dict[str, Any]) -> None:
    """Refuses fields kcat -J does not write (most telling reason first) and missing required ones."""
    for name, side in _UNDECODED.items():
        if name in doc:
            raise _Refused(f"`{name}`: kcat could not deserialise the record's {side}, so the line does not "
                           "hold the record's bytes; consume it without -s avro")
    for name in _AVRO:
        if name in doc:
            raise _Refused(f"`{name}`: an Avro-deserialised line (kcat -s avro) holds JSON objects, not the "
                           "record's bytes; streammask mask needs raw lines (kcat -C -J without -s avro)")
    unknown = [name for name in doc if name not in _KNOWN]
    if unknown:
        raise _Refused(f"{_unknown(unknown)} (kcat -J writes only topic, partition, offset, tstype, ts, broker, "
                       "headers, key, payload)")
    missing = [name for name in REQUIRED_FIELDS if name not in doc and BASE64_FORMS.get(name) not in doc]
    if missing:
        raise _Refused(f"missing {', '.join(f'`{name}`' for name in missing)}")
    for name, b64 in BASE64_FORMS.items():
        if name in doc and b64 in doc:
            raise _Refused(f"`{name}` and `{b64}` are two forms of one field; give one")
    if ("tstype" in doc) != ("ts" in doc):
        raise _Refused("`tstype` and `ts` come together (kcat writes both or neither)")


def _int(doc: dict[str, Any], name: str, low: int, high: int) -> int:
    value = doc[name]
    if value.__class__ is not int or not low <= value <= high:  # not bool, float or string: kcat writes integers
        raise _Refused(f"`{name}` must be an integer from {low} to {high}")
    return int(value)


def _text(value: Any, what: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refused(f"{what} must be a string or null")
    return value.encode("utf-8", "surrogateescape")


def _base64(value: Any, what: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refused(f"{what} must be a base64 string or null")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        data = None
    if data is None or base64.b64encode(data) != value.encode("ascii"):  # canonical only: one line, one text
        raise _Refused(f"{what} is not canonical base64 (RFC 4648 standard alphabet, padded)")
    return data


def _bytes_field(doc: dict[str, Any], name: str) -> bytes | None:
    """A byte field in whichever form the line holds it (``_check_fields`` made sure there is one)."""
    if name in doc:
        return _text(doc[name], f"`{name}`")
    b64 = BASE64_FORMS[name]
    return _base64(doc[b64], f"`{b64}`")


def _headers(raw: Any) -> Headers:
    if isinstance(raw, dict):
        raise _Refused("`headers` is an object (kcat's header map form); streammask reads only the flat "
                       "[name, value, …] list")
    if not isinstance(raw, list) or len(raw) % 2:
        raise _Refused("`headers` must be a flat [name, value, …] list of even length")
    names, values = raw[::2], raw[1::2]
    if not all(isinstance(name, str) for name in names):
        raise _Refused("`headers` names must be strings")
    return [(name, _text(value, "`headers` values")) for name, value in zip(names, values, strict=True)]


def _record(doc: dict[str, Any]) -> SourceRecord:
    _check_fields(doc)
    topic = doc["topic"]
    if not isinstance(topic, str) or not _TOPIC.fullmatch(topic) or topic in (".", ".."):
        raise _Refused("`topic` must be a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')")
    where = Coordinates(topic, _int(doc, "partition", 0, INT32_MAX), _int(doc, "offset", 0, INT64_MAX))
    tstype = doc.get("tstype")
    if "tstype" in doc and tstype not in TSTYPES:
        raise _Refused(f"`tstype` must be one of {', '.join(TSTYPES)}")
    return SourceRecord(
        where,
        _bytes_field(doc, "key"),
        _bytes_field(doc, "payload"),
        _headers(doc["headers"]) if "headers" in doc else [],
        tstype,
        _int(doc, "ts", INT64_MIN, INT64_MAX) if "ts" in doc else None,
        _int(doc, "broker", -1, INT32_MAX) if "broker" in doc else None,
    )


def parse_line(line: bytes, line_no: int) -> SourceRecord:
    """The record of one ``kcat -C -J`` line; ``DecodeError`` (naming a field, never a value) otherwise."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise DecodeError(f"line {line_no}: not a JSON object") from None
    if not isinstance(doc, dict):
        raise DecodeError(f"line {line_no}: not a JSON object")
    try:
        return _record(doc)
    except _Refused as exc:
        raise DecodeError(f"line {line_no}: {exc}") from None


def read_records(stream: IO[bytes]) -> Iterator[tuple[int, SourceRecord | DecodeError]]:
    """Yields (line number, record or the error that line caused); blank lines are skipped."""
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield n, parse_line(line, n)
        except DecodeError as exc:
            yield n, exc


def line_source(stream: IO[bytes]) -> Iterator[SourceRecord | Unreadable]:
    """The records of kcat -J lines; a line that is not one is ``Unreadable`` at ``<input line N>``."""
    for n, item in read_records(stream):
        yield Unreadable(line_coordinates(n), str(item)) if isinstance(item, DecodeError) else item


def line_coordinates(line_no: int) -> Coordinates:
    """Where an input line's problem is reported (audit, logs): it has no Kafka coordinates of its own."""
    return Coordinates(f"<input line {line_no}>", -1, -1)


@dataclass(frozen=True)
class LineForm:
    """How ``format_line`` writes the key and the payload: kcat's text (``key``/``payload``) or the lossless
    base64 form (``key_b64``/``payload_b64``)."""

    key_b64: bool = False
    payload_b64: bool = False

    @classmethod
    def for_formats(cls, value_format: str, key_format: str | None = None) -> LineForm:
        """Base64 for each part whose wire format is binary (Avro), text for JSON."""
        return cls(key_b64=(key_format or value_format) == "avro", payload_b64=value_format == "avro")


KCAT = LineForm()
"""kcat's own form: key and payload as text."""


def _str(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "surrogateescape")


def _b64str(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def format_line(
    record: SourceRecord, key: bytes | None, value: bytes | None, headers: Headers, form: LineForm = KCAT,
    where: Coordinates | None = None,
) -> bytes:
    """The output line: the record's coordinates (or ``where``) and kcat fields with the given (masked) key,
    value and headers, in kcat's field order, key and payload in ``form``. Built from the typed record, so no
    field of the input line is copied."""
    where = where or record.coordinates
    doc: dict[str, Any] = {"topic": where.topic, "partition": where.partition, "offset": where.offset}
    if record.tstype is not None and record.ts is not None:
        doc["tstype"], doc["ts"] = record.tstype, record.ts
    if record.broker is not None:
        doc["broker"] = record.broker
    if headers:
        doc["headers"] = [item for name, v in headers for item in (name, _str(v))]
    if form.key_b64:
        doc["key_b64"] = _b64str(key)
    else:
        doc["key"] = _str(key)
    if form.payload_b64:
        doc["payload_b64"] = _b64str(value)
    else:
        doc["payload"] = _str(value)
    return orjson.dumps(doc) + b"\n"
