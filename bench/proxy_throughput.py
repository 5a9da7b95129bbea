"""End-to-end throughput and memory of ``streammask run`` against a plain consume -> produce copy.

One run: a broker (a local Tansu, or ``--bootstrap``), a source topic loaded with a backlog of N
Debezium events (core_throughput's generator: ~3.2 KB JSON-with-schema, 6 masked columns), then

1. **plain copy**: a subprocess that copies the bytes to a copy topic with the proxy's own client
   settings (``streammask.proxy.clients.source_consumer``/``target_producer`` on the same config), the
   same batch size, one transaction per batch with ``send_offsets_to_transaction``; no masking;
2. **streammask run**: the real proxy as a ``streammask run --config`` subprocess, to a masked topic.

Throughput is events / (first record consumed -> last transaction committed); for the proxy the
times come from its own audit records (``started_at`` of the first, ``committed_at`` of the last).
While each runs, the RSS of its process (and of the local broker) is sampled every second.

Usage: python bench/proxy_throughput.py [--events N] [--smoke] [--check] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_throughput import POLICY, iter_events  # noqa: E402

from streammask.proxy.clients import admin, ensure_topics, fetch, source_consumer, target_producer  # noqa: E402
from streammask.proxy.config import KafkaProps, ProxyConfig  # noqa: E402
from streammask.proxy.local_broker import LocalBroker, free_port  # noqa: E402

TARGET_RATIO = 0.6
# Flat: the highest RSS of the second half of the backlog exceeds the highest of the first half (after
# 10 % warm-up) by less than FLAT_GROWTH_MB and FLAT_GROWTH_FRACTION. Maxima, because RSS swings with the
# client's prefetch queue (up to 64 MB); halves, because a leak shows as a trend, later peaks above earlier.
FLAT_GROWTH_FRACTION = 0.10
FLAT_GROWTH_MB = 25.0
SOURCE_TOPIC = "dbserver1.public.customers"
SESSION_TIMEOUT_MS = 6000  # Tansu: a new group's first join waits about half of this


# -- memory sampling -------------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (all its threads) so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    t: float
    progress: int  # records consumed (committed) so far
    rss: float | None
    broker_rss: float | None
    cpu: float | None = None
    broker_cpu: float | None = None


@dataclass
class Sampler:
    """Every ``interval`` s: the RSS of ``pid`` and of the broker, and the progress ``progress()`` reports."""

    pid: int
    broker_pid: int | None
    progress: Any  # Callable[[], int]
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        try:
            done = int(self.progress())
        except Exception:
            done = self.samples[-1].progress if self.samples else 0
        broker, broker_cpu = (rss_mb(self.broker_pid), cpu_s(self.broker_pid)) if self.broker_pid else (None, None)
        self.samples.append(Sample(time.monotonic(), done, rss_mb(self.pid), broker, cpu_s(self.pid), broker_cpu))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def rss_at(samples: list[Sample], total: int, fraction: float) -> Sample | None:
    """The first sample at or past ``fraction`` of ``total`` records."""
    for s in samples:
        if s.progress >= fraction * total and s.rss is not None:
            return s
    return None


# -- the backlog ------------------------------------------------------------------------------------


def load_backlog(bootstrap: str, topic: str, n: int, partitions: int) -> float:
    """Produce ``n`` events to ``topic`` (keyed: murmur2 spreads them over the partitions); bytes/event."""
    producer = Producer({
        "bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1_000_000, "acks": "all",
        "queue.buffering.max.kbytes": 512 * 1024, "partitioner": "murmur2",
    })
    size = 0
    for i, (key, value) in enumerate(iter_events(n, updates=False)):
        size += len(value)
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("backlog not fully delivered")
    return size / max(n, 1)


def group_progress(consumer: Consumer, topic: str, partitions: int) -> int:
    """Committed offsets of ``consumer``'s group on ``topic``, summed (the backlog starts at offset 0)."""
    tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=5)
    return sum(max(0, tp.offset) for tp in tps)


# -- plain copy (a subprocess running this file with --plain-worker) --------------------------------


def plain_worker(config_json: str, source: str, target: str, total: int) -> int:
    """Consume -> produce of the bytes, one transaction per batch, as the proxy does, minus masking.
    Prints {"first": wall time of the first record, "last": of the last commit, "records": n, "rss": MB, "cpu": s}."""
    config = ProxyConfig.model_validate_json(config_json)
    consumer, producer = source_consumer(config), target_producer(config)
    producer.init_transactions(30)
    consumer.subscribe([source])
    max_records, max_s = config.batch.max_records, config.batch.max_ms / 1000
    in_txn, records, started = False, 0, 0.0
    offsets: dict[int, int] = {}
    done, first, first_commit, after_first = 0, 0.0, 0.0, 0

    def commit() -> None:
        nonlocal in_txn, records, done, first_commit, after_first
        tps = [TopicPartition(source, p, o) for p, o in offsets.items()]
        producer.send_offsets_to_transaction(tps, consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
        if first_commit:
            after_first += records
        else:
            first_commit = time.time()
        done += records
        in_txn, records = False, 0

    while done < total:
        for msg in fetch(consumer):  # the proxy's own fetch: what is queued, waiting only when nothing is
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    print(f"consumer error: {err}", file=sys.stderr)
                continue
            partition, offset = msg.partition(), msg.offset()
            if partition is None or offset is None:
                continue
            if not in_txn:
                if not first:
                    first = time.time()
                producer.begin_transaction()
                in_txn, started = True, time.monotonic()
            kwargs: dict[str, Any] = {"key": msg.key(), "value": msg.value()}
            if msg.headers():
                kwargs["headers"] = msg.headers()
            ts_type, ts = msg.timestamp()
            if ts_type != 0 and ts > 0:
                kwargs["timestamp"] = ts
            while True:
                try:
                    producer.produce(target, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.1)
            offsets[partition] = offset + 1
            records += 1
            if records >= max_records:
                commit()
        if in_txn and time.monotonic() - started >= max_s:
            commit()
        producer.poll(0)
    last = time.time()
    rss, cpu = rss_mb(os.getpid()), cpu_s(os.getpid())  # this process is gone by the parent's last sample
    consumer.close()
    print(json.dumps({"first": first, "last": last, "records": done, "rss": rss, "cpu": cpu,
                      "first_commit": first_commit, "after_first": after_first}))
    return 0


# -- the runs ----------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    records: int
    seconds: float
    samples: list[Sample]
    steady_records: int = 0  # after the first transaction: without warm-up (lazy pools, first fetches)
    steady_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def steady_rate(self) -> float:
        return self.steady_records / self.steady_seconds if self.steady_seconds > 0 else 0.0

    def line(self) -> str:
        return (f"{self.name + ':':<16}{self.records:,} events in {self.seconds:.2f} s: {self.rate:,.0f} events/s; "
                f"after the first transaction {self.steady_rate:,.0f} events/s")


def run_plain(base: dict[str, Any], source: str, target: str, n: int, partitions: int, broker_pid: int | None,
              bootstrap: str) -> Result:
    config = ProxyConfig.model_validate({**base, "group_id": f"bench-plain-{uuid.uuid4().hex[:6]}",
                                         "instance_id": "plain", "routing": [{"match": ".*", "to": target}],
                                         "policy": "unused"})
    proc = subprocess.Popen(
        [sys.executable, __file__, "--plain-worker", config.model_dump_json(), source, target, str(n)],
        stdout=subprocess.PIPE,
    )
    watcher = source_consumer(config)
    sampler = Sampler(proc.pid, broker_pid, lambda: group_progress(watcher, source, partitions)).start()
    out, _ = proc.communicate()
    sampler.stop()
    watcher.close()
    if proc.returncode != 0:
        raise RuntimeError(f"plain copy exited {proc.returncode}")
    doc = json.loads(out.decode().strip().splitlines()[-1])
    sampler.samples.append(Sample(time.monotonic(), n, doc["rss"], rss_mb(broker_pid) if broker_pid else None,
                                  doc["cpu"], cpu_s(broker_pid) if broker_pid else None))
    return Result("plain copy", int(doc["records"]), doc["last"] - doc["first"], sampler.samples,
                  int(doc["after_first"]), doc["last"] - doc["first_commit"])


def _metric_total(port: int, name: str) -> int:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    return int(sum(float(m.group(1)) for m in re.finditer(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M)))


def _ts(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def read_audit(bootstrap: str, topic: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-audit-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    consumer.assign([TopicPartition(topic, 0, low)])
    docs: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    seen_to = low
    while seen_to < high and time.monotonic() < deadline:
        for msg in consumer.consume(500, 0.5):
            if msg.error() is None:
                seen_to = max(seen_to, (msg.offset() or 0) + 1)
                value = msg.value()
                if value:
                    docs.append(orjson.loads(value))
    consumer.close()
    return docs


def run_proxy(base: dict[str, Any], source: str, target: str, n: int, broker_pid: int | None, bootstrap: str,
              workdir: Path, profile: Path | None) -> Result:
    port = free_port()
    suffix = uuid.uuid4().hex[:6]
    policy = workdir / "policy.yaml"
    policy.write_bytes(POLICY)
    audit_topic = f"bench.audit.{suffix}"
    config = {**base, "group_id": f"bench-proxy-{suffix}", "instance_id": "bench",
              "routing": [{"match": re.escape(source), "to": target}], "policy": str(policy),
              "audit_topic": audit_topic, "checkpoint_topic": f"bench.checkpoints.{suffix}",
              "metrics": {"host": "127.0.0.1", "port": port}}
    config_path = workdir / "streammask.yaml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    env = {**os.environ, "BENCH_KEY": secrets.token_hex(32)}
    log = open(workdir / "proxy.log", "wb")  # noqa: SIM115 - closed below
    if profile is None:
        cmd = [str(Path(sys.executable).with_name("streammask")), "run", "--config", str(config_path)]
    else:
        cmd = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "streammask.cli", "run",
               "--config", str(config_path)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)

    def progress() -> int:
        return _metric_total(port, "streammask_records_in_total")

    sampler = Sampler(proc.pid, broker_pid, progress).start()
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streammask run exited {proc.returncode}; see {workdir / 'proxy.log'}")
            if sampler.samples and sampler.samples[-1].progress >= n:
                break
            time.sleep(0.2)
        sampler.sample()
    finally:
        sampler.stop()
        proc.terminate()
        proc.wait(60)
        log.close()
    audits = read_audit(bootstrap, audit_topic)
    records = sum(int(a["records"]["in"]) for a in audits)
    seconds = _ts(audits[-1]["committed_at"]) - _ts(audits[0]["started_at"])
    steady = sum(int(a["records"]["in"]) for a in audits[1:])
    steady_s = _ts(audits[-1]["committed_at"]) - _ts(audits[0]["committed_at"])
    return Result("streammask run", records, seconds, sampler.samples, steady, steady_s)


# -- report ------------------------------------------------------------------------------------------


def memory_report(result: Result, n: int) -> tuple[str, bool]:
    points = {f: rss_at(result.samples, n, f) for f in (0.1, 0.5, 0.9, 1.0)}
    cells = ", ".join(f"{int(f * 100)}% {s.rss:.0f} MB" if s and s.rss else f"{int(f * 100)}% -"
                      for f, s in points.items())
    start, end = points[0.1], points[1.0]
    if not (start and end and start.rss and end.rss):
        return f"{result.name} RSS: {cells} (too few samples for growth)", True
    first = [s.rss for s in result.samples if s.rss and 0.1 * n <= s.progress < 0.5 * n]
    second = [s.rss for s in result.samples if s.rss and s.progress >= 0.5 * n]
    if not (first and second):
        return f"{result.name} RSS: {cells} (too few samples for growth)", True
    growth, worst = end.rss - start.rss, max(second) - max(first)
    flat = worst < FLAT_GROWTH_MB and worst < FLAT_GROWTH_FRACTION * max(first)
    peak = max(s.rss for s in result.samples if s.rss)
    deciles = [rss_at(result.samples, n, d / 10) for d in range(1, 11)]
    series = " ".join(f"{s.rss:.0f}" if s and s.rss else "-" for s in deciles)
    return (f"{result.name} RSS: {cells}; peak {peak:.0f} MB; 10%->100% {growth:+.0f} MB; highest of 50-100% vs "
            f"10-50%: {worst:+.0f} MB ({worst / max(first):+.1%}): {'flat' if flat else 'NOT flat'} (flat: < "
            f"{FLAT_GROWTH_MB:.0f} MB and < {FLAT_GROWTH_FRACTION:.0%})\n"
            f"  at every 10%: {series} MB"), flat


def cpu_report(result: Result) -> str:
    """CPU per event between the first sample with progress and the last one (startup and group join
    excluded): less sensitive to a busy machine than events/s."""
    live = [s for s in result.samples if s.progress > 0 and s.cpu is not None]
    if len(live) < 2 or live[-1].progress <= live[0].progress:
        return f"{result.name} CPU: too few samples"
    first, last, n = live[0], live[-1], live[-1].progress - live[0].progress
    out = f"{result.name} CPU: {(last.cpu or 0) - (first.cpu or 0):.1f} s for {n:,} events, "
    out += f"{((last.cpu or 0) - (first.cpu or 0)) / n * 1e6:.0f} us/event (all its threads)"
    if first.broker_cpu is not None and last.broker_cpu is not None:
        out += f"; broker {(last.broker_cpu - first.broker_cpu) / n * 1e6:.0f} us/event"
    return out


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--plain-worker":
        return plain_worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--smoke", action="store_true", help="20,000 events: a CI-sized run (< 60 s)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--bootstrap", help="a running Kafka instead of a local Tansu broker")
    parser.add_argument("--only", choices=("plain", "proxy"), help="run one side only (no ratio)")
    parser.add_argument("--max-records", type=int, default=5000, help="batch.max_records (proxy default)")
    parser.add_argument("--max-ms", type=int, default=500, help="batch.max_ms (proxy default)")
    parser.add_argument("--profile", type=Path, help="run the proxy under cProfile, stats to this file")
    parser.add_argument("--check", action="store_true", help=f"exit 1 below a ratio of {TARGET_RATIO}")
    args = parser.parse_args()
    n = 20_000 if args.smoke else args.events

    broker = None if args.bootstrap else LocalBroker().start()
    bootstrap = args.bootstrap or (broker.bootstrap if broker else "")
    broker_pid = broker._proc.pid if broker is not None and broker._proc is not None else None
    try:
        suffix = uuid.uuid4().hex[:6]
        source, copy, masked = f"{SOURCE_TOPIC}.{suffix}", f"bench.copy.{suffix}", f"bench.masked.{suffix}"
        props: KafkaProps = {"bootstrap.servers": bootstrap}
        ensure_topics(admin(props), {t: (args.partitions, {}) for t in (source, copy, masked)})
        t0 = time.monotonic()
        size = load_backlog(bootstrap, source, n, args.partitions)
        load_s = time.monotonic() - t0
        broker_after_load = rss_mb(broker_pid) if broker_pid else None
        print(f"backlog: {n:,} events of {size:,.0f} B on {args.partitions} partitions of {source}, "
              f"loaded in {load_s:.1f} s ({n / load_s:,.0f} events/s)"
              + (f"; broker RSS {broker_after_load:,.0f} MB" if broker_after_load else ""), flush=True)
        base: dict[str, Any] = {
            "source": {**props, "session.timeout.ms": SESSION_TIMEOUT_MS}, "topics": [source],
            "batch": {"max_records": args.max_records, "max_ms": args.max_ms},
        }
        results: dict[str, Result] = {}
        if args.only != "proxy":
            results["plain"] = run_plain(base, source, copy, n, args.partitions, broker_pid, bootstrap)
            print(results["plain"].line(), flush=True)
        if args.only != "plain":
            with tempfile.TemporaryDirectory(prefix="streammask-bench-") as tmp:
                results["proxy"] = run_proxy(base, source, masked, n, broker_pid, bootstrap, Path(tmp), args.profile)
            print(results["proxy"].line(), flush=True)
        ok = True
        for r in results.values():
            line, flat = memory_report(r, n)
            print(line)
            print(cpu_report(r))
            ok = ok and (flat or r.name != "streammask run")
        if broker_pid:
            print(f"broker RSS: {broker_after_load or 0:,.0f} MB after the load, "
                  f"{rss_mb(broker_pid) or 0:,.0f} MB at the end (Tansu keeps every topic in memory)")
        if "plain" in results and "proxy" in results:
            ratio = results["proxy"].rate / results["plain"].rate
            steady = results["proxy"].steady_rate / results["plain"].steady_rate
            verdict = f"{'meets' if ratio >= TARGET_RATIO else 'BELOW'} the target {TARGET_RATIO}"
            if args.smoke:
                verdict = "smoke run: too short to judge, the consumers prefetch most of it while joining"
            print(f"ratio streammask/plain: {ratio:.3f} ({verdict}); "
                  f"after the first transaction {steady:.3f}")
            ok = ok and (ratio >= TARGET_RATIO or args.smoke)
        return 1 if args.check and not ok else 0
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
