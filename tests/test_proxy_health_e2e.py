"""Health that tells the truth, end to end: ``streammask run`` as a subprocess against real Kafka-protocol
brokers (Tansu): a source broker killed mid-run, a missing source topic, a target topic Kafka refuses, two
instances with the same ``instance_id``. Processor-level twins (injected clock) are in test_proxy_health.py.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.broker import LocalKafkaBroker, create_topic, free_port, unique_topic
from tests.proxy_harness import (
    ProxyProcess,
    customer_events,
    distinct_sources,
    produce,
    proxy_config,
    read_until,
    run_proxy,
    wait_for,
)

START_S = 90.0  # generous: 2 shared cores, a group join on Tansu takes ~session.timeout.ms / 2
DRAIN_S = 60.0


def json_lines(proxy: ProxyProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proxy.stderr().splitlines() if line.startswith("{")]


def error_line(proxy: ProxyProcess) -> str:
    """The ``error: …`` line ``run`` ends with."""
    lines = [line for line in reversed(proxy.stderr().splitlines()) if line.startswith("error: ")]
    assert lines, proxy.describe()
    return lines[0]


def seconds(ts: str) -> float:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def test_a_source_broker_killed_mid_run_is_not_ready_at_once_and_exits_1_naming_it(
    kafka_broker: str, tmp_path: Path,
) -> None:
    """The source cluster is a private broker, killed (SIGKILL) while the proxy runs; the target is the
    session's broker and stays up. /readyz turns 503 within a few seconds, /healthz stays 200 until
    broker_timeout_s, then the process exits 1 with an error naming the source cluster and its address.
    librdkafka's connection errors, ~19 lines a second unlimited, come at most once per client and broker
    every 10 s, the next one counting those left out."""
    timeout_s = 13  # > 10: each client's second connection error line (with its count) comes before the exit
    source = LocalKafkaBroker(tmp_path / "source-broker.log").start()
    try:
        src, out = unique_topic("src"), unique_topic("out")
        create_topic(source.bootstrap, src)
        produce(source.bootstrap, src, customer_events(20))
        doc = proxy_config(source.bootstrap, [src], [(re.escape(src), out)], target=kafka_broker,
                           broker_timeout_s=timeout_s)
        with run_proxy(tmp_path, doc) as proxy:
            proxy.wait_ready(START_S)
            read_until(kafka_broker, out, lambda rs: len(rs) >= 20, DRAIN_S, "the records before the outage")
            assert source.process is not None
            source.process.kill()
            source.process.wait(10)
            killed_at, killed_wall = time.monotonic(), time.time()
            wait_for(lambda: proxy.get("/readyz")[0] == 503, 10, "/readyz 503 after the kill", interval_s=0.05)
            not_ready_after = time.monotonic() - killed_at
            status, body = proxy.get("/readyz")
            assert (status, body) == (503, f"not ready: source cluster ({source.bootstrap}) unreachable for "
                                            f"{body.split(' for ')[-1].split(' s')[0]} s\n")
            assert proxy.get("/healthz") == (200, "ok\n")
            code = proxy.wait_exit(timeout_s + 30)
            exited_after = time.monotonic() - killed_at
    finally:
        source.stop()
    print(f"/readyz 503 after {not_ready_after:.1f} s, exit {code} after {exited_after:.1f} s")
    assert not_ready_after < 3.0
    assert code == 1, proxy.describe()
    assert timeout_s <= exited_after < timeout_s + 10, proxy.describe()
    assert error_line(proxy).startswith(
        f"error: source cluster ({source.bootstrap}) unreachable for {timeout_s} s, longer than broker_timeout_s "
        f"({timeout_s}): "), proxy.describe()
    assert "target cluster" not in error_line(proxy)

    lines = json_lines(proxy)
    assert [ln["cluster"] for ln in lines if ln["msg"] == "source cluster unreachable"] == ["source"]
    assert any(ln["msg"] == "progress" and ln.get("final") for ln in lines)
    by_key: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for ln in lines:
        if ln["logger"].startswith("streammask.librdkafka.") and seconds(ln["ts"]) >= killed_wall - 1:
            client = ln["msg"].split("[", 2)[1].split("]")[0]  # "FAIL [rdkafka#consumer-1] [thrd:…]: …"
            by_key[(ln["logger"], client, ln["broker"])].append(ln)
    during = sum(len(v) for v in by_key.values())
    print(f"librdkafka lines during the outage: {during} ({ {k[1:]: len(v) for k, v in by_key.items()} })")
    assert by_key, "no librdkafka line about the outage at all"
    for key, key_lines in by_key.items():
        times = [seconds(ln["ts"]) for ln in key_lines]
        assert all(b - a >= 9.9 for a, b in zip(times, times[1:], strict=False)), (key, times)
    consumer_source = [v for (logger, _, broker), v in by_key.items()
                       if logger.endswith("consumer") and broker == source.bootstrap]
    assert consumer_source and any(ln.get("suppressed", 0) > 10 for ln in consumer_source[0]), consumer_source
    assert during <= 20, f"{during} librdkafka lines in {exited_after:.0f} s"


def test_a_missing_source_topic_keeps_run_not_ready_and_named_until_it_is_created(
    kafka_broker: str, tmp_path: Path,
) -> None:
    """Topics [present, missing]: the present one is consumed, yet /readyz stays 503 naming the missing
    one, and a warning names it. Created, the next check (30 s later) finds it: ready, and its records
    flow (listing the topics made the consumer rejoin with it)."""
    src, missing, out, out2 = unique_topic("src"), unique_topic("missing"), unique_topic("out"), unique_topic("out")
    create_topic(kafka_broker, src)
    produce(kafka_broker, src, customer_events(5))
    doc = proxy_config(kafka_broker, [src, missing], [(re.escape(src), out), (re.escape(missing), out2)])
    with run_proxy(tmp_path, doc) as proxy:
        read_until(kafka_broker, out, lambda rs: len(rs) >= 5, START_S, "the present topic's records")
        assert proxy.get("/readyz") == (503, f"not ready: source topic(s) missing: {missing}\n")
        warning = f"source topic {missing} does not exist; not ready until it does"
        assert [ln["topic"] for ln in json_lines(proxy) if ln["msg"] == warning] == [missing]
        create_topic(kafka_broker, missing)
        created_at = time.monotonic()
        produce(kafka_broker, missing, customer_events(5, first_id=300_000))
        proxy.wait_ready(45)
        ready_after = time.monotonic() - created_at
        read_until(kafka_broker, out2, lambda rs: len(rs) >= 5, DRAIN_S, "the created topic's records")
        assert proxy.terminate() == 0, proxy.describe()
    print(f"ready {ready_after:.1f} s after the topic was created")
    assert any(ln["msg"] == "source topics present" for ln in json_lines(proxy))


def test_a_target_topic_name_kafka_refuses_stops_run_naming_the_topic_and_route(
    kafka_broker: str, tmp_path: Path,
) -> None:
    """With ``topic_pattern`` the target names are only known at the first record: a route that makes an
    invalid one ends the run (exit 1) naming the target topic and the routing entry, not just librdkafka's
    ``Unknown topic``."""
    src = unique_topic("src")
    create_topic(kafka_broker, src)
    produce(kafka_broker, src, customer_events(3))
    # legal characters, but over Kafka's 249 for this source topic: only checked when the record is routed (a
    # `to` that can give no legal name at all is refused when the config loads: tests/test_proxy_config.py)
    match, to = f"({re.escape(src)})", "m" * 240 + r".\1"
    doc = proxy_config(kafka_broker, [src], [(match, to)])
    del doc["topics"]
    doc["topic_pattern"] = re.escape(src)
    with run_proxy(tmp_path, doc) as proxy:
        code = proxy.wait_exit(START_S)
    assert code == 1, proxy.describe()
    line = error_line(proxy)
    assert line.startswith("error: ") and f"maps source topic {src} to 'mmm" in line, proxy.describe()
    assert "not a legal Kafka topic name" in line and "249" in line, line


@pytest.mark.faults
def test_two_instances_with_the_same_instance_id_the_first_is_fenced_and_says_why(
    kafka_broker: str, tmp_path: Path,
) -> None:
    """Two ``run`` with the same instance_id (same transactional.id): the second's start fences the first
    (Tansu fences like Kafka: PRODUCER_FENCED), which exits 1 at its next write saying that another instance
    uses its instance_id and each needs its own. The second takes over: every record arrives."""
    src, out = unique_topic("src"), unique_topic("out")
    create_topic(kafka_broker, src, 2)
    create_topic(kafka_broker, out, 2)
    doc = proxy_config(kafka_broker, [src], [(re.escape(src), out)], instance_id="dup")
    twin = {**doc, "metrics": {"host": "127.0.0.1", "port": free_port()}}
    with run_proxy(tmp_path, doc) as first:
        first.wait_ready(START_S)
        with run_proxy(tmp_path, twin) as second:
            # Static membership: one group.instance.id, so no split. Kafka fences the first from the group
            # (FENCED_INSTANCE_ID); Tansu does not (tests/broker.py) and gives both every partition.
            def joined() -> bool:
                assert second.running(), second.describe()
                return second.metric("streammask_assigned_partitions") >= 1

            wait_for(joined, START_S, "the second instance assigned")
            produce(kafka_broker, src, customer_events(40, partitions=2))
            code = first.wait_exit(DRAIN_S)
            read_until(kafka_broker, out, lambda rs: len(distinct_sources(rs)) >= 40, DRAIN_S, "all 40 records")
            assert second.terminate() == 0, second.describe()
    assert code == 1, first.describe()
    # which code depends on the request that meets the new epoch first (Produce, AddPartitionsToTxn, EndTxn)
    producer_fenced = (
        re.escape("error: this instance's producer was fenced (") + "(PRODUCER_FENCED|_FENCED|INVALID_PRODUCER_EPOCH)"
        + re.escape(f"): another instance with the same instance_id 'dup' (transactional.id "
                    f"streammask-{doc['group_id']}-dup) started; each instance needs its own instance_id (e.g. "
                    "instance_id: ${HOSTNAME}); its open transaction was not committed"))
    member_fenced = (  # a full Kafka may fence the static member before the producer
        re.escape("error: this instance's consumer was fenced (") + "(FENCED_INSTANCE_ID|_FATAL)"
        + re.escape(f"): another instance with the same instance_id 'dup' (its static membership of group "
                    f"'{doc['group_id']}') joined; each instance needs its own instance_id (e.g. instance_id: "
                    "${HOSTNAME}); its open transaction was not committed"))
    assert re.fullmatch(f"{producer_fenced}|{member_fenced}", error_line(first)), first.describe()
