"""The replay manifest: produced manifests validate against schemas/replay-manifest.schema.json, the schema
and the model refuse unknown fields, JSON round-trips byte for byte, and ``compare`` names the first
difference of each kind."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from fake_kafka import FakeCluster
from pydantic import BaseModel
from replay_rig import OTHER, TOPIC, change, config, replay_pass, setup_for

from streammask import __version__
from streammask.outcome import Coordinates
from streammask.replay import manifest as m
from streammask.replay.digest import OutputDigests
from streammask.replay.manifest import Difference, Manifest, ManifestError, compare
from streammask.replay.spec import EARLIEST, END, Offsets

REPO = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((REPO / "schemas" / "replay-manifest.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def a_cluster() -> FakeCluster:
    cluster = FakeCluster("source")
    cluster.create_topic(TOPIC, 2)
    cluster.create_topic(OTHER, 1)
    for i in range(5):
        key, value = change(i)
        cluster.write(TOPIC, key, value, partition=i % 2)
    cluster.write(TOPIC, change(1)[0], None, partition=1)  # a tombstone
    key, value = change(7)
    cluster.write(OTHER, key, value.replace(b"customers", b"orders"))  # blocked: not in the policy
    return cluster


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return replay_pass(a_cluster(), config(topics=[TOPIC, OTHER]), setup_for())[0]


def doc_of(manifest: Manifest) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(manifest.to_json())
    return doc


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["additionalProperties"] is False


def test_a_replays_manifest_validates(manifest: Manifest) -> None:
    doc = doc_of(manifest)
    VALIDATOR.validate(doc)
    assert doc["manifest_version"] == 1 and doc["streammask_version"] == __version__
    assert doc["faker_version"] == importlib.metadata.version("Faker")
    assert doc["blocked"][0]["code"] == "unknown-table" and doc["counts"]["events"]["tombstone"] == 1
    assert doc["digests"]["chains"] and doc["output"] == {"kind": "file", "path": "replay.jsonl"}


def test_a_topics_output_from_delivery_reports_validates(manifest: Manifest) -> None:
    out = "staging.public.customers"
    # delivery reports come per partition in order, partitions interleaved; transaction markers take offsets
    written = m.TopicsOutput.of([(out, 1, 7), (out, 0, 10), (out, 0, 11), (out, 1, 8), (out, 0, 13)])
    assert written.written == [
        m.WrittenRange(topic=out, partition=0, first_offset=10, last_offset=13, records=3),
        m.WrittenRange(topic=out, partition=1, first_offset=7, last_offset=8, records=2),
    ]
    doc = doc_of(manifest.model_copy(update={"output": written}))
    VALIDATOR.validate(doc)
    assert Manifest.from_json(orjson.dumps(doc)).output == written
    assert m.TopicsOutput.of([]).written == []


@pytest.mark.parametrize(
    "path",
    [(), ("formats",), ("config",), ("source",), ("source", "partitions", 0), ("output",), ("counts",),
     ("blocked", 0), ("digests",), ("digests", "chains", 0), ("digests", "chains", 0, "blocks", 0)],
)
def test_unknown_fields_are_refused_by_the_schema_and_the_model(manifest: Manifest, path: tuple[Any, ...]) -> None:
    doc = doc_of(manifest)
    node = doc
    for step in path:
        node = node[step]
    node["surprise"] = 1
    messages = [e.message for error in VALIDATOR.iter_errors(doc) for e in (error, *(error.context or ()))]
    assert any("('surprise' was unexpected)" in message for message in messages), messages
    with pytest.raises(ManifestError, match="surprise"):
        Manifest.from_json(orjson.dumps(doc))


def test_json_round_trips_byte_for_byte(manifest: Manifest) -> None:
    text = manifest.to_json()
    again = Manifest.from_json(text)
    assert again == manifest
    assert again.to_json() == text
    assert text.startswith(b'{\n  "manifest_version": 1,\n  "created_at": ')  # indented, fields in model order


def test_dict_fields_are_sorted(manifest: Manifest) -> None:
    counts = m.Counts(records_in=2, records_out=2, blocked=0, events={"tombstone": 1, "change": 1},
                      tables={"z.t": {"u": 1}, "a.t": {"tombstone": 1, "c": 1}})
    assert list(counts.events) == ["change", "tombstone"]
    assert list(counts.tables) == ["a.t", "z.t"] and list(counts.tables["a.t"]) == ["c", "tombstone"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "replay.json: not JSON"),
        (b'{"manifest_version": 2}', "manifest_version 2 is not one this streammask"),
        (b'{"manifest_version": 1}', r"replay.json: created_at|replay.json: policy_sha256: Field required"),
        (b"[]", "replay.json: the document: "),
    ],
)
def test_from_json_errors_name_the_field(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Manifest.from_json(data, "replay.json")


def test_from_json_refuses_a_bad_digest_without_echoing_it(manifest: Manifest) -> None:
    doc = doc_of(manifest)
    doc["digests"]["chains"][0]["sha256"] = "Quirinus-not-a-digest"
    with pytest.raises(ManifestError, match=r"digests\.chains\.0\.sha256: String should match pattern") as info:
        Manifest.from_json(orjson.dumps(doc))
    assert "Quirinus" not in str(info.value)


def _models_of_schema() -> dict[str, type[BaseModel]]:
    return {"formats": m.Formats, "config": m.ConfigIdentity, "source": m.Source, "sourceRange": m.SourceRange,
            "writtenRange": m.WrittenRange, "topicsOutput": m.TopicsOutput, "fileOutput": m.FileOutput,
            "counts": m.Counts, "blockedRecord": m.BlockedRecord, "block": m.Block, "chain": m.Chain,
            "digests": m.Digests, "route": m.Route}


def test_the_schema_describes_the_model_field_for_field() -> None:
    assert set(SCHEMA["properties"]) == set(Manifest.model_fields) == set(SCHEMA["required"])
    for name, model in _models_of_schema().items():
        definition = SCHEMA["$defs"][name]
        assert set(definition["properties"]) == set(model.model_fields), name
        assert set(definition["required"]) == set(model.model_fields), name
        assert definition["additionalProperties"] is False, name
    registries = SCHEMA["$defs"]["formats"]["properties"]["schema_registry"]["oneOf"][1]
    assert set(registries["properties"]) == set(m.Registries.model_fields)


def test_registry_urls_are_recorded_without_credentials() -> None:
    cfg = config(format="avro", schema_registry={
        "source": {"url": "https://alice:s3cret@sr.prod.example:8081/, ${SR_BACKUP}"},
        "target": {"url": "http://sr.qa.example:8081", "basic.auth.user.info": "${SR_QA_AUTH}"},
    })
    formats = m.Formats.of(cfg, env={"SR_BACKUP": "https://bob:pw@sr2.prod.example", "SR_QA_AUTH": "u:p"})
    assert formats.schema_registry == m.Registries(
        source="https://sr.prod.example:8081,https://sr2.prod.example", target="http://sr.qa.example:8081",
        subject_name_strategy="topic",
    )
    assert (formats.value, formats.key) == ("avro", "avro")


# -- compare ---------------------------------------------------------------------------------------------


def test_identical_manifests_compare_equal_whatever_their_times_and_versions(manifest: Manifest) -> None:
    later = manifest.model_copy(update={"created_at": "2031-01-01T00:00:00.000Z", "streammask_version": "9.9.9",
                                        "faker_version": "99.0.0", "output": m.FileOutput(path="elsewhere")})
    assert compare(manifest, later) is None


@pytest.mark.parametrize(
    ("update", "what", "detail"),
    [
        ({"policy_sha256": "0" * 64}, "policy", "policy sha256 0000"),
        ({"key_id": "k2"}, "key", "key id k2, expected k1"),
        ({"target_partitions": {"staging.public.customers": 4, "staging.public.orders": 3}}, "target-partitions",
         "target topics have"),
    ],
)
def test_identity_differences(manifest: Manifest, update: dict[str, Any], what: str, detail: str) -> None:
    diff = compare(manifest, manifest.model_copy(update=update))
    assert diff is not None and (diff.what, diff.at) == (what, None) and detail in diff.detail


def test_config_and_format_differences(manifest: Manifest) -> None:
    diff = compare(manifest, manifest.model_copy(update={"config": m.ConfigIdentity.of(config(partitioning="source",
                                                                                            topics=[TOPIC, OTHER]))}))
    assert diff is not None and diff.what == "config"
    formats = manifest.formats.model_copy(update={"key": "avro"})
    diff = compare(manifest, manifest.model_copy(update={"formats": formats}))
    assert diff is not None and diff.detail == "wire formats json/avro (value/key), expected json/json"


def test_source_differences(manifest: Manifest) -> None:
    parts = list(manifest.source.partitions)
    parts[1] = parts[1].model_copy(update={"records": parts[1].records - 1})
    diff = compare(manifest, manifest.model_copy(update={"source": manifest.source.model_copy(
        update={"partitions": parts})}))
    assert diff is not None and diff.what == "source"
    assert diff.detail.startswith(f"partition {parts[1].topic}/{parts[1].partition}: 2 records read in [0, 3), "
                                  "expected 3: the source changed")
    parts = [p.model_copy(update={"start": 1}) if p.topic == OTHER else p for p in manifest.source.partitions]
    diff = compare(manifest, manifest.model_copy(update={"source": manifest.source.model_copy(
        update={"partitions": parts})}))
    assert diff is not None and diff.detail == f"partition {OTHER}/0: read offsets [1, 1), expected [0, 1)"


def test_blocked_differences_name_the_record(manifest: Manifest) -> None:
    [blocked] = manifest.blocked
    diff = compare(manifest, manifest.model_copy(update={"blocked": []}))
    assert diff is not None and diff.what == "blocked"
    assert str(diff) == f"blocked at {OTHER}/0/0: not blocked (unknown-table), expected blocked"
    extra = blocked.model_copy(update={"topic": TOPIC, "offset": 2, "code": "leak-guard", "reason": "r"})
    diff = compare(manifest, manifest.model_copy(update={"blocked": [blocked, extra]}))
    assert diff is not None and str(diff) == f"blocked at {TOPIC}/0/2: blocked (leak-guard), expected not blocked"
    other = blocked.model_copy(update={"code": "leak-guard", "reason": "a raw value was found"})
    diff = compare(manifest, manifest.model_copy(update={"blocked": [other]}))
    assert diff is not None and diff.detail == ("blocked with leak-guard (a raw value was found), expected "
                                                "unknown-table (" + blocked.reason + ")")


def test_truncated_blocked_lists_compare_totals(manifest: Manifest) -> None:
    counts = manifest.counts.model_copy(update={"blocked": 20_001})
    expected = manifest.model_copy(update={"blocked_truncated": True, "counts": counts})
    assert compare(expected, expected.model_copy(update={"blocked": []})) is None  # a sample of other records
    diff = compare(expected, expected.model_copy(update={"counts": manifest.counts}))
    assert diff is not None and diff.detail == "1 records blocked, expected 20001"


def _digests(values: list[bytes], block_size: int = 3, partition: int = 0) -> m.Digests:
    d = OutputDigests(block_size)
    for offset, value in enumerate(values):
        d.add("out", 0, Coordinates(TOPIC, partition, offset * 2), b"k", value, [])
    return d.digests()


def test_an_output_difference_is_narrowed_to_its_block(manifest: Manifest) -> None:
    values = [b"%d" % i for i in range(10)]
    changed = [*values[:7], b"other", *values[8:]]  # record #7: source offset 14, in the third block (12..16)
    diff = compare(manifest.model_copy(update={"digests": _digests(values)}),
                   manifest.model_copy(update={"digests": _digests(changed)}))
    assert diff == Difference("output", f"source {TOPIC}/0 offsets 12 to 16 -> target out/0: an output record differs",
                              m.Position(topic=TOPIC, partition=0, offset=12),
                              m.Position(topic=TOPIC, partition=0, offset=16), ("out", 0))


@pytest.mark.parametrize(("actual", "detail"), [(9, "fewer output records"), (11, "more output records")])
def test_missing_or_extra_records_are_named(manifest: Manifest, actual: int, detail: str) -> None:
    values = [b"%d" % i for i in range(11)]
    diff = compare(manifest.model_copy(update={"digests": _digests(values[:10])}),
                   manifest.model_copy(update={"digests": _digests(values[:actual])}))
    assert diff is not None and diff.what == "output" and detail in diff.detail
    assert diff.at == m.Position(topic=TOPIC, partition=0, offset=18)  # the last block, from #9 (offset 18)


def test_a_chain_on_one_side_only_is_a_difference(manifest: Manifest) -> None:
    diff = compare(manifest.model_copy(update={"digests": _digests([b"a"])}),
                   manifest.model_copy(update={"digests": _digests([b"a"], partition=1)}))
    assert diff is not None and str(diff.at) == f"{TOPIC}/0/0" and "fewer output records" in diff.detail


def test_digests_of_other_block_sizes_are_not_comparable(manifest: Manifest) -> None:
    diff = compare(manifest.model_copy(update={"digests": _digests([b"a"], 3)}),
                   manifest.model_copy(update={"digests": _digests([b"a"], 4)}))
    assert diff is not None and "not comparable" in diff.detail


def test_counts_alone(manifest: Manifest) -> None:
    counts = manifest.counts.model_copy(update={"events": {**manifest.counts.events, "heartbeat": 1}})
    diff = compare(manifest, manifest.model_copy(update={"counts": counts}))
    assert diff is not None and diff.what == "counts"


def test_specs_re_read_exactly_the_manifests_ranges(manifest: Manifest) -> None:
    start, end = manifest.source.specs()
    assert isinstance(start, Offsets) and isinstance(end, Offsets)
    assert dict(start.offsets) == {(r.topic, r.partition): r.start for r in manifest.source.partitions}
    assert dict(end.offsets) == {(r.topic, r.partition): r.end for r in manifest.source.partitions}
    empty = manifest.source.model_copy(update={"partitions": []})
    assert empty.specs() == (EARLIEST, END)
