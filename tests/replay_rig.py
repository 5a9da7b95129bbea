"""A replay pass at processor level, for the tests of the replay building blocks: resolve the ranges on the
in-memory cluster, read them with assign() (outside any group), mask with the real masker, digest and count
what would be produced, and build the manifest. What ``streammask replay`` does, minus producing."""

from __future__ import annotations

from typing import Any

from fake_kafka import FakeCluster, FakeConsumer
from test_proxy_runner import FIELDS, KEY, KEY_FIELDS, OUT, POLICY, TOPIC  # the customers table the runner tests use

from streammask.bootstrap import MaskingSetup
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import Coordinates, Masked
from streammask.pipeline import Addressed
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from streammask.proxy.config import ProxyConfig
from streammask.replay.manifest import FileOutput, Manifest
from streammask.replay.replayer import replay, resolve
from streammask.replay.spec import EARLIEST, END, Spec

try:
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path
    import events as ev  # type: ignore[no-redef]

OTHER = ev.topic("orders")  # not in the policy: its records are blocked
TARGET = OUT  # staging.public.customers
TARGET_PARTITIONS = {TARGET: 3, "staging.public.orders": 3}


def setup_for(key: MasterKey = KEY) -> MaskingSetup:
    loaded = parse_policy(POLICY)
    return MaskingSetup(loaded, key, RecordMasker(CompiledPolicy(loaded, key)))


def config(**overrides: Any) -> ProxyConfig:
    doc: dict[str, Any] = {
        "source": {"bootstrap.servers": "prod:9092"},
        "topics": [TOPIC],
        "routing": [{"match": r"[^.]+\.(.*)", "to": r"staging.\1"}],
        "policy": "unused.yaml",
        "on_blocked": "skip",
    }
    doc.update(overrides)
    return ProxyConfig.model_validate(doc)


def row(i: int) -> dict[str, Any]:
    return {"id": 1000 + i, "first_name": f"Quirinus{i}", "last_name": f"Zabriskie{i}",
            "email": f"quirinus.zab{i}@noanswer.org"}


def change(i: int, op: str = "c") -> tuple[bytes, bytes]:
    before = row(i) if op in ("u", "d") else None
    value = ev.envelope(FIELDS, before, None if op == "d" else row(i), op, ts_ms=ev.BASE_TS_MS + i)
    return ev.key(KEY_FIELDS, {"id": 1000 + i}), value


def customer_key(i: int) -> bytes:
    return ev.key(KEY_FIELDS, {"id": 1000 + i})


def replay_pass(
    cluster: FakeCluster,
    cfg: ProxyConfig,
    setup: MaskingSetup,
    start: Spec = EARLIEST,
    end: Spec = END,
    *,
    block_size: int = 2,
    only: set[tuple[str, int]] | None = None,
) -> tuple[Manifest, list[tuple[Coordinates, Masked]]]:
    """The manifest of replaying [start, end) with the product's ``replay`` (``only``: just these partitions,
    as a verify reads), and the masked outcomes with their source coordinates, in read order."""
    reader = FakeConsumer(cluster, "not-a-group", max_per_consume=1_000_000)
    ranges = resolve(reader, cfg, start, end, only)
    sink = Collect()
    run = replay(reader, cfg, setup, ranges, start=start, end=end, target_partitions=TARGET_PARTITIONS,
                 sink=sink, block_size=block_size)
    manifest = run.manifest(setup, cfg, TARGET_PARTITIONS, FileOutput(path="replay.jsonl"))
    return manifest, [(item.source.coordinates, item.masked) for item in sink.items]


class Collect:
    """A sink that keeps what it is given."""

    def __init__(self) -> None:
        self.items: list[Addressed] = []

    def write(self, item: Addressed) -> None:
        self.items.append(item)


def verify_pass(cluster: FakeCluster, cfg: ProxyConfig, setup: MaskingSetup, expected: Manifest) -> Manifest:
    """Re-read the manifest's ranges, as ``--verify`` does, with the manifest's block size."""
    start, end = expected.source.specs()
    only = {(r.topic, r.partition) for r in expected.source.partitions}
    return replay_pass(cluster, cfg, setup, start, end, block_size=expected.digests.block_size, only=only)[0]
