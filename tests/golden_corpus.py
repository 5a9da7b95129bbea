"""A fixed corpus of Debezium records and the policy that masks them, for golden digests of the output.

Every column type of ``events.ALL_TYPES`` under every strategy option the property tests use (blocked
combinations included: their reasons are output too), with and without schemas, keys of every key form,
Debezium's placeholders and special values, seeded random values, Debezium's documentation events, and
the benchmark's events. Each case is a (case id, topic, key, value) record; ``digest_lines`` masks them and
hashes, per group of cases, everything the masker returned (bytes, headers, kind, table,
op, counted columns and placeholders, or the block reason).

The digest was taken before the codec layer (issue 8) moved wire formats out of masking: the JSON output
must stay byte-identical, and any change of it must be deliberate (regenerate with
``python -m tests.golden_corpus --write``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import Blocked, Masked, Outcome
from streammask.plan import CompiledPolicy
from streammask.policy import parse_policy

try:
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path
    import events as ev  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "connect_json.sha256"
KEY = MasterKey(bytes(range(32)), "golden")
KEEP = {"strategy": "keep", "approved_by": "dpo@example.com", "reason": "golden corpus"}
# A copy of the property tests' options, on purpose: the golden corpus must not move when they do.
OPTIONS: dict[str, list[dict[str, Any]]] = {
    "tokenize": [{"strategy": "tokenize"}],
    "hash": [{"strategy": "hash"}, {"strategy": "hash", "length": 16}],
    "format-preserve": [
        {"strategy": "format-preserve"},
        {"strategy": "format-preserve", "mode": "text"},
        {"strategy": "format-preserve", "keep_prefix": 2, "keep_suffix": 3},
        {"strategy": "format-preserve", "mode": "email", "keep_suffix": 1},
    ],
    "replace": [
        {"strategy": "replace", "kind": "full_name"},
        {"strategy": "replace", "kind": "email"},
        {"strategy": "replace", "kind": "first_name", "locale": "de_DE"},
    ],
    "redact": [{"strategy": "redact"}],
    "shift": [{"strategy": "shift", "entity": "id", "max_days": 90}],
    "bucket": [
        {"strategy": "bucket", "step": 10},
        {"strategy": "bucket", "step": "0.5"},
        {"strategy": "bucket", "boundaries": [-1000, 0, 18, 65, 1000000]},
    ],
    "keep": [KEEP],
}
ID = ev.col("id", "int32", False)
KEY_FIELDS: dict[str, dict[str, Any]] = {
    "int32": ev.col("id", "int32", False),
    "int64": ev.col("id", "int64", False),
    "string": ev.col("id", "string", False),
    "uuid": ev.col("id", "string", False, name="io.debezium.data.Uuid", version=1),
}
KEY_SAMPLES: dict[str, list[Any]] = {
    "int32": [1, -7, 2_147_483_647, 123_456_789],
    "int64": [1, 9_007_199_254_740_993, -(2**63)],
    "string": ["A-1", "customer-000123", "Ünïcødé-42"],
    "uuid": ["3f2504e0-4f89-11d3-9a0c-0305e82c3301", "00000000-0000-0000-0000-000000000000"],
}
KEY_STRATEGIES: list[dict[str, Any] | None] = [
    {"strategy": "tokenize"}, {"strategy": "hash"}, {"strategy": "format-preserve"}, KEEP, None,
]
PLACEHOLDER_TEXT = "__debezium_unavailable_value"


class Case(NamedTuple):
    id: str
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def _placeholder_forms(cdef: ev.ColumnDef) -> list[Any]:
    raw = PLACEHOLDER_TEXT.encode()
    schema_type, name = cdef.schema["type"], cdef.schema.get("name")
    if schema_type == "string" and name in (None, "io.debezium.data.Json"):
        return [PLACEHOLDER_TEXT]
    if schema_type == "bytes" and name is None:
        return [base64.b64encode(raw).decode()]
    if schema_type == "array":
        return [[PLACEHOLDER_TEXT]]
    if schema_type == "map":
        return [{PLACEHOLDER_TEXT: PLACEHOLDER_TEXT}]
    return []


_SPECIAL: dict[str, list[Any]] = {
    "int64": [9223372036825200000, -9223372036832400000],
    "string": ["", " ", "infinity", "-infinity", "NaN", "Infinity", "-Infinity"],
}


def _random_values(cdef: ev.ColumnDef, rng: random.Random) -> list[Any]:
    """Seeded values beyond the catalogue's samples, for plain (unnamed) types and Decimals."""
    schema = cdef.schema
    name, kind = schema.get("name"), schema["type"]
    if name == "org.apache.kafka.connect.data.Decimal":
        return [ev.decimal_bytes(rng.randint(-(10**8), 10**8), 0) for _ in range(3)]  # unscaled values
    if name is not None or "parameters" in schema:
        return []
    if kind in ("int8", "int16", "int32", "int64"):
        bits = {"int8": 7, "int16": 15, "int32": 31, "int64": 63}[kind]
        return [rng.randint(-(2**bits), 2**bits - 1) for _ in range(3)]
    if kind == "bytes":
        return [base64.b64encode(rng.randbytes(rng.randint(1, 40))).decode() for _ in range(3)]
    if kind == "string":
        alphabet = "abcXYZ0189 .-@_éßΩ漢字ⓐ😀"
        return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))) for _ in range(3)]
    if kind in ("float32", "float64"):
        return [rng.uniform(-1e6, 1e6) for _ in range(2)]
    return []


def _column_cases(tables: dict[str, Any]) -> Iterator[Case]:
    rng = random.Random(20261130)
    for cdef in ev.ALL_TYPES:
        for strategy, options in OPTIONS.items():
            for index, option in enumerate(options):
                table = f"t_{cdef.id}_{strategy}_{index}".replace("-", "_")
                tables[f"public.{table}"] = {"fields": {"id": {"strategy": "tokenize"}, cdef.id: option}}
                yield from _table_cases(table, cdef, rng)


def _table_cases(table: str, cdef: ev.ColumnDef, rng: random.Random) -> Iterator[Case]:
    fields = [ID, cdef.field(cdef.id)]
    first, second = cdef.samples
    extra = _placeholder_forms(cdef) + _SPECIAL.get(cdef.schema["type"], []) + _random_values(cdef, rng)
    rows = [("create", "c", None, {"id": 1, cdef.id: first}),
            ("update", "u", {"id": 1, cdef.id: first}, {"id": 1, cdef.id: second}),
            ("delete", "d", {"id": 1, cdef.id: second}, None),
            *((f"extra{i}", "c", None, {"id": 1 + i, cdef.id: v}) for i, v in enumerate(extra))]
    for with_schema in (True, False):
        mode = "schema" if with_schema else "bare"
        key = ev.key([ID], {"id": 1}, table, with_schema=with_schema)
        for tag, op, before, after in rows:
            value = ev.envelope(fields, before, after, op, table, with_schema=with_schema)
            yield Case(f"{table}/{mode}/{tag}", ev.topic(table), key, value)


def _key_cases(tables: dict[str, Any]) -> Iterator[Case]:
    for key_type, key_field in KEY_FIELDS.items():
        for s_index, strategy in enumerate(KEY_STRATEGIES):
            table = f"k_{key_type}_{s_index}"
            fields = {"id": strategy} if strategy is not None else {}
            tables[f"public.{table}"] = {
                "passthrough": ["id"] if strategy is None else [],
                "fields": {**fields, "note": {"strategy": "redact"}},
            }
            row_fields = [key_field, ev.col("note", "string", True)]
            for i, key_value in enumerate(KEY_SAMPLES[key_type]):
                row = {"id": key_value, "note": "some note text"}
                for key_schema in (True, False):
                    for value_schema in (True, False):
                        key = ev.key([key_field], {"id": key_value}, table, with_schema=key_schema)
                        value = ev.envelope(row_fields, None, row, "c", table, with_schema=value_schema)
                        tag = f"{table}/{i}/k{int(key_schema)}v{int(value_schema)}"
                        yield Case(tag, ev.topic(table), key, value)
                        if key_schema and value_schema:
                            yield Case(f"{tag}/tombstone", ev.topic(table), key, None)
                            headers = (("__debezium.oldkey", key), ("__debezium.context.x", b"ctx"), ("drop", b"x"))
                            yield Case(f"{tag}/headers", ev.topic(table), key, value, headers)


def _fixture_cases(tables: dict[str, Any]) -> Iterator[Case]:
    tables["public.customers"] = {
        "passthrough": ["created_at"],
        "fields": {
            "id": {"strategy": "tokenize", "domain": "customer_id"},
            "first_name": {"strategy": "replace", "kind": "first_name"},
            "last_name": {"strategy": "replace", "kind": "last_name"},
            "email": {"strategy": "format-preserve"},
            "birth_date": {"strategy": "shift", "entity": "id", "max_days": 90},
        },
    }
    fixtures = REPO / "tests" / "fixtures" / "debezium"
    for path in sorted(fixtures.glob("*.json")):
        for key in (None, b'{"id":1}'):
            topic = "PostgreSQL_server.message" if "message" in path.name else "PostgreSQL_server.public.customers"
            yield Case(f"fixture/{path.name}/{key is not None}", topic, key, path.read_bytes())


def _bench_cases(tables: dict[str, Any]) -> Iterator[Case]:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import core_throughput as bench
    finally:
        sys.path.pop(0)
    import yaml

    bench_policy = yaml.safe_load(bench.POLICY)
    tables.update(bench_policy["tables"])
    for updates in (False, True):
        for schemas in (True, False):
            events = bench.iter_events(400, updates, seed=11, start=1 + 1000 * updates, schemas=schemas)
            for i, (key, value) in enumerate(events):
                yield Case(f"bench/{updates}/{schemas}/{i}", "dbserver1.public.customers", key, value)


def corpus() -> tuple[bytes, list[Case]]:
    """The policy (YAML, as JSON) and every case."""
    tables: dict[str, Any] = {}
    cases = [
        *_column_cases(tables), *_key_cases(tables), *_fixture_cases(tables), *_bench_cases(tables),
    ]
    policy = {"version": 1, "key": {"env": "GOLDEN_KEY", "id": "golden"}, "tables": tables}
    return json.dumps(policy, indent=1).encode(), cases


def describe(outcome: Outcome) -> bytes:
    """Everything an outcome says, as bytes (what the digest covers)."""
    if isinstance(outcome, Blocked):
        r = outcome.reason
        return orjson.dumps(["blocked", r.code.value, r.detail, r.table, r.column, str(outcome.kind), outcome.op])
    assert isinstance(outcome, Masked)
    return orjson.dumps([
        "masked",
        None if outcome.key is None else outcome.key.decode("utf-8", "replace"),
        None if outcome.value is None else outcome.value.decode("utf-8", "replace"),
        [(n, None if v is None else v.decode("utf-8", "replace")) for n, v in outcome.headers],
        outcome.kind.value, outcome.table, outcome.op, outcome.source_ts_ms,
        [tuple(s) for s in outcome.masked_columns], [tuple(s) for s in outcome.placeholders],
    ])


def digest_lines() -> list[str]:
    """One line per group of cases (a table of the corpus, a fixture, a benchmark set): the hash of its
    cases' outcomes in order, then the group's name."""
    policy, cases = corpus()
    masker = RecordMasker(CompiledPolicy(parse_policy(policy, "golden-policy"), KEY))
    groups: dict[str, Any] = {}
    for case in cases:
        outcome = masker.mask(case.topic, case.key, case.value, list(case.headers))
        group = case.id.rsplit("/", 1)[0] if case.id.startswith(("fixture/", "bench/")) else case.id.split("/")[0]
        digest = groups.get(group) or groups.setdefault(group, hashlib.sha256())
        digest.update(case.id.encode() + b"\0" + describe(outcome) + b"\0")
    return [f"{digest.hexdigest()[:32]} {group}" for group, digest in groups.items()]


if __name__ == "__main__":
    lines = digest_lines()
    if sys.argv[1:] == ["--write"]:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} groups, digest {hashlib.sha256(chr(10).join(lines).encode()).hexdigest()}")
