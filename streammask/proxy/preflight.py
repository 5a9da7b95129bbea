"""What a config needs of its clusters before it can run: each cluster answers, every listed source topic
exists, a pattern matches something. ``validate`` and ``lag`` report these by name (cluster, address, topic,
pattern) instead of exiting 0 on a config that cannot work, or ending in a traceback."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException

from streammask.proxy.clients import admin
from streammask.proxy.config import KafkaProps, ProxyConfig

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Preflight:
    problems: list[str]
    source_topics: list[str]
    """The source topics the config reads, as the source cluster has them now."""

    @property
    def ok(self) -> bool:
        return not self.problems


def address(props: KafkaProps) -> str:
    """A cluster's ``bootstrap.servers`` as the config names it (never credentials: those are other properties)."""
    return str(props.get("bootstrap.servers", "?"))


def _topics(props: KafkaProps, timeout_s: float) -> set[str] | str:
    """The cluster's topic names, or why it did not answer."""
    try:
        return set(admin(props).list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        err = exc.args[0]
        return f"{err.name()}: {err.str()}"


def preflight(config: ProxyConfig, check_target: bool = True, timeout_s: float = TIMEOUT_S) -> Preflight:
    problems: list[str] = []
    source = address(config.source)
    present = _topics(config.source, timeout_s)
    if isinstance(present, str):
        return Preflight([f"source cluster ({source}) unreachable within {timeout_s:.0f} s ({present})"], [])
    if config.topics is not None:
        wanted = sorted(set(config.topics))
        problems += [f"source topic {t} does not exist on the source cluster ({source})"
                     for t in wanted if t not in present]
        found = [t for t in wanted if t in present]
    else:
        found = sorted(t for t in present if config.matches(t) and t not in config.own_topics)
        if not found:
            problems.append(f"topic_pattern {config.topic_pattern!r} matches no topic on the source cluster ({source})")
    if check_target and not config.same_cluster:
        target = _topics(config.target_props, timeout_s)
        if isinstance(target, str):
            problems.append(f"target cluster ({address(config.target_props)}) unreachable within {timeout_s:.0f} s "
                            f"({target})")
    return Preflight(problems, found)
