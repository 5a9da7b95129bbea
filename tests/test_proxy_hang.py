"""Issue 12 at processor level (fake clients, injected clock): every producer call bounded by the config, a
fenced instance that stops at once without an abort (producer and consumer side, both delivery modes), and no
commit of a transaction that a pause may have made stale before the consumer is polled for rebalances."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError
from fake_kafka import FakeMessage
from test_proxy_runner import ABORTABLE, GROUP, RETRIABLE, TOPIC, Rig, change, source_offsets

from streammask.errors import ConfigError
from streammask.proxy.config import ProxyConfig
from streammask.proxy.write_errors import InstanceFenced

FENCED = KafkaError(KafkaError._FENCED, "injected: fenced", fatal=True)
CONSUMER_FENCED = KafkaError(KafkaError.FENCED_INSTANCE_ID, "Broker: Static consumer fenced by other consumer with "
                             "same group.instance.id", fatal=True)


# -- bounds ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delivery", ["transactional", "at-least-once"])
def test_every_blocking_producer_call_is_bounded_by_transaction_timeout_ms(delivery: str) -> None:
    rig = Rig(delivery=delivery, source_props={"transaction.timeout.ms": 20_000},
              batch={"max_records": 2, "max_ms": 1000})
    rig.write(*(change(i) for i in range(4)))
    if delivery == "transactional":
        rig.producer.fail("commit_transaction", ABORTABLE)  # an abort too
    rig.run()
    assert source_offsets(rig.output()) == [0, 1, 2, 3]
    calls = {method for method, _ in rig.producer.timeouts}
    assert calls >= ({"init_transactions", "send_offsets_to_transaction", "commit_transaction", "abort_transaction"}
                     if delivery == "transactional" else {"flush"})
    # transaction.timeout.ms each, never -1 (librdkafka: wait forever); the flush at close: 10 s
    assert {t for m, t in rig.producer.timeouts if m != "flush"} <= {20.0}
    assert {t for m, t in rig.producer.timeouts if m == "flush"} <= {20.0, 10.0}


def test_a_timed_out_send_offsets_is_retried_not_aborted() -> None:
    rig = Rig(batch={"max_records": 2, "max_ms": 1000})
    rig.write(change(0), change(1))
    rig.producer.fail("send_offsets_to_transaction", RETRIABLE, times=2)
    rig.run()
    assert source_offsets(rig.output()) == [0, 1]
    assert "abort_transaction" not in rig.journal
    assert rig.clock.slept == [0.5, 1.0]


def test_watchdog_timeout_must_leave_room_for_two_transactional_calls() -> None:
    base = {"source": {"bootstrap.servers": "prod:9092"}, "topics": ["t"], "policy": "p.yaml"}
    assert ProxyConfig.model_validate(base).watchdog_timeout_s == 180
    assert ProxyConfig.model_validate(base).shutdown_timeout_s == 30
    with pytest.raises(ValueError, match=r"watchdog_timeout_s \(100\) must be more than twice"):
        ProxyConfig.model_validate({**base, "watchdog_timeout_s": 100})
    assert ConfigError  # the CLI reports it with file and line (load_config)


# -- a duplicate instance_id -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["commit_transaction", "send_offsets_to_transaction", "produce"])
def test_a_fenced_producer_stops_at_once_without_an_abort(method: str) -> None:
    rig = Rig(batch={"max_records": 2, "max_ms": 1000})
    rig.write(change(0), change(1), change(2))
    rig.producer.fail(method, FENCED)
    with pytest.raises(InstanceFenced, match="another instance with the same instance_id 'i1'"):
        rig.run()
    assert "abort_transaction" not in rig.journal
    assert not [m for m, _ in rig.producer.timeouts if m == "abort_transaction"]
    assert rig.clock.slept == []  # no retry, no backoff
    assert rig.output() == [] and rig.consumer.closed


def test_a_fence_reported_by_error_cb_stops_an_abortable_commit_without_an_abort() -> None:
    """librdkafka may fail the call with an abortable error while the fatal fence comes by error_cb."""
    rig = Rig(batch={"max_records": 2, "max_ms": 1000})
    rig.write(change(0), change(1))

    def fence() -> None:
        rig.proxy._on_client_error("target", FENCED)
        rig.producer.fail("commit_transaction", ABORTABLE)

    rig.consumer.then(fence)
    with pytest.raises(InstanceFenced, match=r"producer was fenced \(_FENCED\)"):
        rig.run()
    assert "abort_transaction" not in rig.journal


def test_a_fenced_abort_is_not_swallowed() -> None:
    rig = Rig(batch={"max_records": 2, "max_ms": 1000})
    rig.write(change(0), change(1))
    rig.producer.fail("commit_transaction", ABORTABLE)
    rig.producer.fail("abort_transaction", FENCED)
    with pytest.raises(InstanceFenced):
        rig.run()


@pytest.mark.parametrize("delivery", ["transactional", "at-least-once"])
def test_a_fenced_static_consumer_stops_at_once_in_both_modes(delivery: str) -> None:
    rig = Rig(delivery=delivery, batch={"max_records": 1000, "max_ms": 1000})
    rig.write(change(0), change(1))

    def fenced_by_a_twin() -> None:
        rig.consumer.injected.append(FakeMessage.of_error(CONSUMER_FENCED))

    rig.consumer.then(lambda: None, fenced_by_a_twin)
    with pytest.raises(InstanceFenced) as info:
        rig.run()
    assert str(info.value).startswith(
        "this instance's consumer was fenced (FENCED_INSTANCE_ID): another instance with the same instance_id 'i1' "
        f"(its static membership of group '{GROUP}') joined; each instance needs its own instance_id")
    assert rig.source.group_offsets == {}  # at-least-once: what was written is written again by the other
    assert "commit_transaction" not in rig.journal and "abort_transaction" not in rig.journal


def test_a_consumer_fence_reported_by_error_cb_ends_the_run_at_the_next_turn() -> None:
    rig = Rig(delivery="at-least-once")
    rig.write(change(0))
    rig.consumer.then(lambda: rig.proxy._on_client_error("source", CONSUMER_FENCED))
    with pytest.raises(InstanceFenced, match="consumer was fenced"):
        rig.run()


# -- a pause longer than the session timeout ---------------------------------------------------------------


def test_a_transaction_is_not_committed_after_a_pause_that_cost_the_partitions() -> None:
    """SIGSTOP past session.timeout.ms (10 s here), then SIGCONT: the loss arrives at the next poll. The stale
    transaction is aborted, never committed; its records are re-read and committed once after reassignment."""
    rig = Rig(batch={"max_records": 1000, "max_ms": 1000})
    rig.write(change(0), change(1), change(2))
    committed_stale: list[bool] = []

    def paused() -> None:  # inside the fetch after the records were read: the process stops for 30 s
        rig.clock.now += 30
        rig.consumer.then(lose)  # the group's verdict, served at the consumer's next poll

    def lose() -> None:
        committed_stale.append("commit_transaction" in rig.journal)
        rig.consumer.lose()

    rig.consumer.then(lambda: None, paused)
    rig.run()
    assert committed_stale == [False]
    j = rig.journal
    assert j.index("abort_transaction") < j.index("commit_transaction")
    assert source_offsets(rig.output()) == [0, 1, 2]
    assert rig.metric("streammask_transactions_total", result="aborted") == 1
    assert rig.source.group_offsets == {(GROUP, TOPIC, 0): 3}


def test_after_a_pause_with_the_partitions_still_assigned_the_transaction_commits_and_nothing_is_lost() -> None:
    rig = Rig(max_per_consume=2, batch={"max_records": 1000, "max_ms": 1000})
    rig.write(change(0), change(1), change(2), change(3))

    def paused() -> None:
        rig.clock.now += 30  # the poll before the commit fetches records 2, 3: sought back, read after it

    rig.consumer.then(lambda: None, paused)
    rig.run()
    assert source_offsets(rig.output()) == [0, 1, 2, 3]
    assert "abort_transaction" not in rig.journal
    assert rig.source.group_offsets == {(GROUP, TOPIC, 0): 4}
