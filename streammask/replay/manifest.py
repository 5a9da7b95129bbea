"""The replay manifest: what a replay read, under which policy, key and versions, and what it wrote.

``schemas/replay-manifest.schema.json`` describes the JSON document. It never holds a value of a record:
only coordinates, counts, identifiers, versions, digests, and reasons written by streammask. ``--verify``
re-reads the manifest's source ranges, re-masks, builds the same document and ``compare``s the two: the
first difference names its source coordinates (see ``digest`` for how far the digests narrow it).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streammask import __version__
from streammask.errors import StreamMaskError
from streammask.replay.ranges import Ranges
from streammask.replay.spec import EARLIEST, END, Offsets, Spec

if TYPE_CHECKING:  # types only: the manifest is built from their numbers and names
    from streammask.audit import AuditCounts
    from streammask.codec.registry import RegistryConfig
    from streammask.proxy.config import ProxyConfig

MANIFEST_VERSION: Literal[1] = 1
ENCODING: Literal["streammask-record-v1"] = "streammask-record-v1"
"""The record encoding the digests hash (``digest.encode_record``)."""
DEFAULT_BLOCK_SIZE = 10_000

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Fingerprint = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
Count = Annotated[int, Field(ge=0)]
TopicName = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")]
Partition = Annotated[int, Field(ge=0, le=2**31 - 1)]
Offset = Annotated[int, Field(ge=0, le=2**63 - 1)]


class ManifestError(StreamMaskError):
    """A manifest file that cannot be read or is not a manifest this version understands."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _sorted(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted(v) if isinstance(v, dict) else v for k, v in sorted(value.items())}


class Position(_Model):
    """A source record's coordinates."""

    topic: TopicName
    partition: Partition
    offset: Offset

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


class SourceRange(_Model):
    """Offsets [start, end) of one source partition, and how many records were read there (fewer than
    end - start where transaction markers or compaction leave offsets without a record)."""

    topic: TopicName
    partition: Partition
    start: Offset
    end: Offset
    records: Count


class Source(_Model):
    from_spec: str
    """``--from`` as ``spec.format_spec`` writes it (canonical: times in UTC milliseconds)."""
    to_spec: str
    partitions: list[SourceRange]

    def specs(self) -> tuple[Spec, Spec]:
        """``--from`` and ``--to`` that re-read exactly these ranges (a verify resolves them again, so a
        partition gone or a start moved by retention shows as a difference)."""
        if not self.partitions:
            return EARLIEST, END
        return (Offsets({(r.topic, r.partition): r.start for r in self.partitions}),
                Offsets({(r.topic, r.partition): r.end for r in self.partitions}))

    @classmethod
    def of(cls, from_spec: str, to_spec: str, ranges: Ranges, read: Mapping[tuple[str, int], int]) -> Source:
        """``read``: records read per partition (absent: none)."""
        return cls(from_spec=from_spec, to_spec=to_spec, partitions=[
            SourceRange(topic=t, partition=p, start=r.start, end=r.end, records=read.get((t, p), 0))
            for (t, p), r in sorted(ranges.items())
        ])


class Registries(_Model):
    """Registry URLs as the client uses them, without credentials."""

    source: str
    target: str | None
    subject_name_strategy: Literal["topic", "record"]


class Formats(_Model):
    value: Literal["json", "avro"]
    key: Literal["json", "avro"]
    schema_registry: Registries | None

    @classmethod
    def of(cls, config: ProxyConfig, env: Mapping[str, str] | None = None) -> Formats:
        """``env`` resolves ``${VAR}`` in registry URLs (default: os.environ); credentials are dropped."""
        registries = config.schema_registry
        return cls(
            value=config.format,
            key=config.key_format or config.format,
            schema_registry=None if registries is None else Registries(
                source=_clean_url(registries.source, env),
                target=None if registries.target is None else _clean_url(registries.target, env),
                subject_name_strategy=registries.subject_name_strategy,
            ),
        )


def _clean_url(config: RegistryConfig, env: Mapping[str, str] | None) -> str:
    from streammask.codec.registry import RegistryClient

    with RegistryClient(config, env=env) as client:  # no request is sent: it only resolves the settings
        return client.url


class Route(_Model):
    match: str
    to: str


class ConfigIdentity(_Model):
    """What of the config decides which records are read and where they go."""

    group_id: str
    topics: list[TopicName] | None
    topic_pattern: str | None
    routing: list[Route]
    partitioning: Literal["key", "source"]
    on_blocked: Literal["stop", "skip"]

    @classmethod
    def of(cls, config: ProxyConfig) -> ConfigIdentity:
        return cls(
            group_id=config.group_id,
            topics=config.topics,
            topic_pattern=config.topic_pattern,
            routing=[Route(match=r.match, to=r.to) for r in config.routing],
            partitioning=config.partitioning,
            on_blocked=config.on_blocked,
        )


class WrittenRange(_Model):
    """Target offsets written to one partition, first and last inclusive (from delivery reports); ``records``
    may be fewer than last - first + 1 (transaction markers take offsets too)."""

    topic: TopicName
    partition: Partition
    first_offset: Offset
    last_offset: Offset
    records: Annotated[int, Field(ge=1)]


class TopicsOutput(_Model):
    kind: Literal["topics"] = "topics"
    written: list[WrittenRange]

    @classmethod
    def of(cls, delivered: Iterable[tuple[str, int, int]]) -> TopicsOutput:
        """From the (topic, partition, offset) of each delivery report, in any order."""
        seen: dict[tuple[str, int], tuple[int, int, int]] = {}
        for topic, partition, offset in delivered:
            first, last, n = seen.get((topic, partition), (offset, offset, 0))
            seen[(topic, partition)] = (min(first, offset), max(last, offset), n + 1)
        return cls(written=[WrittenRange(topic=t, partition=p, first_offset=first, last_offset=last, records=n)
                            for (t, p), (first, last, n) in sorted(seen.items())])


class FileOutput(_Model):
    kind: Literal["file"] = "file"
    path: str


class Counts(_Model):
    """As the audit summary counts them: records in = out + blocked; events by kind; per table, records
    written per op (``tombstone`` for tombstones)."""

    records_in: Count
    records_out: Count
    blocked: Count
    events: dict[str, Count]
    tables: dict[str, dict[str, Count]]

    @field_validator("events", "tables")
    @classmethod
    def _sort(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _sorted(value)


class BlockedRecord(_Model):
    """A blocked record: coordinates and reason (``outcome.blocked_fields``); never a value."""

    topic: TopicName
    partition: Partition
    offset: Offset
    code: str
    table: str | None
    column: str | None
    reason: str


def counts_of(audit: AuditCounts) -> tuple[Counts, list[BlockedRecord], bool]:
    """The counts, the blocked records listed (the audit keeps the first 10,000) and whether more were."""
    doc = audit.as_dict()
    tables = {table: entry["ops"] for table, entry in doc["tables"].items() if entry["ops"]}
    counts = Counts(records_in=doc["records"]["in"], records_out=doc["records"]["out"],
                    blocked=doc["records"]["blocked"], events=doc["events"], tables=tables)
    return counts, [BlockedRecord(**b) for b in doc["blocked"]], bool(doc["blocked_truncated"])


class Block(_Model):
    """A checkpoint of one chain: ``sha256`` is the digest of its records [0, ``records``); ``first_offset`` and
    ``last_offset`` are the source offsets of the first and last record since the previous checkpoint."""

    records: Annotated[int, Field(ge=1)]
    sha256: Sha256
    first_offset: Offset
    last_offset: Offset


class Chain(_Model):
    """The output records one source partition sent to one target partition, in source offset order: the
    order a replay reproduces (records of different source partitions interleave as they were fetched)."""

    target_topic: TopicName
    target_partition: Partition
    source_topic: TopicName
    source_partition: Partition
    records: Annotated[int, Field(ge=1)]
    sha256: Sha256
    """Of every record of the chain: the last block's."""
    blocks: list[Block]


class Digests(_Model):
    algorithm: Literal["sha256"] = "sha256"
    encoding: Literal["streammask-record-v1"] = ENCODING
    block_size: Annotated[int, Field(ge=1)] = DEFAULT_BLOCK_SIZE
    chains: list[Chain]
    """Sorted by (target topic, target partition, source topic, source partition); only chains with records."""


def utc_now() -> str:
    """As the audit summary writes times: UTC, milliseconds, ``Z``."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def faker_version() -> str:
    return importlib.metadata.version("Faker")


class Manifest(_Model):
    manifest_version: Literal[1] = MANIFEST_VERSION
    created_at: str = Field(default_factory=utc_now)
    streammask_version: str = __version__
    faker_version: str = Field(default_factory=faker_version)
    policy_sha256: Sha256
    key_id: str
    key_fingerprint: Fingerprint | None = None
    """Which key material (``keys.MasterKey.fingerprint``); None in manifests written before it was recorded."""
    formats: Formats
    config: ConfigIdentity
    source: Source
    target_partitions: dict[TopicName, Annotated[int, Field(ge=1)]]
    """Partitions of each target topic when the replay started: key partitioning hashes over them."""
    output: Annotated[TopicsOutput | FileOutput, Field(discriminator="kind")]
    counts: Counts
    blocked: list[BlockedRecord]
    blocked_truncated: bool
    digests: Digests

    @field_validator("target_partitions")
    @classmethod
    def _sort(cls, value: dict[str, int]) -> dict[str, int]:
        return _sorted(value)

    def to_json(self) -> bytes:
        """Indented JSON, fields in a fixed order: the same manifest is always the same bytes."""
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_json(cls, data: bytes, source: str = "manifest") -> Manifest:
        """``ManifestError`` naming the field (never its content) when ``data`` is not a manifest."""
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ManifestError(f"{source}: not JSON") from None
        if isinstance(doc, dict) and doc.get("manifest_version") not in (None, MANIFEST_VERSION):
            raise ManifestError(f"{source}: manifest_version {doc['manifest_version']!r} is not one this streammask "
                                f"({__version__}) reads; it reads {MANIFEST_VERSION}")
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the document"
            raise ManifestError(f"{source}: {where}: {first['msg']} ({exc.error_count()} problem(s))") from None


@dataclass(frozen=True)
class Difference:
    """The first way a verify's manifest differs from the expected one. ``at``: the first differing source
    coordinates known. For an output difference, the first differing record is one of the source records
    ``at`` to ``until`` (one digest block) and ``target`` is where they were sent."""

    what: str
    detail: str
    at: Position | None = None
    until: Position | None = None
    target: tuple[str, int] | None = None

    def __str__(self) -> str:
        where = f" at {self.at}" if self.at is not None else ""
        return f"{self.what}{where}: {self.detail}"


def compare(expected: Manifest, actual: Manifest) -> Difference | None:
    """None when ``actual`` (a verify) reproduces ``expected``; otherwise the first difference, in this
    order: what the output depends on (policy, key, formats, config, target partitions), the source records
    read, the blocked records, the output digests, the counts. Times, versions and output locations are not
    compared: a verify re-masks at another time, maybe with another streammask, and writes nothing."""
    for check in (_identity, _source, _blocked, _digests, _counts):
        diff = check(expected, actual)
        if diff is not None:
            return diff
    return None


def _counts(expected: Manifest, actual: Manifest) -> Difference | None:
    if expected.counts == actual.counts:
        return None
    return Difference("counts", "the counts per table and op differ though every output record is the same")


def _identity(expected: Manifest, actual: Manifest) -> Difference | None:
    if expected.policy_sha256 != actual.policy_sha256:
        return Difference("policy", f"policy sha256 {actual.policy_sha256}, expected {expected.policy_sha256}")
    if expected.key_id != actual.key_id:
        return Difference("key", f"key id {actual.key_id}, expected {expected.key_id}")
    if None not in (expected.key_fingerprint, actual.key_fingerprint) and (
            expected.key_fingerprint != actual.key_fingerprint):
        return Difference("key", f"key fingerprint differs: {actual.key_fingerprint}, expected "
                                 f"{expected.key_fingerprint} (the same key id {expected.key_id}, other key material)")
    if expected.formats.model_dump(exclude={"schema_registry"}) != actual.formats.model_dump(
            exclude={"schema_registry"}):
        return Difference("formats", f"wire formats {actual.formats.value}/{actual.formats.key} (value/key), "
                                     f"expected {expected.formats.value}/{expected.formats.key}")
    if expected.config != actual.config:
        return Difference("config", "the config's topics, routing, partitioning or on_blocked differ")
    if expected.target_partitions != actual.target_partitions:
        return Difference("target-partitions", f"target topics have {actual.target_partitions} partitions, "
                                               f"expected {expected.target_partitions}")
    return None


def _source(expected: Manifest, actual: Manifest) -> Difference | None:
    exp = {(r.topic, r.partition): r for r in expected.source.partitions}
    act = {(r.topic, r.partition): r for r in actual.source.partitions}
    for tp in sorted(exp.keys() | act.keys()):
        e, a = exp.get(tp), act.get(tp)
        if e is None or a is None:
            return Difference("source", f"partition {tp[0]}/{tp[1]} is {'not ' if a is None else ''}read, "
                                        f"expected {'not ' if e is None else ''}read")
        if (e.start, e.end) != (a.start, a.end):
            return Difference("source", f"partition {tp[0]}/{tp[1]}: read offsets [{a.start}, {a.end}), expected "
                                        f"[{e.start}, {e.end})")
        if e.records != a.records:
            return Difference("source", f"partition {tp[0]}/{tp[1]}: {a.records} records read in [{e.start}, "
                                        f"{e.end}), expected {e.records}: the source changed (retention, compaction)")
    return None


def _blocked(expected: Manifest, actual: Manifest) -> Difference | None:
    """Blocked records by coordinates (the list is in read order, which interleaves partitions as fetched).
    A truncated list is a sample of the first 10,000 read: then only the totals are compared."""
    if not expected.blocked_truncated and not actual.blocked_truncated:
        exp = {_at(b): b for b in expected.blocked}
        act = {_at(b): b for b in actual.blocked}
        for at in sorted(exp.keys() | act.keys(), key=lambda p: (p.topic, p.partition, p.offset)):
            e, a = exp.get(at), act.get(at)
            if e == a:
                continue
            if e is None or a is None:
                code = (a or e).code  # type: ignore[union-attr]
                return Difference("blocked", f"{'blocked' if a else 'not blocked'} ({code}), expected "
                                             f"{'blocked' if e else 'not blocked'}", at)
            return Difference("blocked", f"blocked with {a.code} ({a.reason}), expected {e.code} ({e.reason})", at)
    if expected.counts.blocked != actual.counts.blocked:
        return Difference("blocked", f"{actual.counts.blocked} records blocked, expected {expected.counts.blocked}")
    return None


def _at(b: BlockedRecord) -> Position:
    return Position(topic=b.topic, partition=b.partition, offset=b.offset)


def _digests(expected_manifest: Manifest, actual_manifest: Manifest) -> Difference | None:
    expected, actual = expected_manifest.digests, actual_manifest.digests
    if (expected.encoding, expected.block_size) != (actual.encoding, actual.block_size):
        return Difference("output", f"digests of {actual.encoding} in blocks of {actual.block_size}, expected "
                                    f"{expected.encoding} in blocks of {expected.block_size}: not comparable")
    exp = {_chain_key(c): c for c in expected.chains}
    act = {_chain_key(c): c for c in actual.chains}
    for key in sorted(exp.keys() | act.keys()):
        diff = _chain_difference(key, exp.get(key), act.get(key))
        if diff is not None:
            return diff
    return None


def _chain_key(chain: Chain) -> tuple[str, int, str, int]:
    return chain.target_topic, chain.target_partition, chain.source_topic, chain.source_partition


def _chain_difference(
    key: tuple[str, int, str, int], expected: Chain | None, actual: Chain | None
) -> Difference | None:
    """The first block whose prefix digest differs holds the first differing record (the digest of a block
    covers every record before it too), so the difference is narrowed to that block's source offsets."""
    target_topic, target_partition, topic, partition = key
    exp_blocks = expected.blocks if expected is not None else []
    act_blocks = actual.blocks if actual is not None else []
    for i in range(max(len(exp_blocks), len(act_blocks))):
        e = exp_blocks[i] if i < len(exp_blocks) else None
        a = act_blocks[i] if i < len(act_blocks) else None
        if e == a:
            continue
        first = min(b.first_offset for b in (e, a) if b is not None)
        last = max(b.last_offset for b in (e, a) if b is not None)
        if e is None or a is None or e.records != a.records:
            got, wanted = (c.records if c is not None else 0 for c in (actual, expected))
            what = f"{'more' if got > wanted else 'fewer'} output records than expected ({got}, expected {wanted})"
        else:
            what = "an output record differs"
        return Difference(
            "output",
            f"source {topic}/{partition} offsets {first} to {last} -> target {target_topic}/{target_partition}: "
            f"{what}",
            Position(topic=topic, partition=partition, offset=first),
            Position(topic=topic, partition=partition, offset=last),
            (target_topic, target_partition),
        )
    return None

