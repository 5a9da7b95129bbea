"""The proxy's config file (YAML): clusters, topics, routing, policy, wire format, delivery, metrics.

Any librdkafka property passes through under ``source``/``target`` (TLS, SASL…). Values may reference
environment variables as ``${NAME}``, so secrets stay out of the file. Problems are reported with file
and line, like the policy's. ``schema_registry`` keeps its references unexpanded (the registry client
resolves them, so the config never holds a registry secret); that they are set is checked at load.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streammask import topic_names
from streammask.codec import SchemaRegistries, WireFormat
from streammask.codec.settings import registry_problems
from streammask.errors import ConfigError, PolicyProblem, StreamMaskError
from streammask.yamldoc import YamlDoc, YamlPath, describe_validation_error, parse_yaml

KafkaProps = dict[str, str | int | float | bool]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Properties streammask sets itself: a user value would break delivery guarantees.
RESERVED = frozenset({
    "group.id", "enable.auto.commit", "enable.auto.offset.store", "isolation.level", "transactional.id",
    "enable.idempotence", "group.instance.id",
})


class UnroutedTopic(StreamMaskError):
    """A source topic that no route maps to a target topic, or that must not be read at all."""


class InvalidTargetTopic(UnroutedTopic):
    """A route maps a source topic to a name Kafka refuses as a topic name (``topic_names``)."""


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

    @model_validator(mode="after")
    def _template(self) -> Route:
        """A ``to`` that is no template for ``match``, or that can only give names Kafka refuses, fails at
        load rather than at the first record."""
        try:
            re.compile(self.match).sub(self.to, "")  # parses the template against the pattern's groups
        except (re.error, IndexError) as exc:
            raise _At(f"{self}: `to` is not a valid replacement for `match`: {exc}", "to") from None
        problem = topic_names.template_problem(self.to)
        if problem is not None:
            raise _At(f"{self}: no target topic it gives is a legal Kafka topic name: {problem}", "to")
        return self

    def __str__(self) -> str:
        return f"route '{self.match}' -> {topic_names.shown(self.to)}"


class Batch(_Strict):
    max_records: int = Field(default=5000, ge=1)
    """A transaction is committed after this many source records…"""
    max_ms: int = Field(default=500, ge=1)
    """…or this long after it began, whichever comes first."""


class Metrics(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(default=9400, ge=0, le=65535)


Fingerprint = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class KeyRotation(_Strict):
    """A reviewed decision to continue this group's target topics under a new key, though they then hold
    records of two mappings (joins across the switch break). Checked at start against the checkpoints:
    ``from_key_id`` must be the key the targets were last written under, ``to_key_id`` the key in force.

    New key material under the same key id is acknowledged with ``from_key_id`` = ``to_key_id`` and both
    fingerprints (the refusal names them): they pin the acknowledgement to that one change, so a further
    secret under the same id is refused again. Fingerprints may be given with a new key id too; given,
    they are checked like the ids."""

    from_key_id: str = Field(min_length=1)
    to_key_id: str = Field(min_length=1)
    from_fingerprint: Fingerprint | None = None
    to_fingerprint: Fingerprint | None = None
    approved_by: str = Field(min_length=1)
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _differ(self) -> KeyRotation:
        if self.from_key_id != self.to_key_id:
            return self
        if self.from_fingerprint is None or self.to_fingerprint is None:
            raise ValueError("`from_key_id` and `to_key_id` are the same: to acknowledge new key material under "
                             "the same key id, give `from_fingerprint` and `to_fingerprint` too (the refusal names "
                             "them); otherwise there is no rotation to acknowledge")
        if self.from_fingerprint == self.to_fingerprint:
            raise ValueError("`from_fingerprint` and `to_fingerprint` are the same, as are the key ids: there is no "
                             "rotation to acknowledge")
        return self

    @property
    def fingerprints(self) -> str:
        """``fingerprint A -> B`` when the acknowledgement pins either (``any`` for one it leaves open), else ""."""
        if self.from_fingerprint is None and self.to_fingerprint is None:
            return ""
        return f"fingerprint {self.from_fingerprint or 'any'} -> {self.to_fingerprint or 'any'}"


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
    broker_timeout_s: int = Field(default=120, ge=10)
    """A cluster (source or target) unreachable this long ends ``run`` (exit 1, naming it), so that a supervisor
    restarts it; while it is unreachable, ``/readyz`` is 503."""
    shutdown_timeout_s: int = Field(default=30, ge=1)
    """After SIGTERM/SIGINT (or an error), the process is gone within this long: gracefully (the open transaction
    committed, the group left) when it can, otherwise it exits 1 naming what it was stuck in."""
    watchdog_timeout_s: int = Field(default=180, ge=10)
    """The loop not turning for this long ends ``run`` (exit 1, naming what it was stuck in); ``/healthz`` is 503
    (``stalled``) from half of it. Give it more than ``transaction.timeout.ms``: one Kafka call may take that."""
    format: WireFormat = "json"
    """The records' wire format, keys and values: ``json`` (JsonConverter) or ``avro`` (AvroConverter)."""
    key_format: WireFormat | None = None
    """Keys only, when they differ from ``format``."""
    schema_registry: SchemaRegistries | None = None
    """Where Avro schemas are read and registered; required with avro, refused without it."""
    key_rotation: KeyRotation | None = None
    """Acknowledges continuing target topics written under another key; without it such a start is refused."""

    @field_validator("audit_topic", "checkpoint_topic", "quarantine_topic")
    @classmethod
    def _topic_name(cls, value: str | None) -> str | None:
        problem = None if value is None else topic_names.problem(value)
        if problem is not None:
            raise ValueError(f"not a legal Kafka topic name: {problem}")
        return value

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
        if self.watchdog_timeout_s <= 2 * self.txn_timeout_s:
            raise _At(f"watchdog_timeout_s ({self.watchdog_timeout_s}) must be more than twice the target's "
                      f"transaction.timeout.ms ({self.txn_timeout_s:g} s): a commit may wait that long on each of two "
                      "calls; raise it or lower transaction.timeout.ms", "watchdog_timeout_s")
        if self.quarantine_topic is not None and self.on_blocked != "skip":
            raise _At("quarantine_topic only applies with on_blocked: skip", "quarantine_topic")
        self._check_wire()
        return self

    def _check_wire(self) -> None:
        """Avro needs a registry; a registry block with nothing in Avro is refused too, not ignored: it most
        likely means a forgotten ``format: avro`` (every record would then block as wrong-format), and a
        config that reads otherwise than it runs is a review hazard."""
        avro = "avro" in (self.format, self.key_format)
        if avro and self.schema_registry is None:
            where = "format" if self.format == "avro" else "key_format"
            raise _At(f"{where} avro needs `schema_registry` with `source` (the registry that gave the records' "
                      "schema ids)", where)
        if not avro and self.schema_registry is not None:
            raise _At("`schema_registry` is set but nothing is avro (`format` and `key_format` are json); "
                      "set `format: avro` (or `key_format: avro`) or remove the block", "schema_registry")

    @property
    def same_cluster(self) -> bool:
        return self.target is None or self.target.get("bootstrap.servers") == self.source.get("bootstrap.servers")

    @property
    def target_props(self) -> KafkaProps:
        return self.target if self.target is not None else self.source

    @property
    def txn_timeout_s(self) -> float:
        """The bound of each blocking call to the target producer: its ``transaction.timeout.ms`` (default 60 s)."""
        return float(self.target_props.get("transaction.timeout.ms", 60_000)) / 1000

    @property
    def session_timeout_s(self) -> float:
        """The source consumer's ``session.timeout.ms`` (default 10 s): a pause longer than it may have cost the
        group membership."""
        return float(self.source.get("session.timeout.ms", 10_000)) / 1000

    def route(self, topic: str) -> str | None:
        found = self._route(topic)
        return None if found is None else found[1]

    def _route(self, topic: str) -> tuple[Route, str] | None:
        """The first route that matches ``topic``, and the name it gives."""
        for r in self.routing:
            m = re.fullmatch(r.match, topic)
            if m:
                return r, m.expand(r.to)
        return None

    @property
    def own_topics(self) -> frozenset[str]:
        """Topics streammask writes on the source cluster: reading one would feed output back as input."""
        own = {self.quarantine_topic} if self.quarantine_topic else set()
        if self.same_cluster:
            own |= {self.audit_topic, self.checkpoint_topic}
        return frozenset(own)

    def target_topic(self, topic: str) -> str:
        """The target topic for a source topic; raises UnroutedTopic when there is none that is safe, and
        InvalidTargetTopic when Kafka would refuse its name (``run``, ``replay`` and ``validate`` all ask here)."""
        if topic in self.own_topics:
            raise UnroutedTopic(
                f"source topic {topic} is one streammask writes itself; narrow `topic_pattern` to exclude it"
            )
        found = self._route(topic)
        if found is None:
            raise UnroutedTopic(f"no route maps source topic {topic}; add a `routing` entry for it")
        route, target = found
        if target == topic and self.same_cluster:
            raise UnroutedTopic(f"route maps {topic} onto itself on the same cluster; it would overwrite the source")
        problem = topic_names.problem(target)
        if problem is not None:
            raise InvalidTargetTopic(
                f"{route} maps source topic {topic} to {topic_names.shown(target)}, "
                f"which is not a legal Kafka topic name: {problem}; change the route's `to`"
            )
        return target

    def collisions(self, sources: Iterable[str]) -> list[str]:
        """Target topics of ``sources`` (routable ones) and streammask's own on the target cluster that Kafka takes
        for one another: it refuses to create a topic whose name differs from an existing one's only in '.'
        against '_' (they collide in its metric names)."""
        names = {self.audit_topic, self.checkpoint_topic} | {self.target_topic(s) for s in sources}
        return [f"target topics {a} and {b} differ only in '.' against '_', which collide in Kafka's metric names: "
                "Kafka refuses to create one while the other exists; route them to names that differ otherwise"
                for a, b in topic_names.collisions(names)]

    def subscription(self) -> list[str]:
        """What the consumer subscribes to: the topic list, or the pattern anchored at both ends
        (librdkafka treats a ``^``-prefixed name as a regex)."""
        return [f"^({self.topic_pattern})$"] if self.topic_pattern else list(self.topics or ())

    def matches(self, topic: str) -> bool:
        """Whether ``topic`` is a source topic of this config (as the subscription selects it)."""
        if self.topic_pattern is not None:
            return re.fullmatch(self.topic_pattern, topic) is not None
        return topic in (self.topics or ())


UNEXPANDED = frozenset({"schema_registry"})
"""Blocks whose ``${NAME}`` references stay in the config: their client resolves them."""


def _dotted(path: YamlPath) -> str:
    return "config" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _expand_env(value: object, path: YamlPath, missing: list[tuple[str, YamlPath]]) -> object:
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                missing.append((f"{_dotted(path)}: environment variable {name} is not set", path))
                return ""
            return os.environ[name]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: v if not path and k in UNEXPANDED else _expand_env(v, (*path, k), missing)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, (*path, i), missing) for i, v in enumerate(value)]
    return value


def _problem(err: Any, src: str, doc: YamlDoc) -> PolicyProblem:
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, _At):  # loc: of the model that raised it (e.g. a route) + within it
        return PolicyProblem(str(cause), file=src, line=doc.line_of((*err["loc"], *cause.loc)))
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
    missing: list[tuple[str, YamlPath]] = []
    data = _expand_env(doc.data, (), missing)
    if missing:
        raise ConfigError([PolicyProblem(m, file=src, line=doc.line_of(at)) for m, at in missing])
    try:
        config = ProxyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(e, src, doc) for e in exc.errors()]) from None
    if config.schema_registry is not None:
        problems = registry_problems(config.schema_registry, doc, ("schema_registry",), "config.schema_registry")
        if problems:
            raise ConfigError(problems)
    policy = Path(config.policy)
    if not policy.is_absolute():
        policy = Path(src).parent / policy
    return config, policy
