"""``streammask audit verify`` and ``audit export`` end to end: ``streammask run`` as a subprocess against
the session's test broker (Tansu), killed with -9 and restarted, then the CLI as users run it.

The proxy is killed only while idle (everything produced so far committed, so no transaction open: an
instance begins one only when records arrive). A kill in the middle of a transaction is exactly-once on
Apache Kafka, but Tansu shows aborted transactions to ``read_committed`` readers: the aborted
transaction's audit record and output would be visible to verify (and its audit-head checkpoint to the
restarted instance) and make the evidence differ from Kafka's. That is the broker's gap, not one to
work around in streammask.

Evidence cannot be deleted from a Kafka topic record by record, so the failure cases verify a config
pointed at a copy of the audit topic, or of the target topic, that leaves one record out.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import orjson
from test_cli import PLANTED_IBAN, PLANTED_PAYEE, unknown_table_record

from streammask.proxy.audit_record import GENESIS
from tests.broker import create_topic, unique_topic
from tests.proxy_harness import (
    POLICY,
    Record,
    SourceRecord,
    audit_records,
    cli,
    customer_events,
    produce,
    proxy_config,
    read_topic,
    run_proxy,
    sensitive_strings,
    write_config,
)

START_S = 90.0  # a restart after kill -9 waits for the killed member's session (6 s) to expire first
DRAIN_S = 120.0


def verify(config: Path, *extra: str) -> tuple[int, str]:
    """Exit code and report (stdout) of ``audit verify``; nothing on stderr (no error, no log line)."""
    proc = cli("audit", "verify", "--config", str(config), *extra)
    assert proc.stderr == b"", proc.stderr.decode()[-2000:]
    return proc.returncode, proc.stdout.decode()


def copy_topic(bootstrap: str, records: list[Record], partitions: int, prefix: str) -> str:
    """A new topic holding ``records`` (key, value, headers) in their partitions, in order."""
    topic = unique_topic(prefix)
    create_topic(bootstrap, topic, partitions)
    produce(bootstrap, topic, [SourceRecord(r.key, r.value, list(r.headers), partition=r.partition) for r in records])
    return topic


def test_audit_verify_passes_after_kill_9_and_a_restart_and_fails_without_a_record(
    kafka_broker: str, tmp_path: Path
) -> None:
    """Two runs of one instance (kill -9, then SIGTERM), a blocked record skipped in the first:
    verify passes (one chain across the restarts, every source offset in the output or listed blocked),
    export has one CSV row per audit record; verify fails when an audit record or an output record is
    missing (copies of the topics), or when two output copies of a source record differ; and it passes
    again after ``streammask replay`` wrote a range once more (a chain of its own, identical copies)."""
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(kafka_broker, src, 2)
    create_topic(kafka_broker, out, 2)
    events = customer_events(150, partitions=2)
    bad = unknown_table_record(0)
    blocked = SourceRecord(bad["key"].encode(), bad["payload"].encode(), partition=1)
    runs = [[*events[:80], blocked], events[80:]]
    doc = proxy_config(kafka_broker, [src], [(re.escape(src), out)], max_records=20, max_ms=100, on_blocked="skip")
    for n, batch in enumerate(runs):
        produce(kafka_broker, src, batch)
        with run_proxy(tmp_path, doc) as proxy:
            proxy.wait_ready(START_S)
            proxy.wait_metric("streammask_records_in_total", len(batch), DRAIN_S)  # counted when committed
            if n < len(runs) - 1:
                proxy.kill()  # idle: nothing open (see the module docstring)
            else:
                assert proxy.terminate() == 0, proxy.describe()
    config = write_config(tmp_path, doc)
    audit = audit_records(kafka_broker, doc["audit_topic"])
    secrets = sensitive_strings(events, POLICY) | {PLANTED_PAYEE, PLANTED_IBAN}

    code, text = verify(config)
    assert code == 0, text
    assert text.endswith("verify: OK (every chain intact; every committed source record is in the output or listed "
                         "as blocked)\n"), text
    code, as_json = verify(config, "--json")
    report = orjson.loads(as_json)
    assert code == 0 and report["ok"] and report["problems"] == [], as_json
    [chain] = report["chains"]
    assert (chain["instance"], chain["records"], chain["first_sequence"], chain["last_sequence"], chain["ok"]) == (
        "i1", len(audit), 1, len(audit), True)
    rows = {p["partition"]: p for p in report["partitions"]}
    assert {p: (r["audited"], r["found"], r["blocked"], r["missing"], r["duplicates"]) for p, r in rows.items()} == {
        0: (75, 75, 0, 0, 0), 1: (76, 75, 1, 0, 0)}
    assert not any(s in text for s in secrets)

    exported = cli("audit", "export", "--config", str(config), "--format", "csv")
    assert exported.returncode == 0, exported.stderr.decode()[-2000:]
    table = list(csv.DictReader(io.StringIO(exported.stdout.decode())))
    assert len(table) == len(audit) > 3
    assert sorted(int(r["sequence"]) for r in table) == list(range(1, len(audit) + 1))
    assert sum(int(r["records_in"]) for r in table) == len(events) + 1
    assert [(r["records_blocked"], r["outcome"]) for r in table if r["outcome"] != "success"] in (
        [("1", "partial")], [("1", "blocked")])
    assert {(r["source_topics"], r["target_topics"], r["instance"]) for r in table} == {(src, out, "i1")}
    assert all("public.customers.email:" in r["fields_masked"] for r in table if r["records_out"] != "0")
    assert not any(s in exported.stdout.decode() for s in secrets)
    last = max(a["committed_at"] for a in audit)
    later = cli("audit", "export", "--config", str(config), "--format", "jsonl", "--since", last)
    assert [orjson.loads(line)["committed_at"] for line in later.stdout.splitlines()] == [last]

    # (a) an audit record removed: a copy of the audit topic without one record from the middle, one that
    # counted output records (how the batches fall varies: one may hold only the blocked record)
    raw = read_topic(kafka_broker, doc["audit_topic"])
    docs = [orjson.loads(r.value or b"") for r in raw]
    middle = min((i for i, d in enumerate(docs) if d["records"]["out"] > 0 and d["prev_hash"] != GENESIS),
                 key=lambda i: abs(i - len(raw) // 2))
    gone = docs[middle]
    audit_copy = copy_topic(kafka_broker, [r for i, r in enumerate(raw) if i != middle], 1, "audit-copy")
    code, text = verify(write_config(tmp_path, {**doc, "audit_topic": audit_copy}))
    assert code == 1, text
    assert f"gap: sequence {gone['sequence']} missing" in text and text.endswith("verify: FAILED (1 problem(s))\n")
    # its source ranges are no longer audited: their output is counted as such (a note), not as a second failure
    assert f"{gone['records']['out']} output record(s) come from source offsets no audit record" in text

    # (b) an output record removed, another duplicated (identical: counted) and a third duplicated with
    # other bytes (masking is deterministic: a failure)
    output = read_topic(kafka_broker, out)
    removed, twice, differs = output[10], output[20], output[30]
    changed = Record(differs.topic, differs.partition, differs.offset, differs.key, (differs.value or b"") + b" ",
                     differs.headers)
    copy = copy_topic(kafka_broker, [r for r in output if r is not removed] + [twice, changed], 2, "out-copy")
    rerouted = write_config(tmp_path, {**doc, "routing": [{"match": re.escape(src), "to": copy}]})
    code, as_json = verify(rerouted, "--json")
    report = orjson.loads(as_json)
    assert code == 1, as_json
    (r_topic, r_partition, r_offset) = removed.source
    assert any(f"1 record(s) of {r_topic}/{r_partition} missing from the output and not listed as blocked: "
               f"offset(s) {r_offset}" in p for p in report["problems"]), as_json
    d_topic, d_partition, d_offset = differs.source
    assert any(p.startswith(f"source {d_topic}/{d_partition}/{d_offset}: 2 copies in the output differ")
               for p in report["problems"]), as_json
    assert len(report["problems"]) == 2, as_json
    assert sum(p["duplicates"] for p in report["partitions"]) == 2

    # (c) `streammask replay` of a range into the same target topic: its audit records are a chain of
    # their own (instance replay-<id>), and the records it wrote again are identical copies, counted
    replayed = cli("replay", "--config", str(config), "--from", f"{src}:0:10,{src}:1:20",
                   "--to", f"{src}:0:20,{src}:1:20", "--manifest", str(tmp_path / "replay.manifest.json"))
    assert replayed.returncode == 0, replayed.stderr.decode()[-3000:]
    code, as_json = verify(config, "--json")
    report = orjson.loads(as_json)
    assert code == 0, as_json
    assert [c["instance"] == "i1" or c["instance"].startswith("replay-") for c in report["chains"]] == [True, True]
    assert {p["partition"]: p["duplicates"] for p in report["partitions"]} == {0: 10, 1: 0}
