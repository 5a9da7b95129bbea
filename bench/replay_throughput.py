"""Throughput and memory of ``streammask replay`` to a file, and of ``--verify`` of that file.

One run: a broker (a local Tansu, or ``--bootstrap``), a source topic loaded with N Debezium events
(core_throughput's generator: ~3.2 KB JSON-with-schema, 6 masked columns, keyed over the partitions), then

1. ``streammask replay --output FILE`` of the whole range, as a subprocess: records/s as the command reports
   it (first record read -> last written, after resolving the ranges), wall time of the whole command, and
   the process's peak RSS;
2. ``streammask replay --verify MANIFEST``: re-read, re-mask, read the file back, compare.

Tansu answers ListOffsets(latest) with the last batch's base offset + 1, so the backlog is produced one
record per batch (``batch.num.messages: 1``) and ``--to`` names each partition's end as the delivery reports
counted it; the replay must read exactly N records.

Usage: python bench/replay_throughput.py [--events N] [--partitions P] [--smoke] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_throughput import POLICY, iter_events  # noqa: E402

from streammask.proxy.clients import admin, ensure_topics  # noqa: E402
from streammask.proxy.local_broker import LocalBroker  # noqa: E402

SOURCE_TOPIC = "dbserver1.public.customers"
KEY_HEX = "00" * 32


def load(bootstrap: str, topic: str, n: int) -> tuple[Counter[int], float]:
    """Produce ``n`` events (murmur2 over the keys); records per partition (from delivery reports), bytes/event."""
    # One record per batch: Tansu's end offset is its last batch's base offset + 1, right only then.
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 1, "acks": "all",
                         "queue.buffering.max.kbytes": 512 * 1024, "partitioner": "murmur2"})
    per_partition: Counter[int] = Counter()
    errors: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            per_partition[msg.partition()] += 1

    size = 0
    for key, value in iter_events(n, updates=False):
        size += len(value)
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120) or errors:
        raise RuntimeError(f"backlog not fully delivered: {errors[:3]}")
    return per_partition, size / max(n, 1)


def streammask(*args: str) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """The command, its wall time and its peak RSS in MB (VmHWM, read while it runs)."""
    env = {**os.environ, "BENCH_KEY": KEY_HEX}
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([sys.executable, "-m", "streammask", *args], stdout=out, stderr=err, env=env)
        peak = 0.0
        while child.poll() is None:
            peak = max(peak, _hwm_mb(child.pid))
            time.sleep(0.1)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        proc = subprocess.CompletedProcess(child.args, child.returncode, out.read(), err.read())
    if proc.returncode != 0:
        raise RuntimeError(f"streammask {args[0]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc, wall, peak


def _hwm_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="5,000 events: a CI-sized run")
    parser.add_argument("--bootstrap", help="a running Kafka instead of a local Tansu broker")
    args = parser.parse_args()
    n = 5_000 if args.smoke else args.events
    broker = None if args.bootstrap else LocalBroker().start()
    bootstrap = args.bootstrap or (broker.bootstrap if broker else "")
    try:
        suffix = uuid.uuid4().hex[:6]
        source, target = f"{SOURCE_TOPIC}.{suffix}", f"bench.replayed.{suffix}"
        ensure_topics(admin({"bootstrap.servers": bootstrap}), {source: (args.partitions, {})})
        t0 = time.monotonic()
        per_partition, size = load(bootstrap, source, n)
        print(f"source: {n:,} events of {size:,.0f} B on {args.partitions} partitions, loaded in "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        with tempfile.TemporaryDirectory(prefix="streammask-bench-") as tmp:
            directory = Path(tmp)
            policy = directory / "policy.yaml"
            policy.write_bytes(POLICY)
            config = directory / "config.yaml"
            config.write_text(yaml.safe_dump({
                "source": {"bootstrap.servers": bootstrap}, "topics": [source],
                "routing": [{"match": re.escape(source), "to": target}], "policy": str(policy),
                "group_id": f"bench-{suffix}",
            }))
            to = ",".join(f"{source}:{p}:{per_partition[p]}" for p in range(args.partitions))
            output = directory / "replay.jsonl"
            proc, wall, rss = streammask("replay", "--config", str(config), "--to", to, "--output", str(output))
            rate = re.search(r"\(([\d,]+) records/s\)", proc.stdout)
            if f"replayed {n:,} records" not in proc.stdout:
                raise RuntimeError(f"the replay did not read the {n:,} records: {proc.stdout}")
            print(f"replay to a file: {proc.stdout.strip()}", flush=True)
            print(f"replay to a file: {rate.group(1) if rate else '?'} records/s while reading; {n / wall:,.0f} "
                  f"records/s over the whole command ({wall:.1f} s wall, with start-up); peak RSS {rss:,.0f} MB; "
                  f"output {output.stat().st_size / n:,.0f} B/record", flush=True)
            proc, wall, rss = streammask("replay", "--config", str(config), "--verify", f"{output}.manifest.json")
            print(f"verify: {proc.stdout.strip()}")
            print(f"verify: {n / wall:,.0f} records/s over the whole command ({wall:.1f} s wall); peak RSS "
                  f"{rss:,.0f} MB (it keeps about 100 B per record to name the first differing one)", flush=True)
        return 0
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
