"""Health that tells the truth, at processor level (``runner.Proxy`` over the in-memory Kafka fake, injected
clock): outages, missing source topics, target topics that cannot be written, a fenced producer, and the
progress line. The same behaviour against the real test broker is in test_proxy_health_e2e.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError
from fake_kafka import FakeMessage
from test_proxy_runner import OUT, RETRIABLE, TOPIC, Rig, change, source_offsets

from streammask.proxy.config import InvalidTargetTopic
from streammask.proxy.outage import BrokerUnreachable
from streammask.proxy.write_errors import InstanceFenced, TargetTopicUnwritable

try:
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path
    import events as ev  # type: ignore[no-redef]

DOWN = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")
UP = {"brokers": {"prod:9092/1": {"state": "UP"}}}
MISSING = ev.topic("orders")  # dbserver1.public.orders
ROUTE = r"routing[0] (match '[^.]+\\.(.*)', to 'staging.\\1')"


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, Any]]:
    return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == message]


def scripted(rig: Rig) -> Rig:
    """The run follows the consumer's hooks (``then``): running far past them is a test bug, not a hang."""
    idle = [0]

    def ran_past_the_script() -> None:
        idle[0] += 1
        if idle[0] > 100:
            pytest.fail("the run went on long after the last scripted fetch")

    rig.consumer.on_idle = ran_past_the_script
    return rig


def advance(rig: Rig, seconds: float) -> Callable[[], None]:
    def step() -> None:
        rig.clock.now += seconds
    return step


# -- broker outages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cluster", "address"), [("source", "prod:9092"), ("target", "qa:9092")])
def test_an_unreachable_cluster_is_not_ready_at_once_and_ends_the_run_after_broker_timeout_s(
    cluster: str, address: str,
) -> None:
    rig = scripted(Rig(same_cluster=False, broker_timeout_s=10, batch={"max_records": 2, "max_ms": 60_000}))
    rig.write(change(0), change(1))
    seen: list[tuple[str | None, str | None]] = []

    def observe() -> None:
        seen.append((rig.health.not_ready(), rig.health.dead()))

    def outage_begins() -> None:
        rig.proxy.outage.on_error(cluster, DOWN)  # as librdkafka's error_cb
        if cluster == "target":
            rig.write(change(2))  # the source still answers: a transaction opens, and cannot commit

    rig.consumer.then(
        lambda: None,  # records 0, 1: committed
        outage_begins,
        observe,
        advance(rig, 9.9),
        observe,
        advance(rig, 0.1),
    )
    with pytest.raises(BrokerUnreachable) as info:
        rig.run()
    assert str(info.value).startswith(
        f"{cluster} cluster ({address}) unreachable for 10 s, longer than broker_timeout_s (10): 1/1 brokers are down")
    assert (info.value.cluster, info.value.address) == (cluster, address)
    assert seen == [(f"{cluster} cluster ({address}) unreachable for 0 s", None),
                    (f"{cluster} cluster ({address}) unreachable for 10 s", None)]
    assert rig.health.dead() == str(info.value)  # /healthz: 503 with the same words
    assert source_offsets(rig.output()) == [0, 1]
    assert "abort_transaction" not in rig.journal  # no waiting for a cluster that does not answer
    assert rig.consumer.closed and not rig.health.ready


def test_a_cluster_reachable_again_is_ready_again_and_the_timeout_starts_over() -> None:
    rig = scripted(Rig(broker_timeout_s=10))
    rig.write(change(0))
    seen: list[str | None] = []

    def stats_up() -> None:
        rig.proxy._on_stats(orjson.dumps(UP).decode())

    def step(seconds: float) -> Any:
        def run() -> None:
            rig.clock.now += seconds
            seen.append(rig.health.not_ready())
        return run

    rig.consumer.then(
        lambda: None,
        lambda: rig.consumer.injected.append(FakeMessage.of_error(DOWN)),  # without an error_cb: a consume() event
        step(9),
        stats_up,
        step(9),
        lambda: rig.proxy.outage.on_error("source", DOWN),
        step(9),
        lambda: rig.write(change(1)),  # a record fetched: the cluster answers
        step(9),
        rig.stop.set,
    )
    rig.run()
    assert seen == ["source cluster (prod:9092) unreachable for 9 s", None,
                    "source cluster (prod:9092) unreachable for 9 s", None]
    assert source_offsets(rig.output()) == [0, 1]


def test_a_commit_retried_while_the_target_is_unreachable_gives_up_at_broker_timeout_s() -> None:
    rig = Rig(same_cluster=False, broker_timeout_s=10, batch={"max_records": 2, "max_ms": 60_000})
    rig.write(change(0), change(1))

    def target_down_for_a_while() -> None:
        rig.proxy.outage.on_error("target", DOWN)
        rig.clock.now += 9.8
        rig.producer.fail("commit_transaction", RETRIABLE, times=4)

    rig.consumer.then(target_down_for_a_while)
    with pytest.raises(BrokerUnreachable, match=r"^target cluster \(qa:9092\) unreachable for 10 s"):
        rig.run()
    assert rig.clock.slept == [0.5]  # one retry, then broker_timeout_s had passed
    assert rig.output() == []


# -- missing source topics -------------------------------------------------------------------------------


def test_a_missing_source_topic_keeps_run_not_ready_and_is_named_every_30_s(caplog: pytest.LogCaptureFixture) -> None:
    rig = scripted(Rig(topics=[TOPIC, MISSING]))
    rig.write(change(0))
    caplog.set_level(logging.INFO, "streammask.proxy")
    seen: list[tuple[str | None, int]] = []

    def observe() -> None:  # each check runs at the top of the loop, before the next fetch's hook
        warnings = logged(caplog, f"source topic {MISSING} does not exist; not ready until it does")
        seen.append((rig.health.not_ready(), len(warnings)))

    def created() -> None:
        rig.source.create_topic(MISSING)
        rig.clock.now += 30

    rig.consumer.then(
        lambda: None,
        observe,  # partitions of the other topic assigned: still not ready
        advance(rig, 29),
        observe,
        advance(rig, 1),
        observe,  # 30 s: warned again
        created,
        observe,
        advance(rig, 30),
        observe,  # all there: no more checks, no more warnings
        rig.stop.set,
    )
    rig.run()
    missing = f"source topic(s) missing: {MISSING}"
    assert seen == [(missing, 1), (missing, 1), (missing, 2), (None, 2), (None, 2)]
    assert logged(caplog, f"source topic {MISSING} does not exist; not ready until it does")[0] == {"topic": MISSING}
    assert logged(caplog, "source topics present") == [{"topics": [TOPIC, MISSING]}]
    assert source_offsets(rig.output()) == [0]


def test_a_topic_pattern_that_matches_nothing_is_named(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(topics=None, topic_pattern=r"dbserver1\.inventory\..*")
    caplog.set_level(logging.INFO, "streammask.proxy")
    rig.proxy.prepare()
    why = r"no source topic matches topic_pattern 'dbserver1\\.inventory\\..*'"
    assert rig.health.not_ready() == why
    assert logged(caplog, f"{why}; not ready until one does") == [{"topic_pattern": r"dbserver1\.inventory\..*"}]


def test_an_unknown_topic_reported_by_the_consumer_is_named_and_checked_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.write(change(0))
    caplog.set_level(logging.INFO, "streammask.proxy")
    unknown = KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, f"Subscribed topic not available: {TOPIC}")

    def deleted() -> None:
        rig.source.logs.pop(TOPIC)
        rig.consumer.injected.append(FakeMessage(TOPIC, None, None, None, None, error=unknown))

    rig.consumer.then(lambda: None, deleted, lambda: None)
    rig.run()
    assert logged(caplog, f"consumer error on {TOPIC}") == [
        {"error": "UNKNOWN_TOPIC_OR_PART", "retriable": False, "topic": TOPIC}]
    assert logged(caplog, f"source topic {TOPIC} does not exist; not ready until it does") == [{"topic": TOPIC}]


# -- target topics that cannot be written --------------------------------------------------------------------


def test_a_produce_refused_for_its_topic_names_the_topic_and_its_route() -> None:
    rig = Rig()
    rig.write(change(0), change(1))
    unknown = KafkaError(KafkaError._UNKNOWN_TOPIC, "Unable to produce message: Local: Unknown topic")
    rig.producer.fail("produce", unknown)
    with pytest.raises(TargetTopicUnwritable) as info:
        rig.run()
    assert str(info.value) == (
        f"target topic '{OUT}' does not exist and the target cluster did not create it (_UNKNOWN_TOPIC); it is the "
        f"target of source topic {TOPIC} by {ROUTE}; create it (as many partitions as its source topic), or correct "
        "the route")
    assert "abort_transaction" in rig.journal and rig.output() == []


@pytest.mark.parametrize("delivery", ["transactional", "at-least-once"])
def test_a_delivery_failed_for_its_topic_names_the_topic_and_its_route(delivery: str) -> None:
    rig = Rig(delivery=delivery, batch={"max_records": 2, "max_ms": 1000})
    rig.write(change(0), change(1))
    denied = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker: Topic authorization failed")
    rig.producer.delivery_error = denied
    if delivery == "transactional":
        rig.producer.fail("commit_transaction", KafkaError(
            KafkaError.TOPIC_AUTHORIZATION_FAILED, "Failed to produce", txn_requires_abort=True))
    with pytest.raises(TargetTopicUnwritable) as info:
        rig.run()
    assert str(info.value) == (
        f"target topic '{OUT}' may not be written with the target cluster's credentials (TOPIC_AUTHORIZATION_FAILED); "
        f"it is the target of source topic {TOPIC} by {ROUTE}; grant them WRITE and DESCRIBE on it, or correct the "
        "route")
    assert rig.output() == [] and rig.source.group_offsets == {}
    assert rig.metric("streammask_transactions_total", result="aborted") == 1


def test_a_route_to_an_invalid_topic_name_fails_at_start() -> None:
    """A route that can give legal names but gives this listed topic one over Kafka's 249 characters: the
    start fails naming the source topic and the route, before anything is consumed. (A `to` that can only
    give illegal names is refused when the config loads: tests/test_proxy_config.py.)"""
    rig = Rig(routing=[{"match": r"[^.]+\.(.*)", "to": "s" * 240 + r".\1"}])
    with pytest.raises(InvalidTargetTopic) as info:
        rig.proxy.prepare()
    message = str(info.value)
    assert f"maps source topic {TOPIC} to" in message and "249" in message
    assert not any(entry.startswith(("rebalance", "produce")) for entry in rig.journal)


# -- a duplicate instance_id ------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "error"), [
    # Kafka and Tansu: a produce or commit after another producer took over the transactional.id
    ("commit_transaction", KafkaError(KafkaError.PRODUCER_FENCED, "There is a newer producer with the same "
                                      "transactionalId which fences the current one", txn_requires_abort=True)),
    ("commit_transaction", KafkaError(KafkaError.INVALID_PRODUCER_EPOCH, "Producer attempted to produce with an "
                                      "old epoch", txn_requires_abort=True)),
    ("begin_transaction", KafkaError(KafkaError._FENCED, "Producer fenced by newer instance", fatal=True)),
])
def test_a_fenced_producer_says_another_instance_has_the_same_instance_id(method: str, error: KafkaError) -> None:
    rig = Rig(batch={"max_records": 2, "max_ms": 1000})
    rig.write(change(0), change(1))
    rig.producer.fail(method, error)
    with pytest.raises(InstanceFenced) as info:
        rig.run()
    assert str(info.value) == (
        f"this instance's producer was fenced ({error.name()}): another instance with the same instance_id 'i1' "
        "(transactional.id streammask-g1-i1) started; each instance needs its own instance_id (e.g. instance_id: "
        "${HOSTNAME}); its open transaction was not committed")
    assert rig.metric("streammask_transactions_total", result="aborted") == 0  # not retried: it cannot succeed
    assert rig.output() == [] and rig.consumer.closed


# -- the progress line ------------------------------------------------------------------------------------


def test_run_logs_a_progress_line_every_30_s_and_a_final_one(caplog: pytest.LogCaptureFixture) -> None:
    rig = scripted(Rig(on_blocked="skip", topics=[TOPIC, MISSING]))
    rig.write(change(0), change(1), change(2, "u", ssn="078-05-1120"))
    caplog.set_level(logging.INFO, "streammask.proxy")
    rig.consumer.then(lambda: None, advance(rig, 29.9), advance(rig, 0.1), lambda: rig.write(change(3)),
                      advance(rig, 30), lambda: None, rig.stop.set)
    rig.run()
    lines = logged(caplog, "progress")
    assert len(lines) == 3
    first, second, final = lines
    not_ready = f"source topic(s) missing: {MISSING}"
    assert first == {"records_in": 3, "records_out": 2, "blocked": 1, "commits": 1, "aborts": 0, "lag": 0,
                     "partitions": 1, "interval_s": 30.0, "records_in_per_s": 0.1, "records_out_per_s": 0.1,
                     "not_ready": not_ready}
    assert {k: second[k] for k in ("records_in", "records_out", "commits", "interval_s", "records_in_per_s")} == {
        "records_in": 4, "records_out": 3, "commits": 2, "interval_s": 30.0, "records_in_per_s": 0.0}
    assert final["final"] is True and final["records_in"] == 4 and final["partitions"] == 0
    assert not re.search("078-05-1120", repr(caplog.records))
