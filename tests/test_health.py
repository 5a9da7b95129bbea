"""Health on the injected clock (stalls, watched checks, a broker outage), and the metrics port on an ephemeral
port: each 503 says why."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from streammask.proxy.http import Health, MetricsServer
from streammask.proxy.metrics import Metrics
from streammask.proxy.outage import Outage

README = Path(__file__).resolve().parent.parent / "README.md"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_alive_until_the_loop_stops_beating() -> None:
    clock = Clock()
    health = Health(stall_after_s=60.0, clock=clock)
    clock.now += 59.9
    assert health.alive()
    clock.now += 0.2
    assert not health.alive()
    health.beat()
    assert health.alive()


@pytest.fixture
def served() -> Iterator[tuple[str, Health, Clock, Metrics]]:
    clock = Clock()
    health, metrics = Health(clock=clock), Metrics()
    server = MetricsServer("127.0.0.1", 0, metrics.registry, health)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", health, clock, metrics
    finally:
        server.stop()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_healthz_and_readyz_follow_the_state(served: tuple[str, Health, Clock, Metrics]) -> None:
    base, health, clock, _ = served
    assert get(base + "/healthz") == (200, b"ok\n")
    assert get(base + "/readyz") == (503, b"not ready: no partitions assigned\n")
    health.ready = True
    assert get(base + "/readyz") == (200, b"ready\n")
    clock.now += 61
    assert get(base + "/healthz") == (503, b"stalled: the processing loop has not run for 61 s\n")
    assert get(base + "/readyz") == (503, b"not ready: stalled: the processing loop has not run for 61 s\n")
    assert get(base + "/nope")[0] == 404


def test_watched_checks_say_why_in_the_503(served: tuple[str, Health, Clock, Metrics]) -> None:
    base, health, _, _ = served
    health.ready = True
    problems: dict[str, str | None] = {"ready": None, "alive": None}
    health.watch(ready=lambda: problems["ready"], alive=lambda: problems["alive"])
    assert get(base + "/readyz") == (200, b"ready\n")
    problems["ready"] = "source topic(s) missing: t1"
    assert get(base + "/readyz") == (503, b"not ready: source topic(s) missing: t1\n")
    assert get(base + "/healthz") == (200, b"ok\n")
    problems["alive"] = "source cluster (k:9092) unreachable for 120 s"
    assert get(base + "/healthz") == (503, b"source cluster (k:9092) unreachable for 120 s\n")
    assert get(base + "/readyz")[1] == b"not ready: source cluster (k:9092) unreachable for 120 s\n"


def test_an_outage_turns_readyz_503_at_once_and_healthz_after_the_broker_timeout(
    served: tuple[str, Health, Clock, Metrics],
) -> None:
    base, health, clock, _ = served
    outage = Outage({"source": "prod-1:9093,prod-2:9093", "target": "qa:9093"}, timeout_s=120, clock=clock)
    health.watch(ready=outage.unreachable, alive=lambda: str(dead) if (dead := outage.dead()) else None)
    health.ready = True
    outage.on_error("source", KafkaError(KafkaError._ALL_BROKERS_DOWN, "2/2 brokers are down"))
    assert get(base + "/readyz") == (503, b"not ready: source cluster (prod-1:9093,prod-2:9093) unreachable for 0 s\n")
    clock.now += 119
    health.beat()
    assert get(base + "/healthz") == (200, b"ok\n")
    clock.now += 1
    health.beat()
    status, body = get(base + "/healthz")
    assert status == 503
    assert body.startswith(b"source cluster (prod-1:9093,prod-2:9093) unreachable for 120 s, longer than "
                           b"broker_timeout_s (120): 2/2 brokers are down")
    outage.on_stats("source", {"brokers": {"prod-1:9093/1": {"state": "UP"}}})
    assert get(base + "/healthz") == (200, b"ok\n")
    assert get(base + "/readyz") == (200, b"ready\n")


def test_metrics_serves_every_documented_metric(served: tuple[str, Health, Clock, Metrics]) -> None:
    base, _, _, metrics = served
    metrics.records_in.labels("t").inc()
    metrics.records_out.labels("t").inc()
    metrics.records_blocked.labels("t", "unknown-table").inc()
    metrics.values_masked.labels("public.t", "hash").inc()
    metrics.transactions.labels("committed").inc()
    metrics.consumer_lag.labels("t", "0").set(1)
    metrics.policy_info.labels("i", "g", "0" * 64, "k", "0123456789abcdef").set(1)
    metrics.audit_sequence.labels("i", "g").set(3)
    metrics.policy_changed.labels("i", "1" * 64, "0" * 64).set(1_700_000_000)
    status, body = get(base + "/metrics")
    assert status == 200
    exposed = set(re.findall(r"^# TYPE (\S+) (\S+)$", body.decode(), re.M))
    documented = re.findall(r"^\| `(streammask_[a-z_]+)` \| (counter|gauge|histogram) \|", README.read_text(), re.M)
    assert len(documented) == 14
    for name, kind in documented:
        assert (name, kind) in exposed, name
        assert re.search(rf"^{name}(\{{|_bucket|_sum|_count| )", body.decode(), re.M), name
