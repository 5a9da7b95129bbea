"""Records as JSON lines in the format of ``kcat -C -J`` (and back), for the offline CLI."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from streammask.errors import DecodeError
from streammask.outcome import Coordinates


@dataclass
class KcatRecord:
    """One line: the record's coordinates, key and value bytes, headers, and the fields kcat adds."""

    coordinates: Coordinates
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    extra: dict[str, Any]  # tstype, ts, broker…: copied to the output unchanged


def _text(value: Any, what: str, line_no: int) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecodeError(f"line {line_no}: `{what}` must be a string or null")
    return value.encode("utf-8", "surrogateescape")


def _int(value: Any, what: str, line_no: int) -> int:
    if value.__class__ is not int:  # not bool, float or a string: kcat writes integers
        raise DecodeError(f"line {line_no}: `{what}` must be an integer")
    return int(value)


def parse_line(line: bytes, line_no: int) -> KcatRecord:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise DecodeError(f"line {line_no}: not a JSON object") from None
    if not isinstance(doc, dict):
        raise DecodeError(f"line {line_no}: not a JSON object")
    raw_headers = doc.get("headers") or []
    if not isinstance(raw_headers, list) or len(raw_headers) % 2:
        raise DecodeError(f"line {line_no}: `headers` must be a flat [name, value, …] list")
    headers = [
        (str(raw_headers[i]), _text(raw_headers[i + 1], "headers", line_no)) for i in range(0, len(raw_headers), 2)
    ]
    extra = {k: v for k, v in doc.items() if k not in ("topic", "partition", "offset", "key", "payload", "headers")}
    return KcatRecord(
        Coordinates(
            str(doc.get("topic", "")), _int(doc.get("partition", -1), "partition", line_no),
            _int(doc.get("offset", -1), "offset", line_no),
        ),
        _text(doc.get("key"), "key", line_no),
        _text(doc.get("payload"), "payload", line_no),
        headers,
        extra,
    )


def read_records(stream: IO[bytes]) -> Iterator[tuple[int, KcatRecord | DecodeError]]:
    """Yields (line number, record or the error that line caused); blank lines are skipped."""
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield n, parse_line(line, n)
        except DecodeError as exc:
            yield n, exc


def format_line(
    where: Coordinates, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes | None]],
    extra: dict[str, Any],
) -> bytes:
    doc: dict[str, Any] = {"topic": where.topic, "partition": where.partition, "offset": where.offset, **extra}
    if headers:
        flat: list[str | None] = []
        for name, v in headers:
            flat += [name, None if v is None else v.decode("utf-8", "surrogateescape")]
        doc["headers"] = flat
    doc["key"] = None if key is None else key.decode("utf-8", "surrogateescape")
    doc["payload"] = None if value is None else value.decode("utf-8", "surrogateescape")
    return orjson.dumps(doc) + b"\n"
