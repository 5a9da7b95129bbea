"""Helpers to drive ``streammask run`` end to end against a real Kafka-protocol broker.

- ``ProxyProcess`` / ``run_proxy(...)``: the proxy as users run it, a subprocess ``python -m streammask
  run --config FILE`` with ``STREAMMASK_KEY`` in its environment (so SIGTERM and kill -9 are real), its
  metrics port, stdout and stderr captured to files;
- ``proxy_config(...)``: a config document (dict) for one test: unique group, audit and checkpoint topics;
- ``produce(...)``, ``read_topic(...)``, ``read_until(...)``: write records and read a whole topic back
  (every partition, from the beginning, ``read_committed``), with bounded waits;
- ``wait_for(...)``: poll a condition until a deadline (never a fixed sleep);
- ``parse_metrics(...)``: the Prometheus text as ``{(name, labels): value}``;
- ``offline_mask(...)``: what ``streammask.masker`` makes of the same input (the reference output).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
import yaml
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streammask.bootstrap import open_masker
from streammask.outcome import Blocked, Masked
from streammask.pipeline import SOURCE_HEADERS
from tests.broker import free_port

REPO = Path(__file__).resolve().parent.parent
POLICY = REPO / "policies" / "ecommerce.yaml"
KEY_HEX = bytes(range(32)).hex()
SESSION_TIMEOUT_MS = 6000  # Tansu: a new group's join waits about half of it

T = TypeVar("T")
Headers = list[tuple[str, bytes | None]]


# -- waiting -----------------------------------------------------------------------------------------


def full_kafka_or_skip(why: str) -> str:
    """The bootstrap servers of the full Kafka named by ``STREAMMASK_TEST_BOOTSTRAP``; without one, skips the
    test saying ``why`` the test broker (Tansu) cannot show what it asserts."""
    bootstrap = os.environ.get("STREAMMASK_TEST_BOOTSTRAP")
    if not bootstrap:
        pytest.skip(f"needs a full Kafka: set STREAMMASK_TEST_BOOTSTRAP=host:port ({why})")
    return bootstrap


def wait_for(condition: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.2) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout_s`` naming ``what``."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(interval_s)


def poll_until(condition: Callable[[], object], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Like ``wait_for`` but returns False at the deadline instead of failing."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)
    return True


# -- records -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One record as read back from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    @property
    def source(self) -> tuple[str, int, int]:
        """The ``streammask.source.*`` headers as (topic, partition, offset)."""
        t, p, o = (self.header(h) for h in SOURCE_HEADERS)
        assert t is not None and p is not None and o is not None, f"record without source headers: {self}"
        return t.decode(), int(p), int(o)

    @property
    def content(self) -> tuple[bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...]]:
        """What must be byte-identical between duplicates: key, value and headers."""
        return self.key, self.value, self.headers


@dataclass(frozen=True)
class SourceRecord:
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)
    partition: int | None = None


def produce(
    bootstrap: str, topic: str, records: Sequence[SourceRecord], timeout_s: float = 60.0, one_per_batch: bool = False
) -> None:
    """Produce in order (idempotent producer, so per-partition order holds) and wait for every ack.

    ``one_per_batch``: one record per produce request. Tansu answers ListOffsets(latest) with the base
    offset of a partition's last record *batch* + 1 (measured: 3 batches of 5 records -> end offset 11),
    so end offsets and lag are only right when every batch holds one record."""
    linger_ms = 0 if one_per_batch else 5
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": linger_ms})
    errors: list[str] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for r in records:
        kwargs: dict[str, Any] = {"key": r.key, "value": r.value, "headers": list(r.headers), "on_delivery": report}
        if r.partition is not None:
            kwargs["partition"] = r.partition
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        if one_per_batch:
            producer.flush(timeout_s)
    remaining = producer.flush(timeout_s)
    assert remaining == 0 and not errors, f"produce to {topic}: {remaining} unacknowledged, errors {errors[:3]}"


class StreamProducer(threading.Thread):
    """Produces ``records`` in chunks with a pause between them, in order, in the background: a live
    stream, so a proxy killed while it runs is killed in the middle of the stream."""

    def __init__(self, bootstrap: str, topic: str, records: Sequence[SourceRecord], chunk: int = 100,
                 pause_s: float = 0.1) -> None:
        super().__init__(name=f"produce-{topic}", daemon=True)
        self.bootstrap, self.topic, self.records, self.chunk, self.pause_s = bootstrap, topic, records, chunk, pause_s
        self.error: BaseException | None = None

    def run(self) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "linger.ms": 5})
        try:
            for start in range(0, len(self.records), self.chunk):
                for r in self.records[start:start + self.chunk]:
                    producer.produce(self.topic, key=r.key, value=r.value, headers=list(r.headers),
                                     partition=r.partition if r.partition is not None else -1)
                remaining = producer.flush(30)
                assert remaining == 0, f"{remaining} record(s) not acknowledged"
                time.sleep(self.pause_s)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self, timeout_s: float = 120.0) -> None:
        self.join(timeout_s)
        assert not self.is_alive(), f"producing to {self.topic} did not finish in {timeout_s} s"
        if self.error is not None:
            raise self.error


def _reader(bootstrap: str, isolation: str = "read_committed") -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"test-reader-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": True,
    })


def _header_items(msg: Message) -> list[tuple[str, str | bytes | None]]:
    raw = msg.headers()
    if not raw:
        return []
    return list(raw.items()) if isinstance(raw, dict) else list(raw)


def read_topic(
    bootstrap: str, topic: str, timeout_s: float = 30.0, isolation: str = "read_committed"
) -> list[Record]:
    """Every record of every partition of ``topic`` up to its end as of now (no group join: assign)."""
    consumer = _reader(bootstrap, isolation)
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        ends: dict[int, int] = {}  # a lower bound on Tansu (see below); partition EOF decides
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s, cached=False)
            if high > low:
                ends[p] = high
        if not ends:
            return []
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        out: list[Record] = []
        pending = set(ends)
        deadline = time.monotonic() + timeout_s
        while pending:
            assert time.monotonic() < deadline, f"could not read {topic} to its end {ends} in {timeout_s} s"
            for msg in consumer.consume(1000, 0.2):
                err = msg.error()
                p = msg.partition()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF and p is not None and (
                        consumer.position([TopicPartition(topic, p)])[0].offset >= ends[p]
                    ):
                        pending.discard(p)
                    continue
                offset = msg.offset()
                assert p is not None and offset is not None
                headers = tuple((k, v.encode() if isinstance(v, str) else v) for k, v in _header_items(msg))
                out.append(Record(topic, p, offset, msg.key(), msg.value(), headers))
                # no shortcut at offset + 1 == end: Tansu's end offset is the last *batch*'s base + 1
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def read_until(
    bootstrap: str, topic: str, done: Callable[[list[Record]], bool], timeout_s: float, what: str,
    isolation: str = "read_committed",
) -> list[Record]:
    """Re-read ``topic`` until ``done(records)``; fail after ``timeout_s``."""
    result: list[list[Record]] = []

    def check() -> bool:
        records = read_topic(bootstrap, topic, isolation=isolation)
        result[:] = [records]
        return done(records)

    try:
        wait_for(check, timeout_s, what, interval_s=0.5)
    except AssertionError as exc:
        got = len(result[0]) if result else 0
        raise AssertionError(f"{exc}; {topic} holds {got} record(s)") from None
    return result[0]


def distinct_sources(records: Sequence[Record]) -> set[tuple[str, int, int]]:
    return {r.source for r in records}


def check_duplicates_identical(records: Sequence[Record]) -> int:
    """Every duplicate (same source coordinates) is byte-identical to the first copy; returns their count."""
    first: dict[tuple[str, int, int], Record] = {}
    dups = 0
    for r in records:
        seen = first.setdefault(r.source, r)
        if seen is not r:
            dups += 1
            assert r.content == seen.content, f"duplicate of {r.source} differs from the first copy"
            assert r.partition == seen.partition, f"duplicate of {r.source} landed in another partition"
    return dups


# -- offline reference -------------------------------------------------------------------------------


def offline_mask(
    policy: Path, topic: str, records: Sequence[SourceRecord], key_hex: str = KEY_HEX
) -> list[Masked | Blocked]:
    """``streammask.masker`` on the same input, in process: the reference for the proxy's output."""
    old = os.environ.get("STREAMMASK_KEY")
    os.environ["STREAMMASK_KEY"] = key_hex
    try:
        setup = open_masker(policy)
    finally:
        if old is None:
            del os.environ["STREAMMASK_KEY"]
        else:
            os.environ["STREAMMASK_KEY"] = old
    return [setup.masker.mask(topic, r.key, r.value, list(r.headers)) for r in records]


def expected_headers(masked: Masked, topic: str, partition: int, offset: int) -> tuple[tuple[str, bytes | None], ...]:
    """The masked record's own headers, then the three source-coordinate headers (as the proxy writes them)."""
    coordinates = (topic.encode(), str(partition).encode(), str(offset).encode())
    return (*masked.headers, *zip(SOURCE_HEADERS, coordinates, strict=True))


# -- the proxy process -------------------------------------------------------------------------------


def proxy_config(
    bootstrap: str,
    topics: Sequence[str],
    routing: Sequence[tuple[str, str]],
    *,
    policy: Path = POLICY,
    instance_id: str = "i1",
    group_id: str | None = None,
    target: str | None = None,
    max_records: int = 50,
    max_ms: int = 200,
    metrics_port: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A config document for one test: its own group, audit and checkpoint topics, a free metrics port."""
    suffix = uuid.uuid4().hex[:8]
    doc: dict[str, Any] = {
        "source": {"bootstrap.servers": bootstrap, "session.timeout.ms": SESSION_TIMEOUT_MS},
        "topics": list(topics),
        "routing": [{"match": m, "to": t} for m, t in routing],
        "policy": str(policy),
        "group_id": group_id or f"g-{suffix}",
        "instance_id": instance_id,
        "audit_topic": f"audit-{suffix}",
        "checkpoint_topic": f"ckpt-{suffix}",
        "batch": {"max_records": max_records, "max_ms": max_ms},
        "metrics": {"host": "127.0.0.1", "port": metrics_port if metrics_port is not None else free_port()},
    }
    if target is not None:
        doc["target"] = {"bootstrap.servers": target}
    doc.update(extra)
    return doc


def write_config(directory: Path, doc: dict[str, Any], name: str | None = None) -> Path:
    path = directory / (name or f"streammask-{uuid.uuid4().hex[:8]}.yaml")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def cli(
    *args: str, input_bytes: bytes | None = None, key_hex: str = KEY_HEX, timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """``python -m streammask ARGS`` with the key in the environment."""
    full_env = {**os.environ, "STREAMMASK_KEY": key_hex, **(env or {})}
    return subprocess.run([sys.executable, "-m", "streammask", *args], input=input_bytes, capture_output=True,
                          env=full_env, timeout=timeout_s)


@dataclass
class ProxyProcess:
    config: dict[str, Any]
    config_path: Path
    stdout_path: Path
    stderr_path: Path
    process: subprocess.Popen[bytes]

    @property
    def port(self) -> int:
        return int(self.config["metrics"]["port"])

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def describe(self) -> str:
        state = "running" if self.running() else f"exited {self.process.returncode}"
        return f"proxy {self.config['instance_id']} ({state}); stderr tail:\n{self.stderr()[-3000:]}"

    def get(self, path: str, timeout_s: float = 2.0) -> tuple[int, str]:
        """(status, body) of ``GET path`` on the metrics port; (0, error) when nothing answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout_s) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        status, body = self.get("/metrics")
        if status != 200:
            return {}
        return parse_metrics(body)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples named ``name`` whose labels include ``labels`` (0 when none)."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.metrics().items() if n == name and want <= ls)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        def ready() -> bool:
            assert self.running(), f"the proxy exited before it was ready: {self.describe()}"
            return self.get("/readyz")[0] == 200

        wait_for(ready, timeout_s, f"/readyz of {self.config['instance_id']}")

    def wait_metric(self, name: str, at_least: float, timeout_s: float, **labels: str) -> float:
        def reached() -> float | None:
            assert self.running(), f"the proxy exited while waiting for {name}: {self.describe()}"
            value = self.metric(name, **labels)
            return value if value >= at_least else None

        return wait_for(reached, timeout_s, f"{name}{labels or ''} >= {at_least} on {self.config['instance_id']}")

    def terminate(self, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait for the exit code."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(
                f"the proxy did not exit within {timeout_s} s of SIGTERM: {self.describe()}"
            ) from None

    def kill(self) -> None:
        """kill -9: no cleanup of any kind."""
        if self.running():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def wait_exit(self, timeout_s: float) -> int:
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the proxy did not exit within {timeout_s} s: {self.describe()}") from None


def start_proxy(directory: Path, doc: dict[str, Any], key_hex: str = KEY_HEX) -> ProxyProcess:
    config_path = write_config(directory, doc)
    stem = config_path.stem
    stdout_path, stderr_path = directory / f"{stem}.stdout", directory / f"{stem}.stderr"
    env = {**os.environ, "STREAMMASK_KEY": key_hex, "PYTHONUNBUFFERED": "1"}
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "streammask", "run", "--config", str(config_path)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=directory,
        )
    return ProxyProcess(doc, config_path, stdout_path, stderr_path, process)


@contextlib.contextmanager
def run_proxy(directory: Path, doc: dict[str, Any], key_hex: str = KEY_HEX) -> Iterator[ProxyProcess]:
    """A running proxy; on exit it is killed if still running (tests stop it themselves when it matters)."""
    proc = start_proxy(directory, doc, key_hex)
    try:
        yield proc
    finally:
        if proc.running():
            proc.kill()


# -- metrics -----------------------------------------------------------------------------------------


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = float(sample.value)
    return out


def audit_records(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in read_topic(bootstrap, topic) if r.value]


# -- generated Debezium events -----------------------------------------------------------------------


def _make_customers() -> Any:
    """examples/make_customers.py as a module: its column definitions are the example policy's tables."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_customers", REPO / "examples" / "make_customers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_records() -> list[SourceRecord]:
    """examples/customers.jsonl (41 events of three tables), without its tombstone: the test broker does
    not deliver records with a null value."""
    out = []
    for line in (REPO / "examples" / "customers.jsonl").read_bytes().splitlines():
        doc = orjson.loads(line)
        if doc["payload"] is None:
            continue
        out.append(SourceRecord(doc["key"].encode() if doc["key"] is not None else None, doc["payload"].encode()))
    return out


def customer_events(n: int, partitions: int = 1, first_id: int = 200_000) -> list[SourceRecord]:
    """``n`` public.customers create events (with schema), one distinct customer each, spread round-robin
    over ``partitions``; every personal value is unique, so a leak of any of them is detectable."""
    from tests import events as ev

    mc = _make_customers()
    out = []
    for i in range(n):
        cid = first_id + i
        row = {
            "id": cid, "first_name": f"Gwendolyn{cid}", "last_name": f"Featherstonehaugh{cid}",
            "email": f"gwen.{cid}@private-mail.example", "phone": f"+1 555 {cid % 1000:03d} {cid % 10000:04d}",
            "birth_date": 5000 + cid % 9000, "balance": ev.decimal_bytes(f"{cid % 100000}.25", 2),
            "notes": f"secret note {cid}", "national_id": f"NID-{cid:09d}", "tier": "gold",
            "created_at": "2024-06-03T09:00:00Z", "updated_at": None, "status": "active", "marketing_opt_in": False,
        }
        value = ev.envelope(mc.CUSTOMER_FIELDS, None, row, "c", table="customers", server="shop",
                            ts_ms=ev.BASE_TS_MS + i, lsn=30_000_000 + i * 8)
        key = ev.key(mc.KEY_FIELDS["customers"], {"id": cid}, table="customers", server="shop")
        out.append(SourceRecord(key, value, partition=i % partitions))
    return out


def masked_values(r: SourceRecord, policy_doc: dict[str, Any], min_len: int = 5) -> set[str]:
    """Raw string values (``min_len`` characters or more) of the masked columns (not ``keep``, not
    passthrough, not enums: an enum's pseudonym is one of its allowed labels) in a record's rows."""
    if r.value is None:
        return set()
    event = orjson.loads(r.value)
    payload = event["payload"] if "schema" in event and "payload" in event else event
    enums: set[str] = set()
    if "schema" in event:
        for side in event["schema"].get("fields", []):
            if side.get("field") == "after":
                enums = {f["field"] for f in side.get("fields", []) if f.get("name") == "io.debezium.data.Enum"}
    source = payload.get("source") or {}
    table = f"{source.get('schema') or source.get('db')}.{source.get('table')}"
    spec = (policy_doc["tables"].get(table) or {}).get("fields") or {}
    masked = {c for c, s in spec.items() if s.get("strategy") != "keep"} - enums
    out: set[str] = set()
    for side in ("before", "after"):
        for column, value in (payload.get(side) or {}).items():
            if column in masked and isinstance(value, str) and len(value) >= min_len:
                out.add(value)
    return out


def sensitive_strings(records: Sequence[SourceRecord], policy: Path, min_len: int = 8) -> set[str]:
    """Distinctive raw values (``min_len`` characters or more) of masked columns over all ``records``:
    none may appear in any output byte, audit record or log line. (Shorter values are checked per record
    with ``masked_values``: a short fake name may coincide with another record's real one.)"""
    doc = yaml.safe_load(policy.read_text())
    out: set[str] = set()
    for r in records:
        out |= masked_values(r, doc, min_len)
    return out - kept_strings(records, doc)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def kept_strings(records: Sequence[SourceRecord], policy_doc: dict[str, Any]) -> set[str]:
    """Every string inside a kept or passthrough column's value (e.g. a kept struct's city): those may
    appear in the output legitimately, so they are no evidence of a leak."""
    out: set[str] = set()
    for r in records:
        if r.value is None:
            continue
        event = orjson.loads(r.value)
        payload = event["payload"] if "schema" in event and "payload" in event else event
        source = payload.get("source") or {}
        table = f"{source.get('schema') or source.get('db')}.{source.get('table')}"
        spec = (policy_doc["tables"].get(table) or {}).get("fields") or {}
        for side in ("before", "after"):
            for column, value in (payload.get(side) or {}).items():
                if spec.get(column, {}).get("strategy", "keep") == "keep":
                    out.update(_strings(value))
    return out


def lag_table(stdout: str) -> tuple[dict[tuple[str, int], tuple[int, int, int]], int]:
    """``streammask lag`` output: {(topic, partition): (committed, end, lag)} and the total."""
    rows: dict[tuple[str, int], tuple[int, int, int]] = {}
    total = -1
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[1].isdigit():
            rows[(parts[0], int(parts[1]))] = (int(parts[2]), int(parts[3]), int(parts[4]))
        elif line.startswith("total lag: "):
            total = int(parts[2])
    return rows, total
