"""``streammask demo``: a local broker, realistic Debezium events for a customers/orders schema, the
proxy masking them into staging topics, then a before/after sample, the audit and the metrics."""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import decimal
import logging
import os
import secrets
import threading
import time
import urllib.request
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer

from streammask.bootstrap import open_masker
from streammask.kcat_io import read_records
from streammask.pipeline import SOURCE_HEADERS
from streammask.proxy.clients import admin, ensure_topics, source_record
from streammask.proxy.config import KafkaProps, ProxyConfig
from streammask.proxy.http import Health, MetricsServer
from streammask.proxy.local_broker import LocalBroker, free_port
from streammask.proxy.metrics import Metrics
from streammask.proxy.runner import Proxy

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "customers.jsonl"
POLICY = REPO / "policies" / "ecommerce.yaml"


_client_log = logging.getLogger("streammask.librdkafka.demo")
SOURCE_ROUTE = r"[^.]+\.(.*)"  # <server>.<schema>.<table> -> staging.<schema>.<table>


def _staging(topic: str) -> str:
    return "staging." + topic.split(".", 1)[1]


def _load_examples(path: Path) -> list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes | None]]]]:
    with open(path, "rb") as f:
        return [
            (r.coordinates.topic, r.key, r.value, r.headers) for _, r in read_records(f) if not isinstance(r, Exception)
        ]


def _after_row(value: bytes | None) -> dict[str, str]:
    """The ``after`` row of a JsonConverter event, each value as a person reads it (dates and timestamps in
    ISO form, decimals with their scale), from the event's Connect schema."""
    if not value:
        return {}
    doc = orjson.loads(value)
    payload = doc.get("payload", doc)
    row = payload.get("after") or {}
    schema = doc.get("schema") or {}
    fields: list[dict[str, object]] = next(
        (f.get("fields", []) for f in schema.get("fields", []) if f.get("field") == "after"), [])
    types = {f.get("field"): f for f in fields}
    return {column: readable(v, types.get(column, {})) for column, v in row.items()}


def readable(value: object, field: dict[str, object]) -> str:
    """One value of a Connect field as a person reads it."""
    if value is None:
        return "null"
    name = field.get("name")
    try:
        if name in ("io.debezium.time.Date", "org.apache.kafka.connect.data.Date") and isinstance(value, int):
            return (dt.date(1970, 1, 1) + dt.timedelta(days=value)).isoformat()
        unit = {"io.debezium.time.Timestamp": 1_000, "org.apache.kafka.connect.data.Timestamp": 1_000,
                "io.debezium.time.MicroTimestamp": 1_000_000, "io.debezium.time.NanoTimestamp": 1_000_000_000}
        if isinstance(name, str) and name in unit and isinstance(value, int):
            moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=value * 1_000_000 // unit[name])
            return moment.isoformat(sep=" ")
        if name == "org.apache.kafka.connect.data.Decimal" and isinstance(value, str):
            params = field.get("parameters")
            scale = int(params.get("scale", 0)) if isinstance(params, dict) else 0
            unscaled = int.from_bytes(base64.b64decode(value), "big", signed=True)
            return str(decimal.Decimal(unscaled).scaleb(-scale))
    except (ValueError, OverflowError, binascii.Error):
        pass
    return str(value)


def cmd_demo(args: argparse.Namespace) -> int:
    if os.environ.get("STREAMMASK_KEY"):
        key_note = "the key from STREAMMASK_KEY: the same pseudonyms every run"
    else:
        os.environ["STREAMMASK_KEY"] = secrets.token_hex(32)  # a throwaway key for the demo only
        key_note = "a random key for this run (set STREAMMASK_KEY for the same pseudonyms every run)"
    print(f"masking with {key_note}")
    events = _load_examples(EXAMPLES)
    topics = sorted({t for t, *_ in events})
    print(f"starting a local broker and loading {len(events)} Debezium events into {', '.join(topics)}")
    with LocalBroker() as broker:
        props: KafkaProps = {"bootstrap.servers": broker.bootstrap}
        no_config: dict[str, str] = {}
        wanted = {t: (3, no_config) for t in topics} | {_staging(t): (3, no_config) for t in topics}
        ensure_topics(admin(props), wanted)
        producer = Producer({**props, "logger": _client_log})
        for topic, key, value, headers in events:
            producer.produce(topic, key=key, value=value, headers=list(headers))
        producer.flush(30)
        config = ProxyConfig.model_validate(
            {
                "source": {**props, "session.timeout.ms": 6000},
                "topics": topics,
                "routing": [{"match": SOURCE_ROUTE, "to": r"staging.\1"}],
                "policy": str(POLICY),
                "instance_id": "demo-1",
                "batch": {"max_records": 20, "max_ms": 200},
                "metrics": {"host": "127.0.0.1", "port": args.metrics_port or free_port()},
            }
        )
        setup = open_masker(POLICY)
        metrics, health = Metrics(), Health()
        server = MetricsServer(config.metrics.host, config.metrics.port, metrics.registry, health,
                               "--metrics-port")
        server.start()
        proxy = Proxy(config, setup, metrics, health)
        proxy.prepare()
        stop = threading.Event()
        thread = threading.Thread(target=proxy.run, args=(stop,), daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(
            s.value for m in metrics.records_in.collect() for s in m.samples if s.name.endswith("_total")
        ) < len(events):
            time.sleep(0.2)
        time.sleep(0.5)
        url = f"http://127.0.0.1:{server.port}/metrics"
        metric_lines = [
            line
            for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines()
            if line.startswith(
                ("streammask_records_", "streammask_transactions_total", "streammask_values_masked_total")
            )
            and "_created" not in line
        ]
        stop.set()
        thread.join(30)
        read = _consume_all(broker.bootstrap, topics + [_staging(t) for t in topics] + [config.audit_topic])
        server.stop()
    _print_report(read, topics, config.audit_topic, metric_lines)
    return 0


Record = tuple[bytes | None, bytes | None, dict[str, bytes]]


def _consume_all(bootstrap: str, topics: list[str]) -> dict[str, list[Record]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"demo-reader-{secrets.token_hex(4)}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "isolation.level": "read_committed",
            "logger": _client_log,
        }
    )
    consumer.subscribe(topics)
    out: dict[str, list[Record]] = {t: [] for t in topics}
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 4:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        headers = {k: v for k, v in source_record(msg).headers if v is not None}
        headers["@coordinates"] = f"{msg.topic()}/{msg.partition()}/{msg.offset()}".encode()
        out[str(msg.topic())].append((msg.key(), msg.value(), headers))
        idle_since = time.monotonic()
    consumer.close()
    return out


def _print_report(
    read: dict[str, list[Record]], sources: list[str], audit_topic: str, metric_lines: list[str]
) -> None:
    """For the first row of each table: the source row and the masked row made from it (paired by the
    streammask.source.* headers the proxy puts on every output record)."""
    masked_by_source: dict[bytes, Record] = {}
    for topic, records in read.items():
        if topic in sources or topic == audit_topic:
            continue
        for rec in records:
            h = rec[2]
            coords = b"/".join(h.get(k, b"?") for k in SOURCE_HEADERS)
            masked_by_source[coords] = rec
    print("\nbefore -> after (first row of each table, paired by the streammask.source.* headers):")
    for topic in sources:
        for _key, value, headers in read.get(topic, []):
            before = _after_row(value)
            twin = masked_by_source.get(headers["@coordinates"])
            if not before or twin is None:
                continue
            after = _after_row(twin[1])
            print(f"\n  {topic} -> {_staging(topic)}")
            for column, v in before.items():
                mark = "  " if after.get(column) == v else "=>"
                print(f"    {column:<16} {str(v)[:34]:<36}{mark} {str(after.get(column))[:34]}")
            break
    audits = [orjson.loads(v) for _, v, _ in read.get(audit_topic, []) if v]
    print(f"\naudit topic {audit_topic}: {len(audits)} transaction record(s)")
    if audits:
        total = {k: sum(a["records"][k] for a in audits) for k in ("in", "out", "blocked")}
        print(
            f"  records {total}; policy sha256 {audits[0]['policy_sha256'][:12]}…, key id {audits[0]['key_id']}; "
            f"hash chain {audits[0]['prev_hash'][:8]}… -> {audits[-1]['hash'][:8]}…"
        )
    print("\nmetrics, as /metrics served them during the run (`streammask run` serves /metrics, /healthz and "
          "/readyz on metrics.port); a few of them:")
    for line in metric_lines[:14]:
        print(f"  {line}")
