"""The streaming proxy end to end: ``streammask run --config FILE`` as a subprocess against a real
Kafka-protocol broker (the session's Tansu, tests/broker.py), the way users run it.

What the local broker cannot carry (tombstones, aborted transactions hidden from ``read_committed``
readers) is tested at the end of this file against a full Kafka only (``STREAMMASK_TEST_BOOTSTRAP``),
and at processor level elsewhere. Because Tansu shows records of aborted transactions to
``read_committed`` readers, every test here that kills the proxy accepts duplicates, but only
byte-identical ones (key, value and headers equal to the first copy).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from test_cli import (
    PLANTED_IBAN,
    PLANTED_PAYEE,
    PLANTED_SSN,
    fixture_records,
    sensitive_values,
    unclassified_column_record,
    unknown_table_record,
)

from streammask.keys import MasterKey
from streammask.outcome import Masked
from streammask.proxy import checkpoint
from streammask.proxy.audit_record import GENESIS, verify_chain
from streammask.proxy.clients import KafkaClients
from streammask.proxy.config import ProxyConfig
from tests import events as ev
from tests.broker import LocalKafkaBroker, create_topic, free_port, unique_topic
from tests.proxy_harness import (
    KEY_HEX,
    POLICY,
    REPO,
    Record,
    SourceRecord,
    StreamProducer,
    audit_records,
    check_duplicates_identical,
    cli,
    customer_events,
    distinct_sources,
    example_records,
    expected_headers,
    lag_table,
    masked_values,
    offline_mask,
    parse_metrics,
    poll_until,
    produce,
    proxy_config,
    read_topic,
    read_until,
    run_proxy,
    sensitive_strings,
    wait_for,
    write_config,
)

AUDIT_SCHEMA = orjson.loads((REPO / "schemas" / "audit-record.schema.json").read_bytes())
FINGERPRINT = MasterKey(bytes.fromhex(KEY_HEX), "2026q4").fingerprint  # of the key every run here gets
README = (REPO / "README.md").read_text()
START_S = 90.0  # generous: 2 shared cores, a group join on Tansu takes ~session.timeout.ms / 2
DRAIN_S = 120.0


def metric_names_in_readme() -> list[str]:
    table = README[README.index("| metric | type |"):]
    names = re.findall(r"^\| `(streammask_[a-z_]+)` \|", table, re.MULTILINE)
    assert len(names) >= 10, "the README's metrics table moved or changed format"
    return names


def lag_gauges(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> dict[tuple[str, str], float]:
    """``streammask_consumer_lag`` by (topic, partition)."""
    return {(dict(ls)["topic"], dict(ls)["partition"]): v for (n, ls), v in metrics.items()
            if n == "streammask_consumer_lag"}


def route_for(prefix_src: str, prefix_out: str) -> tuple[str, str]:
    """``<src>.<rest>`` -> ``<out>.<rest>``."""
    return rf"{re.escape(prefix_src)}\.(.*)", prefix_out + r".\1"


def as_kcat_line(topic: str, partition: int, offset: int, r: SourceRecord) -> bytes:
    headers: list[str | None] = []
    for name, value in r.headers:
        headers += [name, None if value is None else value.decode()]
    return orjson.dumps({
        "topic": topic, "partition": partition, "offset": offset, "tstype": "create", "ts": 1, "broker": 0,
        "headers": headers, "key": None if r.key is None else r.key.decode(),
        "payload": None if r.value is None else r.value.decode(),
    }) + b"\n"


def cli_reference(
    policy: Path, placed: dict[tuple[str, int, int], SourceRecord]
) -> tuple[int, dict[tuple[str, int, int], dict[str, Any]], bytes]:
    """``streammask mask`` (the offline CLI) on the same records at the same coordinates: exit code,
    masked lines by coordinates, stderr."""
    proc = cli("mask", "--policy", str(policy), input_bytes=b"".join(
        as_kcat_line(t, p, o, r) for (t, p, o), r in sorted(placed.items())
    ))
    masked = {(d["topic"], d["partition"], d["offset"]): d for d in map(orjson.loads, proc.stdout.splitlines())}
    return proc.returncode, masked, proc.stderr


def place(records: Sequence[SourceRecord], topic: str, partitions: int) -> dict[tuple[str, int, int], SourceRecord]:
    """The coordinates each record gets when produced in order to a fresh topic."""
    next_offset = [0] * partitions
    out = {}
    for r in records:
        p = r.partition or 0
        out[(topic, p, next_offset[p])] = r
        next_offset[p] += 1
    return out


def table_and_op(r: SourceRecord) -> tuple[str, str] | None:
    if r.value is None:
        return None
    doc = orjson.loads(r.value)
    payload = doc["payload"] if "schema" in doc and "payload" in doc else doc
    source = payload.get("source") or {}
    if payload.get("op") not in ("c", "u", "d", "r", "t"):
        return None
    return f"{source.get('schema') or source.get('db')}.{source['table']}", payload["op"]


def all_output_bytes(records: Sequence[Record]) -> bytes:
    parts: list[bytes] = []
    for r in records:
        parts += [r.key or b"", r.value or b""]
        for name, value in r.headers:
            parts += [name.encode(), value or b""]
    return b"\n".join(parts)


def assert_no_leak(haystacks: dict[str, bytes], secrets: set[str]) -> None:
    for where, data in haystacks.items():
        leaked = sorted(s for s in secrets if s.encode() in data)
        assert not leaked, f"raw values of masked columns in {where}: {leaked[:5]}"


# -- the policy with the example tables plus every column type of tests/events.py --------------------


ITEM_ID = ev.col("id", "int32", False)


def all_types_policy(directory: Path) -> Path:
    doc = yaml.safe_load(POLICY.read_text())
    doc["tables"]["public.items"] = {
        "passthrough": ["id"],
        "fields": {c.id: dict(c.strategy) for c in ev.ALL_TYPES},
    }
    path = directory / "policy-all-types.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def all_types_events(n_rows: int = 3) -> list[SourceRecord]:
    """public.items rows holding one column of every type: create, update, delete per row (with schema)."""
    fields = [ITEM_ID, *(c.field(c.id) for c in ev.ALL_TYPES)]
    out = []
    for i in range(n_rows):
        rid = 7000 + i
        first = {"id": rid, **{c.id: c.samples[0] for c in ev.ALL_TYPES}}
        second = {"id": rid, **{c.id: c.samples[1] for c in ev.ALL_TYPES}}
        key = ev.key([ITEM_ID], {"id": rid}, table="items")
        for before, after, op in ((None, first, "c"), (first, second, "u"), (second, None, "d")):
            out.append(SourceRecord(key, ev.envelope(fields, before, after, op, table="items", tx_id=900 + i)))
    return out


def fixture_source_records() -> list[SourceRecord]:
    """The shared Debezium fixtures (create, update with headers, delete, truncate); no tombstone."""
    out = []
    for line in fixture_records():
        if line["payload"] is None:
            continue
        flat = line.get("headers") or []
        headers = [(n, None if v is None else v.encode()) for n, v in zip(flat[::2], flat[1::2], strict=True)]
        out.append(SourceRecord(None if line["key"] is None else line["key"].encode(), line["payload"].encode(),
                                headers))
    return out


# -- one end-to-end run, shared by the tests that inspect it ------------------------------------------


@dataclass
class EndToEnd:
    bootstrap: str
    policy: Path
    config: dict[str, Any]
    placed: dict[tuple[str, int, int], SourceRecord]
    output: list[Record]
    output_topics: list[str]
    audit: list[dict[str, Any]]
    audit_raw: list[Record]
    metrics_text: str
    metrics: dict[tuple[str, frozenset[tuple[str, str]]], float]
    health: dict[str, int]
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def e2e(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory) -> EndToEnd:
    """Three source topics (the shared fixtures; examples/customers.jsonl over 3 partitions, one table
    per partition; every column type), one proxy run until all is committed, then SIGTERM."""
    directory = tmp_path_factory.mktemp("e2e")
    policy = all_types_policy(directory)
    run = unique_topic("src")
    out = run.replace("src-", "out-")
    layout = {
        f"{run}.fixtures": (1, fixture_source_records()),
        f"{run}.examples": (3, [
            SourceRecord(r.key, r.value, r.headers, partition={"customers": 0, "addresses": 1, "orders": 2}[
                (table_and_op(r) or ("public.customers", ""))[0].split(".")[1]])
            for r in example_records()
        ]),
        f"{run}.items": (1, all_types_events()),
    }
    placed: dict[tuple[str, int, int], SourceRecord] = {}
    for topic, (partitions, records) in layout.items():
        create_topic(kafka_broker, topic, partitions)
        create_topic(kafka_broker, topic.replace(run, out), 3)
        produce(kafka_broker, topic, records)
        placed |= place(records, topic, partitions)
    doc = proxy_config(kafka_broker, list(layout), [route_for(run, out)], policy=policy, max_records=7, max_ms=150)
    with run_proxy(directory, doc) as proxy:
        proxy.wait_ready(START_S)
        proxy.wait_metric("streammask_records_in_total", len(placed), DRAIN_S)
        # the lag gauge comes from librdkafka's statistics (every 5 s): give it two rounds after the drain
        poll_until(lambda: lag_gauges(proxy.metrics()) and set(lag_gauges(proxy.metrics()).values()) == {0.0}, 12)
        status, text = proxy.get("/metrics")
        health = {path: proxy.get(path)[0] for path in ("/healthz", "/readyz", "/nothing-here")}
        exit_code = proxy.terminate()
        stdout, stderr = proxy.stdout(), proxy.stderr()
    output_topics = [t.replace(run, out) for t in layout]
    output = [r for t in output_topics for r in read_topic(kafka_broker, t)]
    audit_raw = read_topic(kafka_broker, doc["audit_topic"])
    return EndToEnd(
        kafka_broker, policy, doc, placed, output, output_topics, [orjson.loads(r.value or b"{}") for r in audit_raw],
        audit_raw, text, parse_metrics(text), health, exit_code, stdout, stderr,
    )


def test_every_output_record_is_the_offline_masked_twin_of_a_source_record(e2e: EndToEnd) -> None:
    """Requirement 1: byte-identical key, value and headers to ``streammask mask`` on the same input, the
    source coordinates in headers, every source record exactly once, no raw value anywhere."""
    code, reference, ref_stderr = cli_reference(e2e.policy, e2e.placed)
    assert code == 0, ref_stderr.decode()[-2000:]
    assert set(reference) == set(e2e.placed), "the offline masker blocked a record: the inputs are wrong"

    by_source: dict[tuple[str, int, int], list[Record]] = defaultdict(list)
    for r in e2e.output:
        by_source[r.source].append(r)
    missing, unexpected = set(e2e.placed) - set(by_source), set(by_source) - set(e2e.placed)
    assert not missing and not unexpected, f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
    duplicated = {s: len(rs) for s, rs in by_source.items() if len(rs) > 1}
    assert not duplicated, f"a clean run (no abort) produced duplicates: {duplicated}"

    for source, [r] in by_source.items():
        ref = reference[source]
        assert r.key == (None if ref["key"] is None else ref["key"].encode()), source
        assert r.value == ref["payload"].encode(), source
        flat = ref.get("headers") or []
        ref_headers = [(n, None if v is None else v.encode()) for n, v in zip(flat[::2], flat[1::2], strict=True)]
        topic, partition, offset = source
        assert list(r.headers) == [
            *ref_headers,
            ("streammask.source.topic", topic.encode()),
            ("streammask.source.partition", str(partition).encode()),
            ("streammask.source.offset", str(offset).encode()),
        ], source
        assert r.topic == e2e.output_topics[[t.split(".")[-1] for t in e2e.output_topics].index(topic.split(".")[-1])]
        if (table_and_op(e2e.placed[source]) or ("", ""))[1] in ("c", "u", "d", "r"):
            assert r.value != e2e.placed[source].value, f"{source}: row event passed unchanged"

    # partitioning: key: all records of one (masked) key in one target partition, in source order
    partitions_of: dict[tuple[str, bytes | None], set[int]] = defaultdict(set)
    order: dict[tuple[str, bytes | None], list[tuple[int, int]]] = defaultdict(list)
    for r in sorted(e2e.output, key=lambda r: (r.topic, r.partition, r.offset)):
        partitions_of[(r.topic, r.key)].add(r.partition)
        order[(r.topic, r.key)].append((r.source[1], r.source[2]))
    assert all(len(ps) == 1 for ps in partitions_of.values()), "one key spread over several target partitions"
    for key, seq in order.items():
        assert seq == sorted(seq), f"records of key {key!r} out of source order"
    assert len({r.partition for r in e2e.output if r.topic.endswith(".examples")}) > 1, "every key in one partition"

    # each record's own masked values (5+ characters) are absent from its masked twin…
    policy_doc = yaml.safe_load(e2e.policy.read_text())
    for source, [r] in by_source.items():
        own = masked_values(e2e.placed[source], policy_doc, min_len=5)
        assert_no_leak({f"the masked twin of {source}": all_output_bytes([r])}, own)
    # …and distinctive ones (8+) from every byte the proxy wrote: output, audit, logs, metrics
    secrets = sensitive_strings(list(e2e.placed.values()), e2e.policy) | {
        v for v in sensitive_values() if len(v) >= 8
    }
    assert {"Kretchmar", "annek@noanswer.org", "call after 6pm, ask for Anne", "123-45-6789"} <= secrets
    assert_no_leak({
        "output records": all_output_bytes(e2e.output),
        "audit topic": all_output_bytes(e2e.audit_raw),
        "proxy stdout": e2e.stdout.encode(),
        "proxy stderr": e2e.stderr.encode(),
        "metrics": e2e.metrics_text.encode(),
    }, secrets)


def test_audit_topic_accounts_for_every_source_record(e2e: EndToEnd) -> None:
    """Requirement 2: counts equal what was consumed, per table and op; source ranges cover every offset
    exactly once; the hash chain verifies; every record validates against the schema; no values."""
    assert e2e.audit, "no audit record"
    validator = jsonschema.Draft202012Validator(AUDIT_SCHEMA, format_checker=jsonschema.FormatChecker())
    for rec in e2e.audit:
        errors = sorted(str(e.message) for e in validator.iter_errors(rec))
        assert not errors, errors
    assert all(r.key == e2e.config["instance_id"].encode() for r in e2e.audit_raw)

    assert sum(a["records"]["in"] for a in e2e.audit) == len(e2e.placed)
    assert sum(a["records"]["out"] for a in e2e.audit) == len(e2e.placed)
    assert sum(a["records"]["blocked"] for a in e2e.audit) == 0

    expected_ops: Counter[tuple[str, str]] = Counter(filter(None, map(table_and_op, e2e.placed.values())))
    audited_ops: Counter[tuple[str, str]] = Counter()
    for a in e2e.audit:
        for table, t in a["tables"].items():
            for op, n in t["ops"].items():
                audited_ops[(table, op)] += n
    assert audited_ops == expected_ops

    covered: Counter[tuple[str, int, int]] = Counter()
    for a in e2e.audit:
        for rng in a["source_ranges"]:
            for offset in range(rng["first_offset"], rng["last_offset"] + 1):
                covered[(rng["topic"], rng["partition"], offset)] += 1
    assert set(covered) == set(e2e.placed) and set(covered.values()) == {1}

    policy_sha = hashlib.sha256(e2e.policy.read_bytes()).hexdigest()
    assert {(a["instance"], a["group_id"], a["policy_sha256"], a["key_id"], a["key_fingerprint"])
            for a in e2e.audit} == {
        (e2e.config["instance_id"], e2e.config["group_id"], policy_sha, "2026q4", FINGERPRINT)}
    assert KEY_HEX[:16] not in str(e2e.audit) and FINGERPRINT not in KEY_HEX
    assert sorted(a["sequence"] for a in e2e.audit) == list(range(1, len(e2e.audit) + 1))
    assert min(e2e.audit, key=lambda a: a["sequence"])["prev_hash"] == GENESIS
    assert verify_chain(e2e.audit) == []
    tampered = [dict(a) for a in e2e.audit]
    tampered[len(tampered) // 2]["records"] = {"in": 0, "out": 0, "blocked": 0}
    assert verify_chain(tampered), "verify_chain does not notice an altered record"


def test_metrics_endpoint_serves_every_documented_metric(e2e: EndToEnd) -> None:
    """Requirement 6: every metric of the README's table, with values that match what happened."""
    names = {n for n, _ in e2e.metrics}
    for documented in metric_names_in_readme():
        assert re.search(rf"^# TYPE {documented} ", e2e.metrics_text, re.MULTILINE), f"{documented} not declared"
        if documented in ("streammask_consumer_lag", "streammask_records_blocked_total",
                          "streammask_policy_changed_timestamp_seconds"):
            continue  # no sample yet: nothing blocked here, the policy did not change; the lag gauge has its own test
        assert documented in names or f"{documented}_count" in names, f"{documented} has no sample"
    m = e2e.metrics

    def value(name: str, **labels: str) -> float:
        want = set(labels.items())
        return sum(v for (n, ls), v in m.items() if n == name and want <= ls)

    per_topic = Counter(t for t, _, _ in e2e.placed)
    for topic, n in per_topic.items():
        assert value("streammask_records_in_total", topic=topic) == n
        assert value("streammask_records_out_total", topic=topic) == n
    assert value("streammask_records_blocked_total") == 0
    committed = value("streammask_transactions_total", result="committed")
    assert committed == len(e2e.audit) and value("streammask_transactions_total", result="aborted") == 0
    assert value("streammask_batch_seconds_count") == committed == value("streammask_commit_seconds_count")
    assert 0 < value("streammask_commit_seconds_sum") < committed * 30
    changes = sum(1 for r in e2e.placed.values() if table_and_op(r) is not None)
    assert value("streammask_end_to_end_delay_seconds_count") >= changes
    audited_values = sum(c["values_masked"] for a in e2e.audit for t in a["tables"].values()
                         for c in t["columns"].values())
    assert value("streammask_values_masked_total") == audited_values > 0
    assert value("streammask_values_masked_total", table="public.items", strategy="tokenize") > 0
    assert value("streammask_assigned_partitions") == 5
    assert abs(value("streammask_last_commit_timestamp_seconds") - time.time()) < 300
    sha = hashlib.sha256(e2e.policy.read_bytes()).hexdigest()
    assert value("streammask_policy_info", instance="i1", policy_sha256=sha, key_id="2026q4",
                 key_fingerprint=FINGERPRINT) == 1
    assert value("streammask_audit_chain_sequence", instance="i1") == max(r["sequence"] for r in e2e.audit)
    assert e2e.health == {"/healthz": 200, "/readyz": 200, "/nothing-here": 404}


def test_consumer_lag_gauge_is_served_in_same_cluster_mode(e2e: EndToEnd) -> None:
    """The README's table promises ``streammask_consumer_lag`` per assigned partition; after the drain
    (and two statistics intervals) it must read 0 for each of the 5 source partitions, although in
    same-cluster mode the offsets are committed by the transaction, never by the consumer itself."""
    lags = lag_gauges(e2e.metrics)
    assert len(lags) == 5 and set(lags.values()) == {0.0}, lags


def test_sigterm_after_the_run_exits_zero_with_json_logs_only(e2e: EndToEnd) -> None:
    assert e2e.exit_code == 0, e2e.stderr[-3000:]
    lines = [line for line in e2e.stderr.splitlines() if line.strip()]
    for line in lines:
        orjson.loads(line)  # every stderr line is a JSON log line
    assert any(json.loads(line).get("msg") == "stopped cleanly" for line in lines)
    assert e2e.stdout == ""


# -- crash, restart, rebalance ------------------------------------------------------------------------


def committed_chain(audit: Sequence[dict[str, Any]], instance: str) -> list[dict[str, Any]]:
    """The instance's committed audit chain: walked back from its highest sequence via ``prev_hash`` to
    the genesis. (Tansu also shows audit records of aborted transactions; they are not on this walk.)"""
    mine = [a for a in audit if a["instance"] == instance]
    assert mine, f"no audit record of {instance}"
    by_hash = {a["hash"]: a for a in mine}
    head = max(mine, key=lambda a: a["sequence"])
    chain = [head]
    while chain[-1]["prev_hash"] != GENESIS:
        prev = by_hash.get(chain[-1]["prev_hash"])
        assert prev is not None, f"{instance}: audit record {chain[-1]['sequence']} links to a missing record"
        chain.append(prev)
    chain.reverse()
    assert [a["sequence"] for a in chain] == list(range(1, len(chain) + 1))
    assert verify_chain(chain) == []
    return chain


def assert_output_complete(
    output: Sequence[Record], placed: dict[tuple[str, int, int], SourceRecord], policy: Path = POLICY
) -> int:
    """Every source record is in the output as its offline-masked twin; duplicates only byte-identical.
    Returns the number of duplicates."""
    dups = check_duplicates_identical(output)
    sources = distinct_sources(output)
    missing = set(placed) - sources
    assert not missing, f"{len(missing)} source record(s) missing, e.g. {sorted(missing)[:5]}"
    assert sources <= set(placed)
    by_topic: dict[str, list[tuple[tuple[str, int, int], SourceRecord]]] = defaultdict(list)
    for coords, record in placed.items():
        by_topic[coords[0]].append((coords, record))
    reference: dict[tuple[str, int, int], Any] = {}
    for topic, items in by_topic.items():
        outcomes = offline_mask(policy, topic, [record for _, record in items])
        reference |= {coords: o for (coords, _), o in zip(items, outcomes, strict=True)}
    for r in output:
        ref = reference[r.source]
        assert isinstance(ref, Masked), r.source
        assert (r.key, r.value, r.headers) == (ref.key, ref.value, expected_headers(ref, *r.source)), r.source
    return dups


def covered_offsets(chain: Sequence[dict[str, Any]]) -> set[tuple[str, int, int]]:
    return {
        (rng["topic"], rng["partition"], o)
        for a in chain for rng in a["source_ranges"] for o in range(rng["first_offset"], rng["last_offset"] + 1)
    }


@pytest.mark.parametrize(("delivery", "n_records"), [("transactional", 3000), ("at-least-once", 1500)])
def test_kill_9_mid_stream_then_restart_loses_nothing(
    kafka_broker: str, tmp_path: Path, delivery: str, n_records: int
) -> None:
    """Requirement 3: kill -9 in the middle of thousands of events (batches of 25), restart with the
    same instance id: every source offset reaches the output, duplicates are byte-identical, and the
    audit chain continues across the restart and covers every offset. Both delivery modes."""
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(kafka_broker, src, 3)
    create_topic(kafka_broker, out, 3)
    records = customer_events(n_records, partitions=3)
    placed = place(records, src, 3)
    doc = proxy_config(kafka_broker, [src], [(re.escape(src), out)], max_records=25, max_ms=100, delivery=delivery)

    stream = StreamProducer(kafka_broker, src, records)  # a live stream: the kill lands in its middle
    with run_proxy(tmp_path, doc) as first:
        first.wait_ready(START_S)
        stream.start()
        before_kill = first.wait_metric("streammask_records_in_total", n_records // 6, DRAIN_S)
        first.kill()
        still_streaming = stream.is_alive()
    stream.finish()
    assert still_streaming and before_kill < len(records), "the stream ended before the kill: nothing tested"
    partial = distinct_sources(read_topic(kafka_broker, out))
    assert len(partial) < len(records)

    with run_proxy(tmp_path, doc) as second:
        second.wait_ready(START_S)
        output = read_until(kafka_broker, out, lambda rs: len(distinct_sources(rs)) >= len(records), DRAIN_S,
                            "every source record in the output after the restart")
        assert second.terminate() == 0, second.describe()
    output = read_topic(kafka_broker, out)
    dups = assert_output_complete(output, placed)
    print(f"{delivery}: kill -9 after {before_kill:.0f} committed records; {dups} byte-identical duplicate(s)")

    chain = committed_chain(audit_records(kafka_broker, doc["audit_topic"]), "i1")
    assert covered_offsets(chain) == set(placed)
    # at-least-once: offsets are committed (asynchronously) after the flush, so a few batches may come twice
    assert_chain_accounts(chain, output, len(records), max_overlap=3 * 25 * (1 if delivery == "transactional" else 4))


def assert_chain_accounts(
    chain: Sequence[dict[str, Any]], output: Sequence[Record], n_records: int, max_overlap: int
) -> None:
    """The committed chain's counts add up to the source records, except for batches read twice around
    a crash: Tansu shows the killed instance's aborted transaction (its audit record and audit-head
    checkpoint) to read_committed readers, so the restarted instance links to it and re-reads its range
    (measured: exactly the one in-flight batch). Such twice-covered offsets must be ones the output
    holds twice too (byte-identical, checked before)."""
    covered: Counter[tuple[str, int, int]] = Counter()
    for a in chain:
        for rng in a["source_ranges"]:
            for o in range(rng["first_offset"], rng["last_offset"] + 1):
                covered[(rng["topic"], rng["partition"], o)] += 1
    twice = {o for o, n in covered.items() if n > 1}
    assert max(covered.values()) <= 2
    assert sum(a["records"]["in"] for a in chain) == n_records + len(twice)
    assert len(twice) <= max_overlap, f"{len(twice)} offsets audited twice"
    in_output = Counter(r.source for r in output)
    assert all(in_output[o] >= 2 for o in twice), "an offset audited twice but delivered once"


def test_two_instances_split_the_partitions_and_one_takes_over_after_sigterm(
    full_kafka: str, tmp_path: Path
) -> None:
    """Requirement 4: two instances in one group (distinct instance_id) split a 4-partition topic (each
    reports assigned partitions, together 4); after SIGTERM of one (exit 0) the other owns all 4 (within
    session.timeout.ms: a static member sends no LeaveGroup) and every record, produced before and after,
    arrives; duplicates only byte-identical.

    Full Kafka only: Tansu never expires a static member that closed (tests/broker.py), so on it the
    partitions of the stopped instance never move (measured: not within 90 s). On Tansu, test_faults.py
    shows what static membership gives there: the stopped instance, restarted, takes its partitions back."""
    kafka_broker = full_kafka
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(kafka_broker, src, 4)
    create_topic(kafka_broker, out, 4)
    records = customer_events(800, partitions=4)
    first_half, second_half = records[:400], records[400:]
    produce(kafka_broker, src, first_half)
    placed = place(records, src, 4)
    base = proxy_config(kafka_broker, [src], [(re.escape(src), out)], max_records=20, max_ms=100)
    docs = [{**base, "instance_id": f"i{n}", "metrics": {"host": "127.0.0.1", "port": free_port()}} for n in (1, 2)]

    with run_proxy(tmp_path, docs[0]) as one, run_proxy(tmp_path, docs[1]) as two:
        def split() -> tuple[float, float] | None:
            for p in (one, two):
                assert p.running(), p.describe()
            counts = (one.metric("streammask_assigned_partitions"), two.metric("streammask_assigned_partitions"))
            return counts if min(counts) >= 1 and sum(counts) == 4 else None

        counts = wait_for(split, START_S, "both instances assigned, 4 partitions between them")
        read_until(kafka_broker, out, lambda rs: len(distinct_sources(rs)) >= 400, DRAIN_S, "the first 400 records")
        assert one.metric("streammask_records_in_total") > 0 and two.metric("streammask_records_in_total") > 0
        assert two.terminate() == 0, two.describe()
        wait_for(lambda: one.metric("streammask_assigned_partitions") == 4, START_S, "i1 owns all 4 partitions")
        produce(kafka_broker, src, second_half)
        read_until(kafka_broker, out, lambda rs: len(distinct_sources(rs)) >= 800, DRAIN_S, "all 800 records")
        assert one.terminate() == 0, one.describe()
    print(f"assigned partitions while both ran: {counts}")
    output = read_topic(kafka_broker, out)
    assert_output_complete(output, placed)
    audit = audit_records(kafka_broker, base["audit_topic"])
    chains = [committed_chain(audit, f"i{n}") for n in (1, 2)]
    assert covered_offsets(chains[0]) | covered_offsets(chains[1]) == set(placed)
    assert all(chain for chain in chains)


# -- shutdown and lag ---------------------------------------------------------------------------------


def lag(config_path: Path) -> tuple[dict[tuple[str, int], tuple[int, int, int]], int]:
    proc = cli("lag", "--config", str(config_path))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return lag_table(proc.stdout.decode())


def test_sigterm_commits_the_open_transaction_and_lag_reports_it(kafka_broker: str, tmp_path: Path) -> None:
    """Requirements 7 and 9: with one long-open transaction (no size or time trigger before SIGTERM), the
    records are produced into it but nothing is committed; SIGTERM commits it and exits 0: every record
    is in the output once, one audit record covers all, and ``streammask lag`` goes from N to 0."""
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(kafka_broker, src, 2)
    records = customer_events(200, partitions=2)
    produce(kafka_broker, src, records, one_per_batch=True)  # else Tansu's end offsets are wrong (see produce)
    placed = place(records, src, 2)
    doc = proxy_config(kafka_broker, [src], [(re.escape(src), out)], max_records=1_000_000, max_ms=10_000_000)
    config_path = write_config(tmp_path, doc)

    rows, total = lag(config_path)
    assert rows == {(src, 0): (0, 100, 100), (src, 1): (0, 100, 100)} and total == 200

    with run_proxy(tmp_path, doc) as proxy:
        proxy.wait_ready(START_S)
        # every record masked and produced into the open transaction (a read_uncommitted reader sees them)
        read_until(kafka_broker, out, lambda rs: len(rs) >= len(records), DRAIN_S, "records in the open transaction",
                   isolation="read_uncommitted")
        assert proxy.metric("streammask_transactions_total") == 0, "a transaction was committed before SIGTERM"
        assert proxy.metric("streammask_records_in_total") == 0
        assert lag(config_path)[1] == 200, "offsets committed before the transaction"
        assert proxy.terminate(timeout_s=60) == 0, proxy.describe()
    assert any(json.loads(line).get("msg") == "stopped cleanly" for line in proxy.stderr().splitlines() if line)

    output = read_topic(kafka_broker, out)
    assert assert_output_complete(output, placed) == 0
    audit = audit_records(kafka_broker, doc["audit_topic"])
    assert len(audit) == 1 and audit[0]["records"] == {"in": 200, "out": 200, "blocked": 0}
    assert covered_offsets(audit) == set(placed)
    rows, total = lag(config_path)
    assert rows == {(src, 0): (100, 100, 0), (src, 1): (100, 100, 0)} and total == 0


# -- key continuity -----------------------------------------------------------------------------------

OTHER_KEY_HEX = bytes(range(100, 132)).hex()


@pytest.mark.faults
def test_a_restart_under_another_key_is_refused_unless_the_rotation_is_acknowledged(
    kafka_broker: str, tmp_path: Path
) -> None:
    """Issue 9: a run under key id 2026q4 commits, stops; a restart under another key (another secret,
    the policy's key id 2027q1) exits 1 before joining the group, its error naming both key ids, the group
    and the target topic, and the target topic gets nothing. Acknowledged in the config, the same restart
    runs, and its first audit record says who approved which mix and that the policy changed.
    Issue 12: another secret under the same key id 2026q4 is refused alike, naming both fingerprints."""
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(kafka_broker, src, 1)
    records = customer_events(30)
    produce(kafka_broker, src, records[:20])
    doc = proxy_config(kafka_broker, [src], [(re.escape(src), out)], max_records=5, max_ms=100)
    with run_proxy(tmp_path, doc) as first:
        first.wait_ready(START_S)
        first.wait_metric("streammask_records_in_total", 20, DRAIN_S)
        assert first.terminate() == 0, first.describe()
    written = read_topic(kafka_broker, out)
    audited = audit_records(kafka_broker, doc["audit_topic"])
    assert len(distinct_sources(written)) == 20
    produce(kafka_broker, src, records[20:])  # waiting for the restart

    with run_proxy(tmp_path, doc, key_hex=OTHER_KEY_HEX) as same_id:
        code = same_id.wait_exit(START_S)
        stderr = same_id.stderr()
    assert code == 1, same_id.describe()
    [error] = [line for line in stderr.splitlines() if line.startswith("error: ")]
    other_fp = MasterKey(bytes.fromhex(OTHER_KEY_HEX), "2026q4").fingerprint
    assert error.startswith(f"error: same key id '2026q4' but another key (fingerprint {FINGERPRINT} → {other_fp}) "
                            f"for group {doc['group_id']}: the key material changed without a new key id; target "
                            f"topic(s) {out} last written under fingerprint {FINGERPRINT} (instance i1)"), error
    assert f"from_fingerprint: {FINGERPRINT}, to_fingerprint: {other_fp}" in error
    assert KEY_HEX[:16] not in stderr and OTHER_KEY_HEX[:16] not in stderr
    assert not [line for line in stderr.splitlines() if '"partitions assigned"' in line], "it joined the group"
    assert read_topic(kafka_broker, out) == written
    assert audit_records(kafka_broker, doc["audit_topic"]) == audited

    rotated = tmp_path / "ecommerce-2027q1.yaml"
    rotated.write_text(POLICY.read_text().replace('id: "2026q4"', 'id: "2027q1"'))
    restart = {**doc, "policy": str(rotated)}
    with run_proxy(tmp_path, restart, key_hex=OTHER_KEY_HEX) as second:
        code = second.wait_exit(START_S)
        stderr = second.stderr()
    assert code == 1, second.describe()
    [error] = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert f"key id changed for group {doc['group_id']}: target topic(s) {out} last written under key id " \
           "'2026q4' (instance i1); the key in force is '2027q1'" in error
    assert "streammask replay --config FILE --from earliest" in error and "key_rotation: {from_key_id: 2026q4" in error
    assert not [line for line in stderr.splitlines() if '"partitions assigned"' in line], "it joined the group"
    assert read_topic(kafka_broker, out) == written
    assert audit_records(kafka_broker, doc["audit_topic"]) == audited

    ack = {"from_key_id": "2026q4", "to_key_id": "2027q1", "approved_by": "dpo@example.com", "reason": "QA-42"}
    with run_proxy(tmp_path, {**restart, "key_rotation": ack}, key_hex=OTHER_KEY_HEX) as third:
        third.wait_ready(START_S)
        third.wait_metric("streammask_records_in_total", 10, DRAIN_S)
        assert third.terminate() == 0, third.describe()
    after = [r for r in read_topic(kafka_broker, out) if r.source[2] >= 20]
    reference = offline_mask(rotated, src, records[20:], OTHER_KEY_HEX)
    assert sorted(r.value or b"" for r in after) == sorted(m.value for m in reference if isinstance(m, Masked))
    chain = committed_chain(audit_records(kafka_broker, doc["audit_topic"]), "i1")
    keys = [a["key_id"] for a in chain]
    switch = keys.index("2027q1")
    assert set(keys[:switch]) == {"2026q4"} and set(keys[switch:]) == {"2027q1"}, keys
    resumed = chain[switch:]
    assert resumed[0]["key_rotation"] == {**ack, "target_topics": [out]}
    assert resumed[0]["policy_changed_from"] == hashlib.sha256(POLICY.read_bytes()).hexdigest()
    for a in resumed:
        jsonschema.validate(a, AUDIT_SCHEMA)


def test_the_audit_tail_is_read_from_the_end_for_checkpoints_that_predate_key_ids(kafka_broker: str) -> None:
    """``read_audit_tail(n)``: only the last n records of the audit topic (the fallback must stay cheap)."""
    audit = unique_topic("audit")
    create_topic(kafka_broker, audit, 1)
    produce(kafka_broker, audit, [SourceRecord(b"i1", b"%d" % i) for i in range(6)], one_per_batch=True)
    config = ProxyConfig.model_validate(proxy_config(kafka_broker, ["src"], [("src", "out")], audit_topic=audit))
    clients = KafkaClients.for_config(config)
    try:
        assert clients.read_audit_tail is not None
        assert clients.read_audit_tail(2) == [(b"i1", b"4"), (b"i1", b"5")]
        assert len(clients.read_audit_tail(100)) == 6
    finally:
        clients.consumer.close()


# -- blocked records ----------------------------------------------------------------------------------

PLANTED = (PLANTED_SSN, PLANTED_PAYEE, PLANTED_IBAN)


def from_kcat_line(line: dict[str, Any]) -> SourceRecord:
    return SourceRecord(line["key"].encode(), line["payload"].encode())


BAD_RECORDS: dict[str, tuple[Callable[[], SourceRecord], str, str | None]] = {
    "unknown-table": (lambda: from_kcat_line(unknown_table_record(0)), "public.payments", None),
    "unclassified-column": (lambda: from_kcat_line(unclassified_column_record(0)), "public.customers", "ssn"),
}


@pytest.mark.parametrize("code", sorted(BAD_RECORDS))
def test_blocked_record_with_on_blocked_stop_halts_the_pipeline(kafka_broker: str, tmp_path: Path, code: str) -> None:
    """Requirement 5 (stop): the proxy exits non-zero naming topic/partition/offset (and table/column);
    nothing from the blocked record (nor after it) is in the output; its raw values are nowhere; a
    restart stops at the same record again (its offset was never committed)."""
    make_bad, table, column = BAD_RECORDS[code]
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(kafka_broker, src, 1)
    good = customer_events(20)
    records = [*good[:10], make_bad(), *good[10:]]
    produce(kafka_broker, src, records)
    doc = proxy_config(kafka_broker, [src], [(re.escape(src), out)], max_records=5, max_ms=100)

    for attempt in (1, 2):
        with run_proxy(tmp_path, doc) as proxy:
            code_ = proxy.wait_exit(START_S + DRAIN_S)
            stderr, stdout = proxy.stderr(), proxy.stdout()
        assert code_ == 1, f"attempt {attempt}: {proxy.describe()}"
        assert f"record blocked at {src}/0/10" in stderr, stderr[-2000:]
        blocked_logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")
                        and json.loads(line).get("msg", "").startswith("record blocked")]
        assert len(blocked_logs) == 1, stderr[-2000:]
        assert {k: blocked_logs[0][k] for k in ("topic", "partition", "offset", "code", "table", "column")} == {
            "topic": src, "partition": 0, "offset": 10, "code": code, "table": table, "column": column,
        }
        output = read_topic(kafka_broker, out)
        assert {o for _, _, o in distinct_sources(output)} == set(range(10)), f"attempt {attempt}"
        audit_raw = read_topic(kafka_broker, doc["audit_topic"])
        audited = covered_offsets([orjson.loads(r.value or b"") for r in audit_raw])
        assert {o for _, _, o in audited} <= set(range(10))
        haystacks = {"stderr": stderr.encode(), "stdout": stdout.encode(), "output": all_output_bytes(output),
                     "audit": all_output_bytes(audit_raw)}
        assert_no_leak(haystacks, {*PLANTED})


@pytest.mark.faults
def test_blocked_records_with_skip_go_raw_to_the_quarantine_topic_only(kafka_broker: str, tmp_path: Path) -> None:
    """Requirement 5 (skip + quarantine_topic): blocked records are left out of the output, counted,
    audited by coordinates and reason only, and written raw (with a ``streammask.blocked`` header) to the
    quarantine topic on the source cluster; nothing else reaches the quarantine topic."""
    src, out, quarantine = unique_topic("src"), unique_topic("out"), unique_topic("quarantine")
    create_topic(kafka_broker, src, 1)
    good = customer_events(15)
    unknown, unclassified = from_kcat_line(unknown_table_record(0)), from_kcat_line(unclassified_column_record(0))
    records = [*good[:5], unknown, *good[5:10], unclassified, *good[10:]]
    produce(kafka_broker, src, records)
    placed = place(records, src, 1)
    blocked_at = {(src, 0, 5): (unknown, "unknown-table"), (src, 0, 11): (unclassified, "unclassified-column")}
    doc = proxy_config(kafka_broker, [src], [(re.escape(src), out)], max_records=4, max_ms=100,
                       on_blocked="skip", quarantine_topic=quarantine)
    with run_proxy(tmp_path, doc) as proxy:
        proxy.wait_ready(START_S)
        proxy.wait_metric("streammask_records_in_total", len(records), DRAIN_S)
        assert proxy.metric("streammask_records_out_total") == len(records) - 2
        for code in ("unknown-table", "unclassified-column"):
            assert proxy.metric("streammask_records_blocked_total", topic=src, code=code) == 1
        assert proxy.terminate() == 0, proxy.describe()
        stderr, stdout = proxy.stderr(), proxy.stdout()

    output = read_topic(kafka_broker, out)
    good_placed = {c: r for c, r in placed.items() if c not in blocked_at}
    assert assert_output_complete(output, good_placed) == 0

    quarantined = read_topic(kafka_broker, quarantine)  # (auto-created; any partition)
    assert sorted((r.key, r.value, r.header("streammask.blocked")) for r in quarantined) == sorted(
        (r.key, r.value, code.encode()) for r, code in blocked_at.values()
    )

    audit_raw = read_topic(kafka_broker, doc["audit_topic"])
    audit = [orjson.loads(r.value or b"") for r in audit_raw]
    assert sum(a["records"]["in"] for a in audit) == len(records)
    assert sum(a["records"]["blocked"] for a in audit) == 2
    blocked = sorted((b["offset"], b["code"], b["table"], b["column"]) for a in audit for b in a["blocked"])
    assert blocked == [(5, "unknown-table", "public.payments", None), (11, "unclassified-column", "public.customers",
                                                                        "ssn")]
    assert covered_offsets(audit) == set(placed)
    haystacks = {"stderr": stderr.encode(), "stdout": stdout.encode(), "output": all_output_bytes(output),
                 "audit": all_output_bytes(audit_raw)}
    assert_no_leak(haystacks, {*PLANTED})
    assert all(any(p.encode() in (r.value or b"") for p in PLANTED) for r in quarantined)  # raw, as promised


# -- validate -----------------------------------------------------------------------------------------


def validate(tmp_path: Path, doc: dict[str, Any] | str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    if isinstance(doc, str):
        path = tmp_path / "config.yaml"
        path.write_text(doc)
    else:
        path = write_config(tmp_path, doc, "config.yaml")
    proc = cli("validate", "--offline", "--config", str(path), env=env)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def test_validate_accepts_good_configs_without_a_broker(tmp_path: Path) -> None:
    """``streammask validate --offline``: config + policy + key, no broker needed (nothing listens on port 1)."""
    doc = proxy_config("127.0.0.1:1", ["shop.public.customers"], [(r"shop\.(.*)", r"staging.\1")])
    code, out, err = validate(tmp_path, doc)
    assert code == 0, err
    assert "config valid" in out and "key id 2026q4" in out and "same cluster" in out
    code, out, err = validate(tmp_path, {**doc, "target": {"bootstrap.servers": "127.0.0.1:2"}})
    assert code == 0 and "two clusters" in out, err
    rotation = {"from_key_id": "2026q3", "to_key_id": "2026q4", "approved_by": "dpo", "reason": "QA-42"}
    code, out, err = validate(tmp_path, {**doc, "key_rotation": rotation})
    assert code == 0 and out.rstrip().endswith("; acknowledges key rotation 2026q3 -> 2026q4"), err
    shipped = REPO / "config" / "streammask.example.yaml"
    env = {k: v for k, v in os.environ.items() if k not in ("HOSTNAME", "PROD_KAFKA_PASSWORD")}
    proc = subprocess.run([sys.executable, "-m", "streammask", "validate", "--offline", "--config", str(shipped)],
                          capture_output=True, env={**env, "STREAMMASK_KEY": KEY_HEX}, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()  # as shipped: no variable to export but the key


BAD_CONFIGS: dict[str, tuple[dict[str, Any], str]] = {
    "reserved property": ({"source": {"bootstrap.servers": "127.0.0.1:1", "group.id": "mine"}},
                          "sets group.id, which streammask manages"),
    "unrouted topic": ({"topics": ["shop.public.customers", "other.t"]}, "no route maps source topic other.t"),
    "route onto itself": ({"routing": [{"match": ".*", "to": r"\g<0>"}]}, "onto itself"),
    "bad on_blocked": ({"on_blocked": "maybe"}, "config.yaml:{line}: on_blocked: Input should be 'stop' or 'skip'"),
    "quarantine without skip": ({"quarantine_topic": "q"}, "quarantine_topic only applies with on_blocked: skip"),
    "missing env var": ({"source": {"bootstrap.servers": "${STREAMMASK_TEST_NOPE}"}},
                        "environment variable STREAMMASK_TEST_NOPE is not set"),
    "unknown option": ({"batchh": {"max_records": 1}}, "batchh"),
    "topics and pattern": ({"topic_pattern": "shop\\..*"}, "exactly one of `topics`"),
    "missing policy": ({"policy": "nowhere.yaml"}, "nowhere.yaml: cannot read policy"),
    "key rotation to another key": (
        {"key_rotation": {"from_key_id": "2026q3", "to_key_id": "2027q1", "approved_by": "dpo", "reason": "QA-42"}},
        "key_rotation.to_key_id is '2027q1', but the policy's key id is '2026q4'"),
    "key rotation to other key material": (
        {"key_rotation": {"from_key_id": "2026q4", "to_key_id": "2026q4", "from_fingerprint": "0" * 16,
                          "to_fingerprint": "1" * 16, "approved_by": "dpo", "reason": "QA-43"}},
        f"key_rotation.to_fingerprint is {'1' * 16}, but the key in force has fingerprint {FINGERPRINT}"),
    "routed target too long for Kafka": (
        {"topics": ["shop.public." + "c" * 235]},  # a legal source topic (247 characters)…
        "route 'shop\\.(.*)' -> 'staging.\\1' maps source topic shop.public.ccc"),  # …whose target has 250
    "route giving no legal topic name": (
        {"routing": [{"match": r"shop\.(.*)", "to": r"staging/\1"}]},
        "config.yaml:{line}: route 'shop\\.(.*)' -> 'staging/\\1': no target topic it gives is a legal Kafka topic "
        "name: its literal part contains a character Kafka does not allow ('/')"),
}
LONG_TARGET_RULE = "which is not a legal Kafka topic name: it is 250 characters long; Kafka allows at most 249"


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_validate_rejects_bad_configs(tmp_path: Path, case: str) -> None:
    change, message = BAD_CONFIGS[case]
    doc = proxy_config("127.0.0.1:1", ["shop.public.customers"], [(r"shop\.(.*)", r"staging.\1")])
    code, out, err = validate(tmp_path, {**doc, **change})
    assert code == 2, (out, err)
    lines = (tmp_path / "config.yaml").read_text().splitlines()
    line = next((n for n, text in enumerate(lines, 1) if text.startswith("on_blocked:") or "to: staging/" in text), 0)
    assert message.format(line=line) in err, err
    if case == "routed target too long for Kafka":
        assert LONG_TARGET_RULE in err and "change the route's `to`" in err, err
    assert err.startswith(f"error: {tmp_path}/"), err  # names the file
    assert out == ""


def test_validate_needs_the_key(tmp_path: Path) -> None:
    doc = proxy_config("127.0.0.1:1", ["shop.public.customers"], [(r"shop\.(.*)", r"staging.\1")])
    path = write_config(tmp_path, doc)
    env = {k: v for k, v in os.environ.items() if k != "STREAMMASK_KEY"}
    proc = subprocess.run([sys.executable, "-m", "streammask", "validate", "--offline", "--config", str(path)],
                          capture_output=True, env=env, timeout=60)
    assert proc.returncode == 2 and "STREAMMASK_KEY" in proc.stderr.decode()


def test_validate_asks_the_cluster_for_the_source_topics_and_names_the_missing_ones(
    kafka_broker: str, tmp_path: Path
) -> None:
    present, missing = unique_topic("present"), unique_topic("missing")
    create_topic(kafka_broker, present, 1)
    doc = proxy_config(kafka_broker, [present, missing], [(r"(present|missing)-(.*)", r"staging.\2")])
    path = write_config(tmp_path, doc, "config.yaml")
    proc = cli("validate", "--config", str(path))
    assert proc.returncode == 1, proc.stderr.decode()
    assert f"error: {path}: source topic {missing} does not exist on the source cluster ({kafka_broker})" in (
        proc.stderr.decode())
    proc = cli("lag", "--config", str(path))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr.decode(), proc.stderr.decode()
    assert f"source topic {missing} does not exist" in proc.stderr.decode()
    assert f"{present}" in proc.stdout.decode()  # the topics that exist still get their row
    ok = write_config(tmp_path, {**doc, "topics": [present]}, "ok.yaml")
    proc = cli("validate", "--config", str(ok))
    assert proc.returncode == 0, proc.stderr.decode()
    assert f"holds the 1 source topic(s): {present}" in proc.stdout.decode()


def test_validate_checks_the_routes_of_the_topics_a_pattern_matches_on_the_cluster(
    kafka_broker: str, tmp_path: Path
) -> None:
    """Issue 12: offline, a pattern's targets are unknown; online, each matching topic's route is checked against
    Kafka's topic-name rules, and the error names the source topic, the route and the rule."""
    prefix = unique_topic("pattern")
    fine, long = f"{prefix}.fine", f"{prefix}." + "c" * (248 - len(prefix))  # legal: 249 characters at most…
    for topic in (fine, long):
        create_topic(kafka_broker, topic, 1)
    doc = proxy_config(kafka_broker, [], [(rf"{re.escape(prefix)}\.(.*)", r"staging-environment.\1")])
    doc = {**{k: v for k, v in doc.items() if k != "topics"}, "topic_pattern": rf"{re.escape(prefix)}\..*"}
    path = write_config(tmp_path, doc, "config.yaml")
    assert cli("validate", "--offline", "--config", str(path)).returncode == 0
    proc = cli("validate", "--config", str(path))
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    route = f"route '{doc['routing'][0]['match']}' -> 'staging-environment.\\1'"  # …and its target has 250
    assert f"error: {path}: {route} maps source topic {long} to 'staging-environment." in err, err
    assert "(250 characters), which is not a legal Kafka topic name: it is 250 characters long; Kafka allows at " \
        "most 249; change the route's `to`" in err, err
    assert "Traceback" not in err and fine not in err


def test_validate_and_lag_name_an_unreachable_cluster_without_a_traceback(tmp_path: Path) -> None:
    doc = proxy_config("127.0.0.1:1", ["shop.public.customers"], [(r"shop\.(.*)", r"staging.\1")])
    path = write_config(tmp_path, doc, "config.yaml")
    for command in ("validate", "lag"):
        proc = cli(command, "--config", str(path))
        err = proc.stderr.decode()
        assert proc.returncode == 1, (command, err)
        assert "Traceback" not in err
        assert f"error: {path}: source cluster (127.0.0.1:1) unreachable within 10 s" in err, (command, err)


# -- two clusters -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def second_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second, independent Tansu: the target cluster of the two-cluster tests."""
    broker = LocalKafkaBroker(tmp_path_factory.mktemp("kafka-broker-2") / "broker.log").start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def checkpoints(bootstrap: str, topic: str, group: str) -> dict[tuple[str, int], int]:
    """The last ``offsets/<group>/<topic>/<partition>`` checkpoint per source partition.

    Read committed; on Tansu, after a kill in the middle of a transaction, a read_committed reader may
    find no end to read to at all (seen: no record, where the killed instance had committed 520), so then
    the records are read uncommitted, as Tansu shows them to read_committed readers anyway (it delivers
    aborted transactions to them: see README, Tests)."""
    records = read_topic(bootstrap, topic) or read_topic(bootstrap, topic, isolation="read_uncommitted")
    out: dict[tuple[str, int], int] = {}
    for r in records:
        if r.key and r.key.startswith(f"offsets/{group}/".encode()) and r.value:
            doc = orjson.loads(r.value)
            out[(doc["topic"], doc["partition"])] = doc["next_offset"]
    return out


def test_two_clusters_checkpoint_on_the_target_and_resume_from_it(
    kafka_broker: str, second_broker: str, tmp_path: Path
) -> None:
    """Requirement 8: source on one broker, target on another. Checkpoints land on the target cluster,
    nothing on the source cluster; after kill -9 the restart resumes from the checkpoints: nothing
    lost, duplicates byte-identical. To show it is the checkpoint (not the source group's offsets, also
    committed) that decides, partition 0's checkpoint is rewound to 0 before the restart: that whole
    range must come again, byte-identical. ``streammask lag`` reads the checkpoints."""
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(kafka_broker, src, 2)
    create_topic(second_broker, out, 2)
    records = customer_events(800, partitions=2)
    before, after = records[:600], records[600:]  # `after` is produced while the proxy is down
    produce(kafka_broker, src, before, one_per_batch=True)  # exact end offsets for `lag` (see produce)
    placed = place(records, src, 2)
    doc = proxy_config(kafka_broker, [src], [(re.escape(src), out)], target=second_broker, max_records=20, max_ms=100)
    config_path = write_config(tmp_path, doc)
    assert lag(config_path) == ({(src, 0): (0, 300, 300), (src, 1): (0, 300, 300)}, 600)

    with run_proxy(tmp_path, doc) as first:
        first.wait_ready(START_S)
        before_kill = first.wait_metric("streammask_records_in_total", 150, DRAIN_S)
        first.kill()  # usually mid-stream; if it was quicker, the restart still has `after` to do
    saved = checkpoints(second_broker, doc["checkpoint_topic"], doc["group_id"])
    print(f"checkpoints at the kill (after {before_kill:.0f} committed records): {saved}")
    assert saved and sum(saved.values()) >= before_kill, saved
    rewound = max(saved, key=lambda tp: saved[tp])[1]  # a partition with committed work
    other = 1 - rewound
    group_offsets = Consumer({"bootstrap.servers": kafka_broker, "group.id": doc["group_id"]}).committed(
        [TopicPartition(src, rewound)], timeout=10)
    assert group_offsets[0].offset > 0, "the source group's offsets are committed too (for lag tools)"
    produce(second_broker, doc["checkpoint_topic"], [SourceRecord(
        checkpoint.offsets_key(doc["group_id"], src, rewound), checkpoint.encode_offset(src, rewound, 0, "i1"))])
    produce(kafka_broker, src, after, one_per_batch=True)

    with run_proxy(tmp_path, doc) as second:
        second.wait_ready(START_S)
        read_until(second_broker, out, lambda rs: len(distinct_sources(rs)) >= len(records), DRAIN_S,
                   "every source record on the target cluster")
        # both partitions: the replayed one and the other (resumed from its checkpoint)
        assert poll_until(lambda: lag_gauges(second.metrics()) == {(src, "0"): 0.0, (src, "1"): 0.0}, 15), (
            lag_gauges(second.metrics()))
        assert second.terminate() == 0, second.describe()

    output = read_topic(second_broker, out)
    assert_output_complete(output, placed)
    copies = Counter(r.source for r in output)
    replayed = {o for (_, p, o), n in copies.items() if p == rewound and n > 1}
    assert set(range(saved[(src, rewound)])) <= replayed, "the partition did not restart from its rewound checkpoint"
    dups_other = sum(n - 1 for (_, p, _), n in copies.items() if p == other)
    assert dups_other <= 2 * 20, f"{dups_other} duplicates in partition {other}: not resumed from its checkpoint"
    assert checkpoints(second_broker, doc["checkpoint_topic"], doc["group_id"]) == {(src, 0): 400, (src, 1): 400}
    on_source = Consumer({"bootstrap.servers": kafka_broker, "group.id": "t"}).list_topics(timeout=10).topics
    assert not {doc["checkpoint_topic"], doc["audit_topic"], out} & set(on_source), "written to the source cluster"
    chain = committed_chain(audit_records(second_broker, doc["audit_topic"]), "i1")
    assert covered_offsets(chain) == set(placed)
    assert lag(config_path) == ({(src, 0): (400, 400, 0), (src, 1): (400, 400, 0)}, 0)


# -- against a full Apache Kafka only -----------------------------------------------------------------

FULL_KAFKA_SKIP = (
    "needs a full Apache Kafka: set STREAMMASK_TEST_BOOTSTRAP=host:port (or run a Docker engine for "
    "testcontainers). The local test broker (Tansu 0.6.0) never delivers records with a null value "
    "(no tombstones) and shows aborted transactions to read_committed readers, so these guarantees "
    "cannot be observed on it"
)


def _docker_answers() -> bool:
    try:
        import docker  # testcontainers' dependency

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def full_kafka() -> Iterator[str]:
    bootstrap = os.environ.get("STREAMMASK_TEST_BOOTSTRAP")
    if bootstrap:
        yield bootstrap
        return
    if not _docker_answers():
        pytest.skip(FULL_KAFKA_SKIP)
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("confluentinc/cp-kafka:7.6.1") as kafka:
        yield kafka.get_bootstrap_server()


def test_full_kafka_tombstones_keep_their_masked_key(full_kafka: str, tmp_path: Path) -> None:
    """Requirement 10a: a tombstone (null value) goes through with its key masked exactly like the key of
    the delete before it; every record is the offline twin, once."""
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(full_kafka, src, 1)
    records = [
        *fixture_source_records()[:3],
        SourceRecord(fixture_source_records()[2].key, None),  # the delete's tombstone
        *[SourceRecord(r.key, r.value) for r in example_records()],
    ]
    lines = [orjson.loads(line) for line in (REPO / "examples" / "customers.jsonl").read_bytes().splitlines()]
    records += [SourceRecord(line["key"].encode(), None) for line in lines if line["payload"] is None]
    produce(full_kafka, src, records)
    placed = place(records, src, 1)
    doc = proxy_config(full_kafka, [src], [(re.escape(src), out)], max_records=5, max_ms=100)
    with run_proxy(tmp_path, doc) as proxy:
        proxy.wait_ready(START_S)
        proxy.wait_metric("streammask_records_in_total", len(records), DRAIN_S)
        assert proxy.terminate() == 0, proxy.describe()
    output = read_topic(full_kafka, out)
    assert assert_output_complete(output, placed) == 0
    tombstones = [r for r in output if r.value is None]
    assert len(tombstones) == 2
    delete_twin = next(r for r in output if r.source == (src, 0, 2))
    first_tombstone = next(r for r in tombstones if r.source == (src, 0, 3))
    assert first_tombstone.key == delete_twin.key and first_tombstone.key != records[3].key


def test_full_kafka_kill_9_mid_transaction_is_exactly_once(full_kafka: str, tmp_path: Path) -> None:
    """Requirement 10b: after kill -9 with a transaction open, the restarted instance (same
    transactional.id) fences and aborts it: a read_committed reader sees every record exactly once, and
    the audit records (aborted ones invisible) account for every offset exactly once."""
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(full_kafka, src, 3)
    create_topic(full_kafka, out, 3)
    records = customer_events(3000, partitions=3)
    placed = place(records, src, 3)
    doc = proxy_config(full_kafka, [src], [(re.escape(src), out)], max_records=25, max_ms=100)
    stream = StreamProducer(full_kafka, src, records)
    with run_proxy(tmp_path, doc) as first:
        first.wait_ready(START_S)
        stream.start()
        before_kill = first.wait_metric("streammask_records_in_total", 500, DRAIN_S)
        first.kill()
        still_streaming = stream.is_alive()
    stream.finish()
    assert still_streaming and before_kill < len(records), "the stream ended before the kill: nothing tested"
    with run_proxy(tmp_path, doc) as second:
        second.wait_ready(START_S)
        read_until(full_kafka, out, lambda rs: len(distinct_sources(rs)) >= len(records), DRAIN_S, "all records")
        assert second.terminate() == 0, second.describe()
    output = read_topic(full_kafka, out)
    assert assert_output_complete(output, placed) == 0, "duplicates visible to a read_committed reader"
    audit = audit_records(full_kafka, doc["audit_topic"])
    assert verify_chain(audit) == [] and committed_chain(audit, "i1") == sorted(audit, key=lambda a: a["sequence"])
    assert sum(a["records"]["in"] for a in audit) == len(records)
    assert covered_offsets(audit) == set(placed)


def test_a_metrics_port_in_use_is_named_with_where_it_was_configured(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        doc = proxy_config("127.0.0.1:1", ["shop.public.customers"], [(r"shop\.(.*)", r"staging.\1")],
                           metrics_port=port)
        path = write_config(tmp_path, doc, "config.yaml")
        proc = cli("run", "--config", str(path))
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert f"error: metrics port {port} on 127.0.0.1 (metrics.port in {path}): address already in use" in err
    assert "Traceback" not in err


def test_two_clusters_replay_then_run_hands_over_at_the_manifests_ends(
    kafka_broker: str, second_broker: str, tmp_path: Path
) -> None:
    """The key-rotation runbook's rebuild in two-cluster mode: a replay to the new target topics, the new group's
    offsets set on the source cluster to the manifest's ends (as ``kafka-consumer-groups --reset-offsets``
    does), then ``run``. A new group has no checkpoint on the target, so ``run`` starts from those offsets:
    every source record reaches the target once, none twice."""
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(kafka_broker, src, 2)
    create_topic(second_broker, out, 2)
    records = customer_events(60, partitions=2)
    produce(kafka_broker, src, records[:40], one_per_batch=True)  # exact end offsets for `--to end`
    doc = proxy_config(kafka_broker, [src], [(re.escape(src), out)], target=second_broker, max_records=20, max_ms=100)
    config_path = write_config(tmp_path, doc)
    manifest = tmp_path / "rebuild.json"
    proc = cli("replay", "--config", str(config_path), "--to", "end", "--manifest", str(manifest), timeout_s=180)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    ends = [TopicPartition(p["topic"], p["partition"], p["end"])
            for p in json.loads(manifest.read_text())["source"]["partitions"]]
    assert sum(tp.offset for tp in ends) == 40 and len(distinct_sources(read_topic(second_broker, out))) == 40
    setter = Consumer({"bootstrap.servers": kafka_broker, "group.id": doc["group_id"], "enable.auto.commit": False})
    try:
        setter.commit(offsets=ends, asynchronous=False)
    finally:
        setter.close()
    produce(kafka_broker, src, records[40:], one_per_batch=True)
    # `lag` counts from where `run` will start: no checkpoint yet, so the group's offsets
    assert lag(config_path) == ({(tp.topic, tp.partition): (tp.offset, 30, 30 - tp.offset) for tp in ends}, 20)

    with run_proxy(tmp_path, doc) as proxy:
        proxy.wait_ready(START_S)
        read_until(second_broker, out, lambda rs: len(distinct_sources(rs)) >= 60, DRAIN_S, "all 60 records")
        assert proxy.terminate() == 0, proxy.describe()
    copies = Counter(r.source for r in read_topic(second_broker, out))
    assert len(copies) == 60 and set(copies.values()) == {1}, {s: n for s, n in copies.items() if n > 1}
    assert checkpoints(second_broker, doc["checkpoint_topic"], doc["group_id"]) == {
        (tp.topic, tp.partition): 30 for tp in ends}
