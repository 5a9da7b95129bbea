"""librdkafka's log lines: at most one per client and broker every 10 s, with a count of those left out."""

from __future__ import annotations

import logging

import pytest

from streammask.proxy.log_limits import LibrdkafkaLimit, RateLimit, broker_of, limit


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_one_event_per_key_per_interval_and_the_count_of_the_rest() -> None:
    clock = Clock()
    rate = RateLimit(10.0, clock)
    assert rate.admit("a") == 0
    assert rate.admit("b") == 0  # keys are independent
    for _ in range(5):
        clock.now += 1.5
        assert rate.admit("a") is None
    clock.now += 2.5  # 10 s after the first
    assert rate.admit("a") == 5
    assert rate.admit("a") is None
    clock.now += 10
    assert rate.admit("a") == 1
    assert rate.admit("b") == 0


@pytest.mark.parametrize(("text", "broker"), [
    ("[thrd:127.0.0.1:9092/bootstrap]: 127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092", "127.0.0.1:9092"),
    ("[thrd:127.0.0.1:9092/111]: 127.0.0.1:9092/111: Disconnected", "127.0.0.1:9092"),
    ("[thrd:sasl_ssl://b-1.kafka.example:9096/2]: …", "sasl_ssl://b-1.kafka.example:9096"),
    ("[thrd:GroupCoordinator]: GroupCoordinator: Disconnected", "GroupCoordinator"),
    ("[thrd:main]: Consumer group session timed out", "main"),
    ("no thread prefix", ""),
])
def test_the_broker_of_a_line_is_its_thread_without_the_node_id(text: str, broker: str) -> None:
    assert broker_of(text) == broker


def fail_line(logger: logging.Logger, client: str, broker: str, n: int = 0) -> None:
    """A line as confluent-kafka logs it: ``"%s [%s] %s"`` with (facility, client name, text)."""
    logger.log(logging.ERROR, "%s [%s] %s", "FAIL", client,
               f"[thrd:{broker}/bootstrap]: {broker}/bootstrap: Connect to ipv4#{broker} failed: Connection refused "
               f"(attempt {n})")


def test_the_filter_passes_one_line_per_client_and_broker_and_counts_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    logger = logging.getLogger("streammask.librdkafka.test-filter")
    f = LibrdkafkaLimit(10.0, clock)
    logger.addFilter(f)
    try:
        caplog.set_level(logging.DEBUG, logger.name)
        for i in range(190):  # 10 s of reconnects at librdkafka's pace (~19 lines a second)
            fail_line(logger, "rdkafka#consumer-1", "10.0.0.1:9092", i)
            fail_line(logger, "rdkafka#consumer-1", "10.0.0.2:9092", i)
            fail_line(logger, "rdkafka#producer-2", "10.0.0.1:9092", i)
            clock.now += 10.0 / 190
        fail_line(logger, "rdkafka#consumer-1", "10.0.0.1:9092", 190)
        logger.info("a line not from librdkafka's log callback")
    finally:
        logger.removeFilter(f)
    lines = [(r.getMessage(), getattr(r, "fields", None)) for r in caplog.records]
    assert len(lines) == 5
    first = lines[0]
    assert first[0].startswith("FAIL [rdkafka#consumer-1] [thrd:10.0.0.1:9092/bootstrap]") and "(attempt 0)" in first[0]
    assert first[1] == {"facility": "FAIL", "broker": "10.0.0.1:9092"}
    assert [f for _, f in lines[1:3]] == [{"facility": "FAIL", "broker": "10.0.0.2:9092"},
                                          {"facility": "FAIL", "broker": "10.0.0.1:9092"}]
    assert "(attempt 190)" in lines[3][0]
    assert lines[3][1] == {"facility": "FAIL", "broker": "10.0.0.1:9092", "suppressed": 189}
    assert lines[4] == ("a line not from librdkafka's log callback", None)


def test_limit_installs_the_filter_once() -> None:
    logger = logging.getLogger("streammask.librdkafka.test-install")
    try:
        assert limit(limit(logger)) is logger
        assert sum(isinstance(f, LibrdkafkaLimit) for f in logger.filters) == 1
    finally:
        logger.filters.clear()
