"""``streammask mask`` and ``check --sample`` on Avro records, against the fake Schema Registry over HTTP.

Inputs are customer change events (``test_proxy_runner.change``) encoded by confluent-kafka's
``AvroSerializer`` into the source registry, as lines in the lossless form (``key_b64``/``payload_b64``).
Outputs are read back with confluent-kafka's ``AvroDeserializer`` against the target registry, as a
consumer of the masked topic would; expected masked values are the JSON path's for the same events.
Most tests call ``cli.main`` in-process (fast); one runs the command as a subprocess, as users do.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from avro_records import AvroWriter, decode, schema_id, shift_ids
from confluent_kafka.schema_registry import SchemaRegistryClient
from test_proxy_runner import FIELDS, KEY, POLICY, TOPIC, change, raw_secrets, row

from streammask import cli
from streammask.masker import RecordMasker
from streammask.outcome import Masked
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from tests import events as ev
from tests.fake_registry import FakeRegistry

KEY_ENV = "STREAMMASK_TEST_KEY"
SR_PASSWORD = "sr-Pa55word-7"
JSON_MASKER = RecordMasker(CompiledPolicy(parse_policy(POLICY), KEY))


@pytest.fixture(autouse=True)
def env_and_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The policy's key in the environment; the root logger as it was (``cli.main`` configures it)."""
    monkeypatch.setenv(KEY_ENV, bytes(range(32)).hex())  # test_proxy_runner.KEY
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_bytes(POLICY.replace(b"  public.customers:\n", b"  public.customers:\n    passthrough: [tier]\n"))
    return path


def line(offset: int, key: bytes | None, value: bytes | None, topic: str = TOPIC) -> dict[str, Any]:
    return {"topic": topic, "partition": 0, "offset": offset, "tstype": "create", "ts": 1_717_412_400_000 + offset,
            "broker": 1, "key_b64": b64(key), "payload_b64": b64(value)}


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def write_lines(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(doc) + b"\n" for doc in lines))
    return path


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines()]


def run(*args: str | Path) -> int:
    return cli.main([str(a) for a in args])


def logged(err: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in err.splitlines() if raw.startswith("{")]


def latest_id(registry: FakeRegistry, subject: str) -> int:
    found: int = SchemaRegistryClient({"url": registry.url}).get_latest_version(subject).schema_id
    return found


def registry_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    return path


# -- masking Avro: target ids, masked values, key = row -------------------------------------------------------


def test_mask_avro_writes_target_ids_and_values_masked_as_the_json_path_masks_them(
    tmp_path: Path, policy: Path, source_registry: FakeRegistry, target_registry: FakeRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shift_ids(target_registry.url)  # target ids can then not equal source ids by chance
    events = [change(0), change(1, "u"), change(2, "d"), (change(2, "d")[0], None)]
    writer = AvroWriter(source_registry.url)
    inputs = [line(i, *writer.pair(TOPIC, k, v)) for i, (k, v) in enumerate(events)]
    out, audit = tmp_path / "out.jsonl", tmp_path / "audit.json"
    code = run("mask", "--policy", policy, "--input", write_lines(tmp_path / "in.jsonl", inputs), "--output", out,
               "--audit", audit, "--format", "avro", "--schema-registry", source_registry.url,
               "--target-schema-registry", target_registry.url)
    assert code == 0, capsys.readouterr().err

    lines = read_lines(out)
    assert [(d["topic"], d["offset"], list(d)[-2:]) for d in lines] == [
        (TOPIC, i, ["key_b64", "payload_b64"]) for i in range(4)]
    value_id, key_id = latest_id(target_registry, f"{TOPIC}-value"), latest_id(target_registry, f"{TOPIC}-key")
    assert (value_id, key_id) != (schema_id(unb64(inputs[0]["payload_b64"]) or b""),
                                  schema_id(unb64(inputs[0]["key_b64"]) or b""))
    everything = b""
    for (k, v), doc in zip(events, lines, strict=True):
        key_bytes, value_bytes = unb64(doc["key_b64"]), unb64(doc["payload_b64"])
        assert key_bytes is not None and schema_id(key_bytes) == key_id
        everything += key_bytes + (value_bytes or b"")
        masked_key = decode(target_registry.url, TOPIC, key_bytes, is_key=True)
        reference = JSON_MASKER.mask(TOPIC, k, v)
        assert isinstance(reference, Masked)
        assert masked_key == orjson.loads(reference.key or b"")["payload"]
        if value_bytes is None:  # the tombstone: a tombstone still, its key masked as the delete's
            assert v is None and masked_key == decode(target_registry.url, TOPIC, unb64(lines[2]["key_b64"]) or b"",
                                                      is_key=True)
            continue
        assert schema_id(value_bytes) == value_id
        masked = decode(target_registry.url, TOPIC, value_bytes)
        expected = orjson.loads(reference.value or b"")["payload"]
        assert (masked["before"], masked["after"]) == (expected["before"], expected["after"])
        row_out = masked["after"] or masked["before"]
        assert masked_key == {"id": row_out["id"]} and row_out["id"] != 1000 + doc["offset"] % 3
    assert not [s for s in raw_secrets([row(i) for i in range(3)]) if s in everything]
    summary = orjson.loads(audit.read_bytes())
    assert summary["records"] == {"in": 4, "out": 4, "blocked": 0}


def test_record_subjects_register_the_output_under_the_record_names(
    tmp_path: Path, policy: Path, source_registry: FakeRegistry, target_registry: FakeRegistry,
) -> None:
    writer = AvroWriter(source_registry.url)
    inputs = [line(0, *writer.pair(TOPIC, *change(0)))]
    out = tmp_path / "out.jsonl"
    assert run("mask", "--policy", policy, "--input", write_lines(tmp_path / "in.jsonl", inputs), "--output", out,
               "--format", "avro", "--schema-registry", source_registry.url, "--target-schema-registry",
               target_registry.url, "--subject-name-strategy", "record") == 0
    subjects = SchemaRegistryClient({"url": target_registry.url}).get_subjects()
    assert sorted(subjects) == [f"{TOPIC}.Envelope", f"{TOPIC}.Key"]
    [doc] = read_lines(out)
    assert schema_id(unb64(doc["payload_b64"]) or b"") == latest_id(target_registry, f"{TOPIC}.Envelope")


def test_without_a_target_registry_the_source_ids_stay(
    tmp_path: Path, policy: Path, registry: FakeRegistry,
) -> None:
    writer = AvroWriter(registry.url)
    key, value = writer.pair(TOPIC, *change(0))
    out = tmp_path / "out.jsonl"
    assert run("mask", "--policy", policy, "--input", write_lines(tmp_path / "in.jsonl", [line(0, key, value)]),
               "--output", out, "--format", "avro", "--schema-registry", registry.url) == 0
    [doc] = read_lines(out)
    assert schema_id(unb64(doc["payload_b64"]) or b"") == schema_id(value or b"")
    assert schema_id(unb64(doc["key_b64"]) or b"") == schema_id(key or b"")


def test_json_keys_with_avro_values_as_users_run_it(
    tmp_path: Path, policy: Path, source_registry: FakeRegistry, target_registry: FakeRegistry,
) -> None:
    """A subprocess reading stdin and writing stdout; ``--key-format json``: the key stays kcat's text."""
    key, value = change(0)
    avro_value = AvroWriter(source_registry.url).encode(TOPIC, value)
    doc = {**line(0, None, avro_value), "key": key.decode()}
    del doc["key_b64"]
    order = ["topic", "partition", "offset", "tstype", "ts", "broker", "key", "payload_b64"]
    stdin = orjson.dumps({k: doc[k] for k in order}) + b"\n"
    env = {**os.environ, KEY_ENV: bytes(range(32)).hex()}
    proc = subprocess.run(
        [sys.executable, "-m", "streammask", "mask", "--policy", str(policy), "--format", "avro", "--key-format",
         "json", "--schema-registry", source_registry.url, "--target-schema-registry", target_registry.url],
        input=stdin, capture_output=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    [out] = [orjson.loads(raw) for raw in proc.stdout.splitlines()]
    assert list(out) == order
    reference = JSON_MASKER.mask(TOPIC, key, value)
    assert isinstance(reference, Masked) and out["key"] == (reference.key or b"").decode()
    masked = decode(target_registry.url, TOPIC, unb64(out["payload_b64"]) or b"")
    assert masked["after"] == orjson.loads(reference.value or b"")["payload"]["after"]
    assert target_registry.calls("POST", f"/subjects/{TOPIC}-key/versions") == []


# -- what is blocked, and why ----------------------------------------------------------------------------------


def test_a_json_record_given_to_format_avro_is_blocked_as_wrong_format(
    tmp_path: Path, policy: Path, registry: FakeRegistry, capsys: pytest.CaptureFixture[str],
) -> None:
    key, value = change(0)
    kcat_text = {**line(0, None, None), "key": key.decode(), "payload": value.decode()}
    del kcat_text["key_b64"], kcat_text["payload_b64"]
    out, audit = tmp_path / "out.jsonl", tmp_path / "audit.json"
    code = run("mask", "--policy", policy, "--input", write_lines(tmp_path / "in.jsonl", [kcat_text]),
               "--output", out, "--audit", audit, "--format", "avro", "--schema-registry", registry.url)
    assert code == 1
    assert out.read_bytes() == b""
    [blocked] = [d for d in logged(capsys.readouterr().err) if d["msg"] == "record blocked"]
    assert (blocked["code"], blocked["offset"]) == ("wrong-format", 0)
    assert "not Confluent-framed Avro" in blocked["reason"]
    assert orjson.loads(audit.read_bytes())["blocked_by_code"] == {"wrong-format": 1}
    assert registry.calls() == []  # nothing to ask the registry about


def test_a_down_registry_stops_mask_before_anything_is_written_and_names_no_credentials(
    tmp_path: Path, policy: Path, registry_factory: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An unreachable registry is no record's fault: ``mask`` stops at the first record that needs it (exit
    2, as for an unreadable input) instead of blocking record after record, each after its retries."""
    source = registry_factory(basic_auth=("sm", SR_PASSWORD))
    target = registry_factory(basic_auth=("sm", SR_PASSWORD))
    writer = AvroWriter(source.url, **{"basic.auth.user.info": f"sm:{SR_PASSWORD}"})
    inputs = [line(i, *writer.pair(TOPIC, *change(i))) for i in range(2)]
    target.down()
    monkeypatch.setenv("SM_TEST_SR_AUTH", f"sm:{SR_PASSWORD}")
    config = registry_file(tmp_path, f"""\
schema_registry:
  source: {{url: "{source.url}", basic.auth.user.info: "${{SM_TEST_SR_AUTH}}", retries: 0}}
  target: {{url: "{target.url}", basic.auth.user.info: "${{SM_TEST_SR_AUTH}}", retries: 0}}
""")
    out, audit = tmp_path / "out.jsonl", tmp_path / "audit.json"
    code = run("mask", "--policy", policy, "--input", write_lines(tmp_path / "in.jsonl", inputs), "--output", out,
               "--audit", audit, "--format", "avro", "--registry-config", config)
    err = capsys.readouterr().err
    assert code == 2
    assert out.read_bytes() == b""
    assert f"error: registry {target.url}, subject {TOPIC}-key: register: unreachable" in err
    assert not [d for d in logged(err) if d["msg"] == "record blocked"]
    assert SR_PASSWORD not in err
    assert base64.b64encode(f"sm:{SR_PASSWORD}".encode()).decode() not in err


def test_a_registry_refusal_blocks_only_that_record(
    tmp_path: Path, policy: Path, source_registry: FakeRegistry, target_registry: FakeRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The target subject is FULL; the second record's schema drops the required ``email`` column, which
    the target refuses as incompatible: that record is blocked, the ones around it are written."""
    SchemaRegistryClient({"url": target_registry.url}).set_compatibility(f"{TOPIC}-value", "FULL")
    fields = [f for f in FIELDS if f["field"] != "email"]
    without_email = ev.envelope(fields, None, {k: v for k, v in row(1).items() if k != "email"}, "c")
    writer = AvroWriter(source_registry.url)
    inputs = [line(0, *writer.pair(TOPIC, *change(0))), line(1, *writer.pair(TOPIC, change(1)[0], without_email)),
              line(2, *writer.pair(TOPIC, *change(2)))]
    out = tmp_path / "out.jsonl"
    assert run("mask", "--policy", policy, "--input", write_lines(tmp_path / "in.jsonl", inputs), "--output", out,
               "--format", "avro", "--schema-registry", source_registry.url, "--target-schema-registry",
               target_registry.url) == 1
    assert [d["offset"] for d in read_lines(out)] == [0, 2]
    [blocked] = [d for d in logged(capsys.readouterr().err) if d["msg"] == "record blocked"]
    assert (blocked["offset"], blocked["code"]) == (1, "schema-registry")
    assert f"subject {TOPIC}-value: register: schema incompatible (409, error 40901)" in blocked["reason"]


# -- check --sample ------------------------------------------------------------------------------------------


def test_check_sample_reads_avro_and_reports_an_unclassified_column(
    tmp_path: Path, policy: Path, registry: FakeRegistry, capsys: pytest.CaptureFixture[str],
) -> None:
    strict = tmp_path / "strict.yaml"
    strict.write_bytes(POLICY)  # no passthrough for tier
    writer = AvroWriter(registry.url)
    sample = write_lines(tmp_path / "sample.jsonl", [line(0, *writer.pair(TOPIC, *change(0))),
                                                     line(1, *writer.pair(TOPIC, *change(1, tier="gold")))])
    flags = ["--sample", sample, "--format", "avro", "--schema-registry", registry.url]
    assert run("check", "--policy", strict, *flags) == 1
    out = capsys.readouterr().out
    assert "table public.customers, column tier (string): seen in 1 record(s), not classified" in out
    assert run("check", "--policy", policy, *flags) == 0
    assert capsys.readouterr().out.rstrip().endswith("2 record(s) scanned, 1 table(s) seen: no gaps")


def test_check_sample_counts_records_not_in_avro(
    tmp_path: Path, policy: Path, registry: FakeRegistry, capsys: pytest.CaptureFixture[str],
) -> None:
    key, value = change(0)
    sample = write_lines(tmp_path / "sample.jsonl", [line(0, key, value)])  # JSON bytes, in base64
    assert run("check", "--policy", policy, "--sample", sample, "--format", "avro", "--schema-registry",
               registry.url) == 1
    assert "1 record(s) could not be decoded as Debezium Avro" in capsys.readouterr().out


def test_check_sample_with_the_registry_down_fails_as_unusable_input(
    tmp_path: Path, policy: Path, registry: FakeRegistry, capsys: pytest.CaptureFixture[str],
) -> None:
    writer = AvroWriter(registry.url)
    sample = write_lines(tmp_path / "sample.jsonl", [line(0, *writer.pair(TOPIC, *change(0)))])
    config = registry_file(tmp_path, f"schema_registry:\n  source: {{url: '{registry.url}', retries: 0}}\n")
    registry.down()
    assert run("check", "--policy", policy, "--sample", sample, "--format", "avro", "--registry-config", config) == 2
    value_id = schema_id(unb64(orjson.loads(sample.read_bytes())["payload_b64"]) or b"")
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: registry {registry.url}: schema id {value_id}: unreachable after 1 attempts (last: connection failed)")


# -- options that do not fit together -------------------------------------------------------------------------


@pytest.mark.parametrize(("flags", "expected"), [
    (["--format", "avro"], "--format avro needs --schema-registry URL (or --registry-config FILE)"),
    (["--key-format", "avro"], "--key-format avro needs --schema-registry URL"),
    (["--schema-registry", "http://r:1"], "registry options given but nothing is avro"),
    (["--subject-name-strategy", "record"], "registry options given but nothing is avro"),
    (["--format", "avro", "--target-schema-registry", "http://r:1"],
     "--target-schema-registry needs --schema-registry"),
    (["--format", "avro", "--schema-registry", "http://r:1", "--registry-config", "x.yaml"],
     "give --registry-config or --schema-registry/--target-schema-registry, not both"),
    (["--format", "avro", "--schema-registry", "ftp://r:1"], "registry setting url: ftp://r:1 is not an http(s)"),
])
@pytest.mark.parametrize("command", ["mask", "check"])
def test_options_that_do_not_fit_together_exit_2(
    policy: Path, capsys: pytest.CaptureFixture[str], command: str, flags: list[str], expected: str,
) -> None:
    sample = ["--sample", os.devnull] if command == "check" else ["--input", os.devnull, "--output", os.devnull]
    assert run(command, "--policy", policy, *sample, *flags) == 2
    assert expected in capsys.readouterr().err


def test_a_registry_file_with_an_unset_variable_names_it_and_its_line(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SM_TEST_SR_NOPE", raising=False)
    config = registry_file(tmp_path, "schema_registry:\n  source:\n    url: http://r:1\n"
                                     "    bearer.auth.token: ${SM_TEST_SR_NOPE}\n")
    assert run("mask", "--policy", policy, "--input", os.devnull, "--format", "avro", "--registry-config", config) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {config}:4: schema_registry.source.bearer.auth.token: environment variable SM_TEST_SR_NOPE is not set")


@pytest.mark.parametrize(("text", "line_no", "expected"), [
    ("schema_registry:\n  source: {url: 'http://r:1'}\nformat: avro\n", 3, "unknown option 'format'"),
    ("schema_registry:\n  source: {url: 'http://r:1', user: x}\n", 2, "unknown option 'user' in 'source'"),
    ("schema_registry:\n  target: {url: 'http://r:1'}\n", 1, "option 'source' is required here"),
    ("source: {url: 'http://r:1'}\n", 1, "expected a mapping with a `schema_registry` block"),
])
def test_a_bad_registry_file_names_its_line(
    tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str], text: str, line_no: int, expected: str,
) -> None:
    config = registry_file(tmp_path, text)
    assert run("mask", "--policy", policy, "--input", os.devnull, "--format", "avro", "--registry-config", config) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {config}:{line_no}: ") and expected in err
