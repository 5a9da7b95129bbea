"""``streammask replay`` end to end on the test broker: reproducible files, topics equal to what ``run`` wrote,
``--verify`` that passes and fails for the right reasons, and a replay that never moves the group's offsets.

Source records are produced one per batch: Tansu answers ListOffsets(latest) with the last batch's base
offset + 1, so only then is ``--to end`` the true end (tests/proxy_harness.py ``produce``). Timestamps and
tombstones are tested at processor level (tests/test_replay_pass.py): this broker cannot carry them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from streammask.keys import MasterKey
from streammask.replay.manifest import Manifest
from tests.broker import create_topic, unique_topic
from tests.proxy_harness import (
    KEY_HEX,
    POLICY,
    Record,
    cli,
    customer_events,
    produce,
    proxy_config,
    read_topic,
    read_until,
    run_proxy,
    write_config,
)

N, PARTITIONS = 240, 2
START_S, DRAIN_S = 90.0, 120.0
OTHER_KEY_HEX = bytes(range(1, 33)).hex()


@dataclass
class Replayed:
    bootstrap: str
    src: str
    out: str
    doc: dict[str, Any]
    config: Path
    run_output: list[Record]
    dir: Path


@pytest.fixture(scope="module")
def replayed(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """``run`` masked N events of two partitions to ``out`` and stopped."""
    directory = tmp_path_factory.mktemp("replay")
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(kafka_broker, src, PARTITIONS)
    create_topic(kafka_broker, out, PARTITIONS)
    produce(kafka_broker, src, customer_events(N, partitions=PARTITIONS), one_per_batch=True)
    doc = proxy_config(kafka_broker, [src], [(re.escape(src), out)], on_blocked="skip")
    with run_proxy(directory, doc) as proxy:
        proxy.wait_ready(START_S)
        read_until(kafka_broker, out, lambda rs: len(rs) >= N, DRAIN_S, "run's output")
        assert proxy.terminate() == 0, proxy.describe()
    return Replayed(kafka_broker, src, out, doc, write_config(directory, doc), read_topic(kafka_broker, out),
                    directory)


def replay(r: Replayed, *args: str, key_hex: str = KEY_HEX, config: Path | None = None) -> Any:
    return cli("replay", "--config", str(config or r.config), *args, key_hex=key_hex, timeout_s=180)


def committed(r: Replayed) -> list[int]:
    consumer = Consumer({"bootstrap.servers": r.bootstrap, "group.id": r.doc["group_id"]})
    try:
        tps = consumer.committed([TopicPartition(r.src, p) for p in range(PARTITIONS)], timeout=10)
        return [tp.offset for tp in tps]
    finally:
        consumer.close()


def by_source(records: list[Record]) -> dict[tuple[str, int, int], tuple[int, Any]]:
    return {rec.source: (rec.partition, rec.content) for rec in records}


def test_two_replays_to_files_give_identical_bytes_and_the_group_does_not_move(replayed: Replayed) -> None:
    before = committed(replayed)
    first, second = replayed.dir / "a.jsonl", replayed.dir / "b.jsonl"
    for path in (first, second):
        proc = replay(replayed, "--output", str(path))
        assert proc.returncode == 0, proc.stderr.decode()[-3000:]
        assert f"replayed {N} records from {PARTITIONS} partition(s)" in proc.stdout.decode()
    assert first.read_bytes() == second.read_bytes()
    assert len(first.read_bytes().splitlines()) == N
    a = Manifest.from_json(Path(f"{first}.manifest.json").read_bytes())
    b = Manifest.from_json(Path(f"{second}.manifest.json").read_bytes())
    assert a.digests == b.digests and a.counts == b.counts and a.source == b.source
    assert a.counts.records_in == N and a.source.to_spec == "end"
    assert committed(replayed) == before, "a replay moved the group's offsets"


def test_the_replay_file_holds_what_run_wrote(replayed: Replayed) -> None:
    path = replayed.dir / "same.jsonl"
    assert replay(replayed, "--output", str(path)).returncode == 0
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    run_by_source = by_source(replayed.run_output)
    assert len(run_by_source) == N
    for line in lines:
        headers = line["headers"]
        pairs = dict(zip(headers[::2], headers[1::2], strict=True))
        source = (pairs["streammask.source.topic"], int(pairs["streammask.source.partition"]),
                  int(pairs["streammask.source.offset"]))
        partition, (key, value, _) = run_by_source[source]
        assert (line["topic"], line["partition"]) == (replayed.out, partition)
        assert (line["key"].encode(), line["payload"].encode()) == (key, value)


def test_a_replay_to_topics_equals_what_run_wrote_and_verifies(replayed: Replayed, tmp_path: Path) -> None:
    again = unique_topic("again")
    create_topic(replayed.bootstrap, again, PARTITIONS)
    doc = {**replayed.doc, "routing": [{"match": re.escape(replayed.src), "to": again}]}
    config = write_config(tmp_path, doc)
    manifest = tmp_path / "topics.manifest.json"
    proc = replay(replayed, "--manifest", str(manifest), config=config)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    written = read_topic(replayed.bootstrap, again)
    run = by_source(replayed.run_output)
    assert {s: (p, (k, v, h)) for s, (p, (k, v, h)) in by_source(written).items()} == run
    assert len(written) == N
    doc_manifest = Manifest.from_json(manifest.read_bytes())
    assert doc_manifest.output.kind == "topics"
    assert sum(w.records for w in doc_manifest.output.written) == N  # type: ignore[union-attr]
    audit = [json.loads(rec.value) for rec in read_topic(replayed.bootstrap, doc["audit_topic"]) if rec.value]
    replay_audit = [a for a in audit if a["instance"].startswith("replay-")]
    assert sum(a["records"]["out"] for a in replay_audit) == N, "each replay transaction has its audit record"
    fingerprint = MasterKey(bytes.fromhex(KEY_HEX), "2026q4").fingerprint
    assert doc_manifest.key_fingerprint == fingerprint and {a["key_fingerprint"] for a in replay_audit} == {fingerprint}
    verified = replay(replayed, "--verify", str(manifest), config=config)
    assert verified.returncode == 0, verified.stdout.decode() + verified.stderr.decode()[-3000:]


def test_verify_passes_then_fails_after_one_output_record_is_altered(replayed: Replayed) -> None:
    path = replayed.dir / "verify.jsonl"
    assert replay(replayed, "--output", str(path)).returncode == 0
    manifest = f"{path}.manifest.json"
    ok = replay(replayed, "--verify", manifest)
    assert ok.returncode == 0, ok.stdout.decode() + ok.stderr.decode()[-3000:]
    assert "verified" in ok.stdout.decode()
    lines = path.read_bytes().splitlines()
    doc = orjson.loads(lines[100])
    doc["payload"] = doc["payload"].replace('"op":"c"', '"op":"u"')
    lines[100] = orjson.dumps(doc)
    source = "/".join(doc["headers"][1::2])  # streammask.source.topic, .partition, .offset
    path.write_bytes(b"\n".join(lines) + b"\n")
    bad = replay(replayed, "--verify", manifest)
    assert bad.returncode == 1, bad.stdout.decode() + bad.stderr.decode()[-3000:]
    text = bad.stdout.decode()
    assert f"the output differs from what was replayed: source record {source} -> {doc['topic']}/" in text


def test_verify_fails_when_the_key_material_changed_under_the_same_key_id(replayed: Replayed) -> None:
    path = replayed.dir / "key.jsonl"
    assert replay(replayed, "--output", str(path)).returncode == 0
    bad = replay(replayed, "--verify", f"{path}.manifest.json", key_hex=OTHER_KEY_HEX)
    assert bad.returncode == 1, bad.stdout.decode() + bad.stderr.decode()[-3000:]
    fingerprints = [MasterKey(bytes.fromhex(h), "2026q4").fingerprint for h in (OTHER_KEY_HEX, KEY_HEX)]
    assert ("re-masking the source differs: key: key fingerprint differs: {}, expected {} (the same key id 2026q4, "
            "other key material)".format(*fingerprints)) in bad.stdout.decode()


def test_an_offset_range_replays_just_those_records(replayed: Replayed) -> None:
    path = replayed.dir / "range.jsonl"
    spec_from = f"{replayed.src}:0:10,{replayed.src}:1:20"
    spec_to = f"{replayed.src}:0:15,{replayed.src}:1:20"
    proc = replay(replayed, "--from", spec_from, "--to", spec_to, "--output", str(path))
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert sorted(line["offset"] for line in lines) == [10, 11, 12, 13, 14]
    manifest = Manifest.from_json(Path(f"{path}.manifest.json").read_bytes())
    assert [(p.partition, p.start, p.end, p.records) for p in manifest.source.partitions] == [(0, 10, 15, 5),
                                                                                            (1, 20, 20, 0)]
    assert replay(replayed, "--verify", f"{path}.manifest.json").returncode == 0


def test_a_bad_spec_is_a_usage_error_naming_it(replayed: Replayed) -> None:
    proc = replay(replayed, "--from", "2024-06-03T09:00:00", "--output", str(replayed.dir / "x.jsonl"))
    assert proc.returncode == 2
    assert "--from" in proc.stderr.decode()


def test_a_replay_to_topics_written_under_another_key_id_is_refused(replayed: Replayed, tmp_path: Path) -> None:
    """The target topic holds run's records under key id 2026q4; a replay under another key id would mix two
    mappings in it: refused before anything is written, naming both ids."""
    policy = tmp_path / "rotated.yaml"
    policy.write_text(POLICY.read_text().replace("id: \"2026q4\"", "id: \"2027q1\""))
    config = write_config(tmp_path, {**replayed.doc, "policy": str(policy)})
    before = len(read_topic(replayed.bootstrap, replayed.out))
    proc = replay(replayed, "--manifest", str(tmp_path / "m.json"), config=config, key_hex=OTHER_KEY_HEX)
    assert proc.returncode == 1, proc.stderr.decode()[-3000:]
    err = proc.stderr.decode()
    assert "'2026q4'" in err and "'2027q1'" in err and "key_rotation" in err
    assert len(read_topic(replayed.bootstrap, replayed.out)) == before
    assert not (tmp_path / "m.json").exists()


def test_a_replay_to_topics_under_another_secret_with_the_same_key_id_is_refused(
    replayed: Replayed, tmp_path: Path
) -> None:
    """Issue 12: the same check as ``run``'s (``continuity.check_key``): other key material under key id 2026q4
    would mix two mappings as surely as another key id."""
    before = len(read_topic(replayed.bootstrap, replayed.out))
    proc = replay(replayed, "--manifest", str(tmp_path / "m.json"), key_hex=OTHER_KEY_HEX)
    assert proc.returncode == 1, proc.stderr.decode()[-3000:]
    old, new = (MasterKey(bytes.fromhex(h), "2026q4").fingerprint for h in (KEY_HEX, OTHER_KEY_HEX))
    err = proc.stderr.decode()
    assert f"error: same key id '2026q4' but another key (fingerprint {old} → {new}) for group " \
           f"{replayed.doc['group_id']}: the key material changed without a new key id; target topic(s) " \
           f"{replayed.out} last written under fingerprint {old}" in err, err
    assert len(read_topic(replayed.bootstrap, replayed.out)) == before
    assert not (tmp_path / "m.json").exists()


def test_an_acknowledged_rotation_is_recorded_in_the_replays_first_audit_record(
    replayed: Replayed, tmp_path: Path
) -> None:
    """A replay that continues a target topic under a new key, as the config's ``key_rotation`` allows, says so
    in its first audit record, as ``run`` does: who approved mixing which topics, and the policy before."""
    rotated_topic = unique_topic("rotated")
    create_topic(replayed.bootstrap, rotated_topic, PARTITIONS)
    routed = {**replayed.doc, "routing": [{"match": re.escape(replayed.src), "to": rotated_topic}],
              "batch": {**replayed.doc.get("batch", {}), "max_records": 100}}

    def chains() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for rec in read_topic(replayed.bootstrap, routed["audit_topic"]):
            doc = json.loads(rec.value) if rec.value else {}
            if str(doc.get("instance", "")).startswith("replay-"):
                found.setdefault(doc["instance"], []).append(doc)
        return {name: sorted(docs, key=lambda d: d["sequence"]) for name, docs in found.items()}

    before = chains()
    first = replay(replayed, "--manifest", str(tmp_path / "first.json"), config=write_config(tmp_path, routed))
    assert first.returncode == 0, first.stderr.decode()[-3000:]
    after_first = chains()
    policy = tmp_path / "rotated.yaml"
    policy.write_text(POLICY.read_text().replace("id: \"2026q4\"", "id: \"2027q1\""))
    ack = {"from_key_id": "2026q4", "to_key_id": "2027q1", "approved_by": "dpo@example.org",
           "reason": "quarterly rotation"}
    config = write_config(tmp_path, {**routed, "policy": str(policy), "key_rotation": ack}, "rotated-config.yaml")
    second = replay(replayed, "--manifest", str(tmp_path / "second.json"), config=config, key_hex=OTHER_KEY_HEX)
    assert second.returncode == 0, second.stderr.decode()[-3000:]
    assert "key rotation acknowledged" in second.stderr.decode()
    after_second = chains()
    [old] = [docs for name, docs in after_first.items() if name not in before]
    [new] = [docs for name, docs in after_second.items() if name not in after_first]
    assert len(old) == len(new) == 3  # 240 records, 100 per transaction
    assert {a["key_id"] for a in old} == {"2026q4"} and {a["key_id"] for a in new} == {"2027q1"}
    assert all("key_rotation" not in a and "policy_changed_from" not in a for a in old)
    assert new[0]["key_rotation"] == {**ack, "target_topics": [rotated_topic]}
    assert new[0]["policy_changed_from"] == old[0]["policy_sha256"] != new[0]["policy_sha256"]
    assert all("key_rotation" not in a and "policy_changed_from" not in a for a in new[1:])
