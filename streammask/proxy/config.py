"""The proxy's config file (YAML): clusters, topics, routing, policy, delivery, metrics.

Any librdkafka property passes through under ``source``/``target`` (TLS, SASL…). Values may reference
environment variables as ``${NAME}``, so secrets stay out of the file. Problems are reported with file
and line, like the policy's.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streammask.errors import ConfigError, PolicyProblem, StreamMaskError
from streammask.yamldoc import YamlDoc, describe_validation_error, parse_yaml

KafkaProps = dict[str, str | int | float | bool]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Properties streammask sets itself: a user value would break delivery guarantees.
RESERVED = frozenset({
    "group.id", "enable.auto.commit", "enable.auto.offset.store", "isolation.level", "transactional.id",
    "enable.idempotence", "group.instance.id",
})


class UnroutedTopic(StreamMaskError):
    """A source topic that no route maps to a target topic, or that must not be read at all."""


class _At(ValueError):
    """A cross-field problem that knows which part of the file it is about (for the line number)."""

    def __init__(self, message: str, *loc: str) -> None:
        super().__init__(message)
        self.loc = loc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Strict):
    """``match`` is a regex over the whole source topic; ``to`` may use its groups (``\\1``)."""

    match: str
    to: str

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class Batch(_Strict):
    max_records: int = Field(default=5000, ge=1)
    """A transaction is committed after this many source records…"""
    max_ms: int = Field(default=500, ge=1)
    """…or this long after it began, whichever comes first."""


class Metrics(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(default=9400, ge=0, le=65535)


class ProxyConfig(_Strict):
    source: KafkaProps
    target: KafkaProps | None = None
    """Omit for the same cluster as source (offsets then commit inside the transaction)."""
    topics: list[str] | None = Field(default=None, min_length=1)
    topic_pattern: str | None = None
    routing: list[Route] = Field(default_factory=list)
    """First match wins; a topic no route matches is an error at start, not a silent copy."""
    policy: str
    group_id: str = "streammask"
    instance_id: str = Field(default_factory=socket.gethostname)
    audit_topic: str = "streammask.audit"
    checkpoint_topic: str = "streammask.checkpoints"
    on_blocked: Literal["stop", "skip"] = "stop"
    quarantine_topic: str | None = None
    """skip only: raw blocked records go here, on the SOURCE cluster (never to non-prod)."""
    delivery: Literal["transactional", "at-least-once"] = "transactional"
    partitioning: Literal["key", "source"] = "key"
    batch: Batch = Field(default_factory=Batch)
    metrics: Metrics = Field(default_factory=Metrics)

    @model_validator(mode="after")
    def _checks(self) -> ProxyConfig:
        if (self.topics is None) == (self.topic_pattern is None):
            raise _At("give exactly one of `topics` (a list) or `topic_pattern` (a regex)",
                      "topics" if self.topics is not None else "topic_pattern")
        if self.topic_pattern is not None:
            try:
                re.compile(self.topic_pattern)
            except re.error as exc:
                raise _At(f"topic_pattern is not a valid regular expression: {exc}", "topic_pattern") from None
        for side, props in (("source", self.source), ("target", self.target)):
            if props is None:
                continue
            if "bootstrap.servers" not in props:
                raise _At(f"`{side}` needs `bootstrap.servers`", side)
            reserved = sorted(RESERVED & props.keys())
            if reserved:
                raise _At(
                    f"`{side}` sets {', '.join(reserved)}, which streammask manages; remove it", side, reserved[0]
                )
        if "cooperative" in str(self.source.get("partition.assignment.strategy", "")):
            raise _At("cooperative rebalancing is not supported (a revoke must end the open transaction); "
                      "use range or roundrobin", "source", "partition.assignment.strategy")
        if self.quarantine_topic is not None and self.on_blocked != "skip":
            raise _At("quarantine_topic only applies with on_blocked: skip", "quarantine_topic")
        return self

    @property
    def same_cluster(self) -> bool:
        return self.target is None or self.target.get("bootstrap.servers") == self.source.get("bootstrap.servers")

    @property
    def target_props(self) -> KafkaProps:
        return self.target if self.target is not None else self.source

    def route(self, topic: str) -> str | None:
        for r in self.routing:
            m = re.fullmatch(r.match, topic)
            if m:
                return m.expand(r.to)
        return None

    @property
    def own_topics(self) -> frozenset[str]:
        """Topics streammask writes on the source cluster: reading one would feed output back as input."""
        own = {self.quarantine_topic} if self.quarantine_topic else set()
        if self.same_cluster:
            own |= {self.audit_topic, self.checkpoint_topic}
        return frozenset(own)

    def target_topic(self, topic: str) -> str:
        """The target topic for a source topic; raises UnroutedTopic when there is none that is safe."""
        if topic in self.own_topics:
            raise UnroutedTopic(
                f"source topic {topic} is one streammask writes itself; narrow `topic_pattern` to exclude it"
            )
        target = self.route(topic)
        if target is None:
            raise UnroutedTopic(f"no route maps source topic {topic}; add a `routing` entry for it")
        if target == topic and self.same_cluster:
            raise UnroutedTopic(f"route maps {topic} onto itself on the same cluster; it would overwrite the source")
        return target

    def subscription(self) -> list[str]:
        """What the consumer subscribes to: the topic list, or the pattern anchored at both ends
        (librdkafka treats a ``^``-prefixed name as a regex)."""
        return [f"^({self.topic_pattern})$"] if self.topic_pattern else list(self.topics or ())

    def matches(self, topic: str) -> bool:
        """Whether ``topic`` is a source topic of this config (as the subscription selects it)."""
        if self.topic_pattern is not None:
            return re.fullmatch(self.topic_pattern, topic) is not None
        return topic in (self.topics or ())


def _expand_env(value: object, path: str, missing: list[str]) -> object:
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                missing.append(f"{path}: environment variable {name} is not set")
                return ""
            return os.environ[name]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, f"{path}.{k}", missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, f"{path}[{i}]", missing) for i, v in enumerate(value)]
    return value


def _problem(err: Any, src: str, doc: YamlDoc) -> PolicyProblem:
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, _At):
        return PolicyProblem(str(cause), file=src, line=doc.line_of(cause.loc))
    loc = tuple(err["loc"])
    return PolicyProblem(describe_validation_error(err, loc), file=src, line=doc.line_of(loc))


def load_config(path: str | Path) -> tuple[ProxyConfig, Path]:
    """The validated config and the resolved policy path (relative to the config file)."""
    src = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([PolicyProblem(f"cannot read config: {exc.strerror}", file=src)]) from None
    doc, problems = parse_yaml(raw, src)
    if doc is None:
        raise ConfigError(problems)
    if not isinstance(doc.data, dict):
        raise ConfigError([PolicyProblem("the config must be a YAML mapping", file=src)])
    missing: list[str] = []
    data = _expand_env(doc.data, "config", missing)
    if missing:
        raise ConfigError([PolicyProblem(m, file=src) for m in missing])
    try:
        config = ProxyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(e, src, doc) for e in exc.errors()]) from None
    policy = Path(config.policy)
    if not policy.is_absolute():
        policy = Path(src).parent / policy
    return config, policy
