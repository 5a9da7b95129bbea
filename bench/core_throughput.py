"""Throughput of the masking core alone: decode -> mask -> encode, one process, one core.

Events are Debezium PostgreSQL envelopes as JsonConverter writes them with schemas.enable=true
(~3 KB each), for a 7-column customers table with six masked columns (tokenize, replace x2,
format-preserve, shift, bucket) and one passthrough column. Keys are masked too. Target: >= 50,000
events/s on one core. Usage: python bench/core_throughput.py [--events N] [--updates] [--check]

``--format avro``: the same events (same keys and values) as Confluent's AvroConverter writes them
(magic byte 0, a 4-byte schema id, the Avro body; ~0.3 KB), the schemas in an in-process fake Schema
Registry served over HTTP (tests/fake_registry.py), read and written by ``AvroCodec``. Target: >= 60,000
events/s on one core.
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from streammask.codec.base import Codec
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.plan import CompiledPolicy
from streammask.policy import parse_policy

TARGET_EVENTS_PER_S = 50_000
TARGET_AVRO_EVENTS_PER_S = 60_000
TOPIC = "dbserver1.public.customers"

POLICY = b"""
version: 1
key: {env: BENCH_KEY, id: bench}
tables:
  public.customers:
    passthrough: [status]
    fields:
      id:         {strategy: tokenize, domain: customer_id}
      first_name: {strategy: replace, kind: first_name}
      last_name:  {strategy: replace, kind: last_name}
      email:      {strategy: format-preserve}
      birth_date: {strategy: shift, entity: id, max_days: 90}
      balance:    {strategy: bucket, step: 100}
"""

COLUMNS = [
    ("id", {"type": "int32", "optional": False}),
    ("first_name", {"type": "string", "optional": False}),
    ("last_name", {"type": "string", "optional": False}),
    ("email", {"type": "string", "optional": False}),
    ("birth_date", {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "version": 1}),
    ("balance", {"type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
                 "version": 1, "parameters": {"scale": "2", "connect.decimal.precision": "12"}}),
    ("status", {"type": "string", "optional": False}),
]

SOURCE_FIELDS = [
    ("version", "string", False), ("connector", "string", False), ("name", "string", False),
    ("ts_ms", "int64", False), ("ts_us", "int64", True), ("ts_ns", "int64", True),
    ("snapshot", "string", True), ("db", "string", False), ("sequence", "string", True),
    ("schema", "string", False), ("table", "string", False), ("txId", "int64", True),
    ("lsn", "int64", True), ("xmin", "int64", True),
]


def _struct(name: str, field: str, optional: bool) -> dict[str, Any]:
    return {"type": "struct", "fields": [{**t, "field": c} for c, t in COLUMNS], "optional": optional,
            "name": name, "field": field}


VALUE_SCHEMA = {
    "type": "struct",
    "fields": [
        _struct("dbserver1.public.customers.Value", "before", True),
        _struct("dbserver1.public.customers.Value", "after", True),
        {"type": "struct", "fields": [{"type": t, "optional": o, "field": f} for f, t, o in SOURCE_FIELDS],
         "optional": False, "name": "io.debezium.connector.postgresql.Source", "field": "source"},
        {"type": "string", "optional": False, "field": "op"},
        {"type": "int64", "optional": True, "field": "ts_ms"},
        {"type": "int64", "optional": True, "field": "ts_us"},
        {"type": "int64", "optional": True, "field": "ts_ns"},
        {"type": "struct", "fields": [{"type": "string", "optional": False, "field": "id"},
                                      {"type": "int64", "optional": False, "field": "total_order"},
                                      {"type": "int64", "optional": False, "field": "data_collection_order"}],
         "optional": True, "name": "event.block", "version": 1, "field": "transaction"},
    ],
    "optional": False,
    "name": "dbserver1.public.customers.Envelope",
    "version": 2,
}
KEY_SCHEMA = {"type": "struct", "fields": [{"type": "int32", "optional": False, "field": "id"}],
              "optional": False, "name": "dbserver1.public.customers.Key"}

def _names() -> tuple[list[str], list[str]]:
    """Input names as a real table has them: drawn from Faker's frequency-weighted en_US and de_DE
    data (a seeded Faker of its own, unrelated to the pools ``replace`` picks from)."""
    from faker import Faker

    fake = Faker(["en_US", "de_DE"])
    fake.seed_instance(20261123)
    return [fake.first_name() for _ in range(20_000)], [fake.last_name() for _ in range(20_000)]


FIRST, LAST = _names()


def _row(rng: random.Random, i: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    cents = rng.randint(0, 10_000_000)
    return {
        "id": i, "first_name": first, "last_name": last,
        "email": f"{first.lower()}.{last.lower()}{i}@mail{i % 97}.example.org",
        "birth_date": rng.randint(-10_000, 15_000),
        "balance": base64.b64encode(cents.to_bytes((cents.bit_length() + 8) // 8, "big", signed=True)).decode(),
        "status": "active",
    }


def iter_events(n: int, updates: bool, seed: int = 7, start: int = 1,
                schemas: bool = True) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of ``n`` events with primary keys ``start``..``start + n - 1``, one at a time (a large
    backlog need not sit in memory). ``schemas=False``: JsonConverter with ``schemas.enable=false`` (the
    payload alone, about 0.6 KB). With the defaults, the same bytes ``make_events`` returns."""
    rng = random.Random(seed)
    for i in range(start, start + n):
        after = _row(rng, i)
        before = dict(after, status="pending") if updates else None
        payload = {
            "before": before, "after": after,
            "source": {"version": "3.2.0.Final", "connector": "postgresql", "name": "dbserver1",
                       "ts_ms": 1_700_000_000_000 + i, "ts_us": None, "ts_ns": None, "snapshot": "false",
                       "db": "shop", "sequence": f'["{24023119 + i}","{24023128 + i}"]', "schema": "public",
                       "table": "customers", "txId": 555 + i, "lsn": 24023128 + i, "xmin": None},
            "op": "u" if updates else "c", "ts_ms": 1_700_000_000_100 + i, "ts_us": None, "ts_ns": None,
            "transaction": None,
        }
        if schemas:
            value = orjson.dumps({"schema": VALUE_SCHEMA, "payload": payload})
            key = orjson.dumps({"schema": KEY_SCHEMA, "payload": {"id": i}})
        else:
            value, key = orjson.dumps(payload), orjson.dumps({"id": i})
        yield key, value


def make_events(n: int, updates: bool, seed: int = 7) -> list[tuple[bytes, bytes]]:
    return list(iter_events(n, updates, seed))


class AvroEvents:
    """The bench events as Confluent-framed Avro, their schemas registered in an in-process fake Schema
    Registry (real HTTP on 127.0.0.1: a masker reads each schema id and registers its target subject
    once, then works from its caches). ``codec()`` makes a cold codec (new registry client, empty caches),
    as after a restart."""

    def __init__(self, events: list[tuple[bytes, bytes]]) -> None:
        import io
        import json

        from fastavro import parse_schema, schemaless_writer

        from streammask.codec.avro_schema import avro_datum_of, avro_schema_of, strip_logical_types

        root = str(Path(__file__).resolve().parents[1])
        if root not in sys.path:
            sys.path.append(root)  # tests/ is not installed; bench may borrow its fake registry
        from tests.fake_registry import FakeRegistry

        self.registry = FakeRegistry().start()
        framed: dict[str, tuple[bytes, Any]] = {}
        for part, schema in (("key", KEY_SCHEMA), ("value", VALUE_SCHEMA)):
            avro = avro_schema_of(schema)
            schema_id = self.registry.register_direct(f"{TOPIC}-{part}", json.dumps(avro))
            framed[part] = (b"\x00" + schema_id.to_bytes(4, "big"), parse_schema(strip_logical_types(avro)))

        def frame(part: str, datum: Any) -> bytes:
            head, parsed = framed[part]
            out = io.BytesIO()
            out.write(head)
            schemaless_writer(out, parsed, datum)
            return out.getvalue()

        self.events = [
            (frame("key", avro_datum_of(orjson.loads(key)["payload"], KEY_SCHEMA)),
             frame("value", avro_datum_of(orjson.loads(value)["payload"], VALUE_SCHEMA)))
            for key, value in events
        ]

    def codec(self) -> Codec:
        from streammask.codec.avro import AvroCodec
        from streammask.codec.registry import RegistryClient, RegistryConfig

        return AvroCodec(RegistryClient(RegistryConfig(url=self.registry.url)))

    def close(self) -> None:
        self.registry.stop()


def run(events: list[tuple[bytes, bytes]], masker: RecordMasker) -> float:
    mask = masker.mask
    start = time.perf_counter()
    for key, value in events:
        mask(TOPIC, key, value)
    return time.perf_counter() - start


GUARD_OFF = b"leak_guard: {enabled: false, approved_by: bench, reason: measuring its cost}\n"


def _policy(guard: bool) -> bytes:
    return POLICY if guard else POLICY + GUARD_OFF


def _masker(guard: bool, codec: Codec | None = None) -> RecordMasker:
    loaded = parse_policy(_policy(guard), "bench-policy")
    return RecordMasker(CompiledPolicy(loaded, MasterKey(b"bench-key-0123456789abcdef", "bench")), codec)


def measure(events: list[tuple[bytes, bytes]], guard: bool, codec: Callable[[], Codec] | None = None) -> float:
    """Events per second of one round with a fresh masker (cold caches, as after a restart); ``codec``
    makes its value and key codec (default: JsonConverter's)."""
    masker = _masker(guard, None if codec is None else codec())
    gc.collect()
    return len(events) / run(events, masker)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", action="store_true", help="op u with before and after (twice the rows)")
    parser.add_argument("--format", choices=("json", "avro"), default="json",
                        help="JsonConverter with schemas (default) or Confluent-framed Avro through a Schema Registry")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 below the target ({TARGET_EVENTS_PER_S} events/s for json, "
                             f"{TARGET_AVRO_EVENTS_PER_S} for avro)")
    parser.add_argument("--leak-guard", choices=("on", "off", "compare"), default="compare",
                        help="mask with the leak guard on (the default policy), off, or both in alternate rounds")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    events = make_events(args.events, args.updates)
    size = statistics.mean(len(v) for _, v in events)
    target, label, codec, avro = TARGET_EVENTS_PER_S, "", None, None
    if args.format == "avro":
        json_size = size
        avro = AvroEvents(events)
        events = avro.events
        size = statistics.mean(len(v) for _, v in events)
        key_size = statistics.mean(len(k) for k, _ in events)
        print(f"avro events: value {size:.0f} B (the same event as JSON with schema: {json_size:.0f} B), "
              f"key {key_size:.0f} B; registry {avro.registry.url}")
        target, label, codec = TARGET_AVRO_EVENTS_PER_S, " (avro)", avro.codec
    try:
        probe = _masker(True, None if codec is None else codec())
        blocked = [o for o in map(lambda kv: probe.mask(TOPIC, *kv), events[:1000]) if not hasattr(o, "value")]
        if blocked:
            print(f"benchmark events are blocked: {blocked[0]}", file=sys.stderr)
            return 2
        modes = {"on": [True], "off": [False], "compare": [True, False]}[args.leak_guard]
        rates: dict[bool, list[float]] = {guard: [] for guard in modes}
        for _ in range(args.rounds):
            for guard in modes:  # alternate, so a slower stretch of a shared machine hits both alike
                rates[guard].append(measure(events, guard, codec))
    finally:
        if avro is not None:
            avro.close()
    for guard, seen in rates.items():
        print(f"core throughput{label}, leak guard {'on' if guard else 'off'}: {len(events)} events of {size:.0f} B "
              f"({'u' if args.updates else 'c'}), 6 masked columns + key: median {statistics.median(seen):,.0f} "
              f"events/s, best {max(seen):,.0f} events/s over {args.rounds} rounds (target {target:,})")
    if len(rates) == 2:
        on, off = statistics.median(rates[True]), statistics.median(rates[False])
        print(f"leak guard cost: {100 * (1 - on / off):.1f}% of core throughput (target: at most 10%)")
    median = statistics.median(rates[modes[0]])
    return 1 if args.check and median < target else 0


if __name__ == "__main__":
    sys.exit(main())
