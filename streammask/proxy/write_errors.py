"""Failures of the writing side that an operator fixes in the config, said so.

librdkafka says ``Unknown topic`` or ``PRODUCER_FENCED``; the operator needs to know which target topic,
which route made it, and that a fenced producer means two instances share an ``instance_id``.
"""

from __future__ import annotations

import re

from confluent_kafka import KafkaError, KafkaException

from streammask.errors import StreamMaskError
from streammask.proxy.config import ProxyConfig

_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
TOPIC_CODES = frozenset({
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError.TOPIC_EXCEPTION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
})
FENCING_CODES = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH})
# A static group member (group.instance.id) that another member with the same id replaced.
CONSUMER_FENCING_CODES = frozenset({KafkaError.FENCED_INSTANCE_ID})


class TargetTopicUnwritable(StreamMaskError):
    """A target topic cannot be written: invalid name, missing and not created, or not authorised."""


class InstanceFenced(StreamMaskError):
    """Another producer with this instance's transactional.id started: two instances share an instance_id."""


def kafka_error(exc: BaseException) -> KafkaError | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def valid_topic_name(name: str) -> bool:
    return _TOPIC_NAME.fullmatch(name) is not None and name not in (".", "..")


def route_of(config: ProxyConfig, source_topic: str) -> str:
    """The routing entry that maps ``source_topic``, as the config spells it."""
    for i, r in enumerate(config.routing):
        if re.fullmatch(r.match, source_topic):
            return f"routing[{i}] (match {r.match!r}, to {r.to!r})"
    return "no route (the source topic's own name)"


def _origin(config: ProxyConfig, target: str, source_topic: str | None) -> str:
    if source_topic is not None:
        return f"the target of source topic {source_topic} by {route_of(config, source_topic)}"
    own = {config.audit_topic: "audit_topic", config.checkpoint_topic: "checkpoint_topic"}.get(target)
    return f"streammask's {own}" if own else "a target topic"


def invalid_target(config: ProxyConfig, target: str, source_topic: str) -> TargetTopicUnwritable | None:
    """A route that makes a name Kafka refuses, found before anything is written."""
    if valid_topic_name(target):
        return None
    return TargetTopicUnwritable(
        f"target topic {target!r} is not a valid topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-'); it is "
        f"{_origin(config, target, source_topic)}; correct that route's `to`")


def unwritable(
    config: ProxyConfig, err: KafkaError, target: str, source_topic: str | None
) -> TargetTopicUnwritable | None:
    """``err`` from writing ``target`` as an error naming the topic and the route that produced it; None when
    ``err`` is not about the topic."""
    if err.code() not in TOPIC_CODES:
        return None
    origin = _origin(config, target, source_topic)
    if not valid_topic_name(target):
        what = "is not a valid topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')"
        fix = "correct the route's `to`"
    elif err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        what = "may not be written with the target cluster's credentials"
        fix = "grant them WRITE and DESCRIBE on it, or correct the route"
    else:
        what = "does not exist and the target cluster did not create it"
        fix = "create it (as many partitions as its source topic), or correct the route"
    return TargetTopicUnwritable(f"target topic {target!r} {what} ({err.name()}); it is {origin}; {fix}")


def _static_member_fenced(err: KafkaError) -> bool:
    """The group refused this consumer: another member joined with its group.instance.id. librdkafka makes that
    fatal and reports it as ``_FATAL`` ("Fatal consumer error: Broker: Static consumer fenced by other consumer
    with same group.instance.id")."""
    code = err.code()
    return code == KafkaError.FENCED_INSTANCE_ID or (code == KafkaError._FATAL and "group.instance.id" in err.str())


def fenced(config: ProxyConfig, err: KafkaError, transactional_id: str) -> InstanceFenced | None:
    """A fencing error as what it means: another instance took over this instance's transactional.id (producer)
    or its static group membership (consumer, ``FENCED_INSTANCE_ID``: in both delivery modes)."""
    if err.code() in CONSUMER_FENCING_CODES or _static_member_fenced(err) or (
            err.code() == KafkaError._FATAL and "fenced" in err.str().lower() and "consumer" in err.str().lower()):
        lost = ("its open transaction was not committed" if config.delivery == "transactional"
                else "the offsets of its open batch were not committed (the other instance re-reads them)")
        return InstanceFenced(
            f"this instance's consumer was fenced ({err.name()}): another instance with the same instance_id "
            f"{config.instance_id!r} (its static membership of group {config.group_id!r}) joined; each instance "
            f"needs its own instance_id (e.g. instance_id: ${{HOSTNAME}}); {lost}")
    if err.code() not in FENCING_CODES:
        return None
    return InstanceFenced(
        f"this instance's producer was fenced ({err.name()}): another instance with the same instance_id "
        f"{config.instance_id!r} (transactional.id {transactional_id}) started; each instance needs its own "
        "instance_id (e.g. instance_id: ${HOSTNAME}); its open transaction was not committed")
