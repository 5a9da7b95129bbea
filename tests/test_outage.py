"""``Outage``: reachable, unreachable (not ready), dead after broker_timeout_s; on an injected clock."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError, KafkaException

from streammask.proxy.outage import BrokerUnreachable, Outage, unreachable_at_start

DOWN = KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def outage(clock: Clock, target: str = "qa-1:9093") -> Outage:
    return Outage({"source": "prod-1:9093,prod-2:9093", "target": target}, timeout_s=120, clock=clock)


def test_unreachable_at_once_dead_after_the_timeout_naming_cluster_and_address() -> None:
    clock = Clock()
    o = outage(clock)
    assert o.unreachable() is None and o.dead() is None
    o.on_error("source", DOWN)
    assert o.unreachable() == "source cluster (prod-1:9093,prod-2:9093) unreachable for 0 s"
    clock.now += 60
    o.on_error("source", DOWN)  # librdkafka repeats it every 10 s: the outage still began 60 s ago
    clock.now += 59.9
    assert o.dead() is None
    o.check()
    clock.now += 0.1
    dead = o.dead()
    assert isinstance(dead, BrokerUnreachable)
    assert (dead.cluster, dead.address) == ("source", "prod-1:9093,prod-2:9093")
    assert str(dead).startswith("source cluster (prod-1:9093,prod-2:9093) unreachable for 120 s, longer than "
                                "broker_timeout_s (120): 1/1 brokers are down; check that its brokers are up")
    with pytest.raises(BrokerUnreachable, match="source cluster"):
        o.check()


def test_reachable_again_on_a_broker_up_in_the_statistics() -> None:
    clock = Clock()
    o = outage(clock)
    o.on_error("target", DOWN)
    clock.now += 100
    o.on_stats("target", {"brokers": {"qa-1:9093/bootstrap": {"state": "INIT"}, "TxnCoordinator": {"state": "INIT"}}})
    assert o.unreachable() is not None
    o.on_stats("target", {"brokers": {"qa-1:9093/1": {"state": "UP"}}})
    assert o.unreachable() is None
    clock.now += 100
    assert o.dead() is None  # the clock starts again at the next outage
    o.on_error("target", DOWN)
    clock.now += 119
    assert o.dead() is None


def test_a_record_or_a_commit_is_proof_of_reachability() -> None:
    clock = Clock()
    o = outage(clock)
    o.down("source", "1/1 brokers are down")
    o.up("source")
    assert o.unreachable() is None


def test_both_clusters_down_the_error_names_the_first_and_mentions_the_other() -> None:
    clock = Clock()
    o = outage(clock, target="prod-1:9093,prod-2:9093")  # same cluster
    o.on_error("source", DOWN)
    clock.now += 0.2
    o.on_error("target", DOWN)
    assert o.unreachable() == ("source cluster (prod-1:9093,prod-2:9093) unreachable for 0 s; "
                               "target cluster (prod-1:9093,prod-2:9093) unreachable for 0 s")
    clock.now += 120
    dead = o.dead()
    assert dead is not None and dead.cluster == "source"
    assert "the target cluster (prod-1:9093,prod-2:9093) (the same cluster) is unreachable too" in str(dead)


def test_one_brokers_transport_error_is_no_outage_other_errors_are_logged_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    o = outage(clock)
    caplog.set_level(logging.INFO, "streammask.proxy")
    o.on_error("source", KafkaError(KafkaError._TRANSPORT, "prod-1:9093/1: Connection refused"))
    assert o.unreachable() is None and caplog.records == []
    auth = KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: Authentication failed")
    for _ in range(50):
        o.on_error("target", auth)
        clock.now += 0.1
    clock.now += 6
    o.on_error("target", auth)
    fields = [r.fields for r in caplog.records]  # type: ignore[attr-defined]
    assert len(fields) == 2
    assert fields[0] == {"cluster": "target", "address": "qa-1:9093", "error": "_AUTHENTICATION",
                         "reason": "SASL authentication error: Authentication failed", "fatal": False}
    assert fields[1]["suppressed"] == 49


def test_going_down_and_up_is_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    o = outage(clock)
    caplog.set_level(logging.INFO, "streammask.proxy")
    for _ in range(3):
        o.on_error("source", DOWN)
        clock.now += 10
    o.on_stats("source", {"brokers": {"prod-1:9093/1": {"state": "UP"}}})
    o.on_stats("source", {"brokers": {"prod-1:9093/1": {"state": "UP"}}})
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "source cluster unreachable"), ("INFO", "source cluster reachable again")]
    assert caplog.records[1].fields["unreachable_s"] == 30  # type: ignore[attr-defined]


def test_a_start_up_call_that_could_not_reach_the_cluster_names_it() -> None:
    exc = KafkaException(KafkaError(KafkaError._TRANSPORT, "Failed to get metadata: Local: Broker transport failure"))
    problem = unreachable_at_start("target", "qa-1:9093", exc)
    assert problem is not None and problem.cluster == "target"
    assert str(problem).startswith("target cluster (qa-1:9093) unreachable at start: _TRANSPORT: Failed to get")
    assert unreachable_at_start("target", "qa-1:9093", KafkaException(KafkaError(KafkaError.TOPIC_EXCEPTION))) is None
