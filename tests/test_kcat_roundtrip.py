"""Round trip through a real Kafka-protocol broker with the real kcat: the JSON lines ``streammask mask``
reads and writes are exactly ``kcat -C -J``'s, and its output can be produced back with ``kcat -P``.

    fixtures --kcat -P--> source topic --kcat -C -J--> streammask mask --kcat -P--> target topic --kcat -C -J--> check

The broker is the session's ``kafka_broker`` (tests/broker.py). Tombstones are not produced: the test
broker does not deliver records with a null value.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from test_cli import (
    KEY_HEX,
    PLANTED_SSN,
    POLICY,
    explain,
    fixture_records,
    payload_of,
    sensitive_values,
    unclassified_column_record,
)

from tests.broker import Kcat, create_topic, unique_topic

KCAT_FIELDS = {"topic", "partition", "offset", "tstype", "ts", "broker", "key", "payload"}


def produce_line_delimited(kcat: Kcat, bootstrap: str, topic: str, records: list[dict[str, Any]]) -> None:
    """``kcat -P -K'|'``: one record per line, key and value split at the first '|'."""
    lines = []
    for r in records:
        assert r["key"] is not None and r["payload"] is not None and not r.get("headers")
        assert "|" not in r["key"] and "\n" not in r["key"] + r["payload"]
        lines.append(f"{r['key']}|{r['payload']}")
    kcat.run("-P", "-b", bootstrap, "-t", topic, "-p", "0", "-K", "|", input="\n".join(lines).encode() + b"\n")


def produce_one(kcat: Kcat, bootstrap: str, topic: str, record: dict[str, Any], scratch: Path) -> None:
    """``kcat -P [-k KEY] [-H name=value …] FILE``: the file's bytes are the value, exactly."""
    assert record["payload"] is not None, "the test broker does not deliver null values"
    value_file = scratch / f"value-{unique_topic('v')}.json"
    value_file.write_bytes(record["payload"].encode())
    args: list[str | Path] = ["-P", "-b", bootstrap, "-t", topic, "-p", "0"]
    if record.get("key") is not None:
        args += ["-k", record["key"]]
    headers = record.get("headers") or []
    for name, value in zip(headers[::2], headers[1::2], strict=True):
        assert value is not None and "=" not in name
        args += ["-H", f"{name}={value}"]
    kcat.run(*args, value_file)


def consume_all(kcat: Kcat, bootstrap: str, topic: str, expected: int) -> tuple[bytes, list[dict[str, Any]]]:
    """``kcat -C -J -e -o beginning``: every record of the topic, as kcat prints them."""
    proc = kcat.run("-C", "-J", "-q", "-e", "-b", bootstrap, "-t", topic, "-o", "beginning", timeout_s=60)
    lines = [orjson.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == expected, f"{topic}: expected {expected} records, kcat printed {len(lines)}:\n{proc.stdout!r}"
    return proc.stdout, lines


def test_kcat_roundtrip_through_a_real_broker(kafka_broker: str, kcat: Kcat, tmp_path: Path) -> None:
    if kcat.note:
        print(f"kcat: {kcat.note} ({kcat.librdkafka})")
    source, target = unique_topic("dbserver1.public.customers"), unique_topic("masked.public.customers")
    create_topic(kafka_broker, source)
    create_topic(kafka_broker, target)

    # 1. The shared fixtures into the source topic, in order: create, update (with headers), delete, a
    #    record with an unclassified column, truncate (null key). No tombstone (see module docstring).
    fixtures = fixture_records()
    create, update, delete, _tombstone, truncate = fixtures
    produce_line_delimited(kcat, kafka_broker, source, [create])
    produce_one(kcat, kafka_broker, source, update, tmp_path)
    produce_line_delimited(kcat, kafka_broker, source, [delete, unclassified_column_record(3)])
    produce_one(kcat, kafka_broker, source, truncate, tmp_path)
    sent = [create, update, delete, unclassified_column_record(3), truncate]

    # 2. Consume them back as kcat -J lines: kcat's real format carries what we put in, byte for byte.
    raw_in, consumed = consume_all(kcat, kafka_broker, source, expected=len(sent))
    for offset, (line, original) in enumerate(zip(consumed, sent, strict=True)):
        assert KCAT_FIELDS <= set(line) <= KCAT_FIELDS | {"headers"}, line.keys()
        assert (line["topic"], line["partition"], line["offset"]) == (source, 0, offset)
        assert line["tstype"] == "create" and isinstance(line["ts"], int)
        assert line["key"] == original["key"] and line["payload"] == original["payload"]
        assert line.get("headers") == original.get("headers")

    # 3. Mask them with the CLI, fed kcat's output unchanged.
    env = {**os.environ, "STREAMMASK_KEY": KEY_HEX}
    audit_path = tmp_path / "audit.json"
    proc = subprocess.run(
        [sys.executable, "-m", "streammask", "mask", "--policy", str(POLICY), "--audit", str(audit_path)],
        input=raw_in, capture_output=True, env=env, timeout=60,
    )
    assert proc.returncode == 1, explain(proc)  # the record with the unclassified column is blocked
    masked = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert [m["offset"] for m in masked] == [0, 1, 2, 4]
    audit = orjson.loads(audit_path.read_bytes())
    assert audit["records"] == {"in": 5, "out": 4, "blocked": 1}
    assert audit["blocked"][0]["topic"] == source and audit["blocked"][0]["offset"] == 3
    for m, c in zip(masked, [consumed[i] for i in (0, 1, 2, 4)], strict=True):
        for field in ("topic", "partition", "offset", "tstype", "ts", "broker"):
            assert m[field] == c[field]

    # Masking kcat's real lines gives exactly what masking our hand-built kcat lines gives (test_cli's
    # format is kcat's format), apart from the coordinates kcat added.
    offline = subprocess.run(
        [sys.executable, "-m", "streammask", "mask", "--policy", str(POLICY)],
        input=b"".join(orjson.dumps(r) + b"\n" for r in sent), capture_output=True, env=env, timeout=60,
    )
    offline_lines = [orjson.loads(line) for line in offline.stdout.splitlines()]
    assert [(m["key"], m["payload"], m.get("headers")) for m in masked] == [
        (m["key"], m["payload"], m.get("headers")) for m in offline_lines
    ]

    # 4. Produce the masked lines to the target topic with kcat -P, consume them again.
    for m in masked:
        produce_one(kcat, kafka_broker, target, m, tmp_path)
    raw_out, delivered = consume_all(kcat, kafka_broker, target, expected=len(masked))

    # 5. The target holds the masked records, exactly, and none of the originals' personal data.
    for offset, (line, m) in enumerate(zip(delivered, masked, strict=True)):
        assert (line["topic"], line["offset"]) == (target, offset)
        assert line["key"] == m["key"] and line["payload"] == m["payload"]
        assert line.get("headers") == m.get("headers")
    text = raw_out.decode()
    assert PLANTED_SSN not in text
    for value in sensitive_values():
        if len(value) > 4:
            assert value not in text, value
    names = [payload_of(line)["after"] for line in delivered[:2]]
    for after, original in zip(names, [payload_of(create)["after"], payload_of(update)["after"]], strict=True):
        assert after["first_name"] != original["first_name"] and after["last_name"] != original["last_name"]
        assert after["email"] != original["email"] and after["email"].endswith("@noanswer.org")
    assert delivered[1]["headers"][:2] == ["__debezium.context.connectorName", "postgresql"]
    assert "x-trace-id" not in delivered[1]["headers"]


def test_broker_serves_several_partitions(kafka_broker: str, kcat: Kcat) -> None:
    """The fixture's broker is a usable Kafka: a multi-partition topic keeps per-partition order."""
    topic, partitions = unique_topic("multi"), 3
    create_topic(kafka_broker, topic, partitions=partitions)
    for p in range(partitions):
        data = f"k{p}|v{p}-0\nk{p}|v{p}-1\n".encode()
        kcat.run("-P", "-b", kafka_broker, "-t", topic, "-p", str(p), "-K", "|", input=data)
    _, consumed = consume_all(kcat, kafka_broker, topic, expected=2 * partitions)
    by_partition: dict[int, list[str]] = {}
    for line in consumed:
        by_partition.setdefault(line["partition"], []).append(line["payload"])
    assert by_partition == {p: [f"v{p}-0", f"v{p}-1"] for p in range(partitions)}
