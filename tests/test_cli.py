"""The ``streammask`` command line, run as a subprocess (``python -m streammask``) the way users and CI do.

Inputs are ``kcat -C -J`` lines built from Debezium's own example events (the shared fixtures): key and
payload are JSON strings holding the record's bytes, headers a flat ``[name, value, …]`` list. Expected
counts are computed here from the inputs and the policy YAML, independently of streammask's code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from helpers import fixtures_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parent.parent
POLICY = REPO / "policies" / "ecommerce.yaml"
AUDIT_SCHEMA_PATH = REPO / "schemas" / "audit-summary.schema.json"
POLICY_SCHEMA_PATH = REPO / "schemas" / "policy.schema.json"

KEY_HEX = bytes(range(32)).hex()
OTHER_KEY_HEX = bytes(range(100, 132)).hex()
TOPIC = "PostgreSQL_server.public.customers"
BASE_TS = 1_717_412_400_000

# Values planted in records that must be blocked: they may appear nowhere in stdout, stderr or the audit.
PLANTED_SSN = "078-05-1120"
PLANTED_PAYEE = "Secret Payee Holdings"
PLANTED_IBAN = "DE89370400440532013000"


# -- the shared Debezium fixtures as kcat -J lines -------------------------------------------------------


def fixture(name: str) -> dict[str, Any]:
    doc = orjson.loads((fixtures_dir() / name).read_bytes())
    assert isinstance(doc, dict)
    return doc


def compact(doc: Any) -> str:
    """JSON as the JsonConverter writes it (compact), as text: kcat -J puts record bytes in a string."""
    return orjson.dumps(doc).decode()


KEY_SCHEMA = {
    "type": "struct",
    "fields": [{"type": "int32", "optional": False, "field": "id"}],
    "optional": False,
    "name": "PostgreSQL_server.public.customers.Key",
}


def customer_key(customer_id: int = 1, *, with_schema: bool = False, **extra: Any) -> str:
    payload = {"id": customer_id, **extra}
    return compact({"schema": KEY_SCHEMA, "payload": payload} if with_schema else payload)


def kcat_line(
    offset: int,
    key: str | None,
    payload: str | None,
    headers: Sequence[str | None] | None = None,
    *,
    topic: str = TOPIC,
    partition: int = 0,
) -> dict[str, Any]:
    """One record as ``kcat -C -J`` prints it (field order as kcat's)."""
    line: dict[str, Any] = {
        "topic": topic, "partition": partition, "offset": offset, "tstype": "create", "ts": BASE_TS + offset,
        "broker": 111,
    }
    if headers is not None:
        line["headers"] = list(headers)
    line["key"] = key
    line["payload"] = payload
    return line


def fixture_records() -> list[dict[str, Any]]:
    """The shared fixtures as the records Debezium writes for them, in one partition.

    create (value with schema, key with schema), update (with Debezium context and old-key headers and an
    unknown header), delete, its tombstone (null value) and truncate (null key). No logical message: the
    example policy blocks those (tested separately).
    """
    update_headers = [
        "__debezium.context.connectorName", "postgresql",
        "__debezium.oldkey", customer_key(1),
        "x-trace-id", "4bf92f3577b34da6",
    ]
    return [
        kcat_line(0, customer_key(1, with_schema=True), compact(fixture("postgres-create.json"))),
        kcat_line(1, customer_key(1), compact(fixture("postgres-update.payload.json")), update_headers),
        kcat_line(2, customer_key(1), compact(fixture("postgres-delete.payload.json"))),
        kcat_line(3, customer_key(1), None),
        kcat_line(4, None, compact(fixture("postgres-truncate.payload.json"))),
    ]


def message_record(offset: int) -> dict[str, Any]:
    """A logical decoding message on the topic Debezium writes them to: ``<topic.prefix>.message``."""
    return kcat_line(offset, None, compact(fixture("postgres-message.payload.json")), topic="PostgreSQL_server.message")


def unknown_table_record(offset: int) -> dict[str, Any]:
    event = fixture("postgres-update.payload.json")
    event["source"]["table"] = "payments"
    event["before"] = None
    event["after"] = {"id": 7, "payee": PLANTED_PAYEE, "iban": PLANTED_IBAN}
    return kcat_line(offset, customer_key(7), compact(event), topic="PostgreSQL_server.public.payments")


def unclassified_column_record(offset: int) -> dict[str, Any]:
    event = fixture("postgres-update.payload.json")
    event["after"]["ssn"] = PLANTED_SSN
    return kcat_line(offset, customer_key(1), compact(event))


def sensitive_values() -> set[str]:
    """Every string in the fixtures' row data (before/after), e.g. names and the email address."""
    values: set[str] = set()
    for name in ("postgres-create.json", "postgres-update.payload.json", "postgres-delete.payload.json"):
        doc = fixture(name)
        payload = doc.get("payload", doc)
        for side in ("before", "after"):
            values.update(v for v in (payload.get(side) or {}).values() if isinstance(v, str))
    assert {"Anne", "Anne Marie", "Kretchmar", "annek@noanswer.org"} <= values
    return values


def jsonl(records: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.write_bytes(jsonl(records))
    return path


# -- running the CLI --------------------------------------------------------------------------------------


def run_cli(
    *args: str | Path, stdin: bytes | None = None, key: str | None = KEY_HEX, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "STREAMMASK_KEY"}
    if key is not None:
        env["STREAMMASK_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "streammask", *map(str, args)],
        input=stdin if stdin is not None else b"", capture_output=True, env=env, timeout=120, cwd=cwd,
    )


def explain(proc: subprocess.CompletedProcess[bytes]) -> str:
    stdout, stderr = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    return f"exit {proc.returncode}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}"


def out_lines(proc: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    lines = proc.stdout.splitlines()
    assert all(lines), "blank output line"
    return [orjson.loads(line) for line in lines]


def log_lines(proc: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    """stderr of `mask` is JSON logs, one object a line."""
    docs = []
    for line in proc.stderr.splitlines():
        doc = json.loads(line)  # fails loudly on any unstructured output
        assert isinstance(doc, dict) and {"ts", "level", "msg"} <= doc.keys()
        docs.append(doc)
    return docs


def blocked_logs(proc: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    return [d for d in log_lines(proc) if d["msg"] == "record blocked"]


def payload_of(line: dict[str, Any]) -> Any:
    """The Debezium payload of a line's value (unwrapping the converter's schema framing)."""
    if line["payload"] is None:
        return None
    doc = orjson.loads(line["payload"])
    return doc["payload"] if isinstance(doc, dict) and set(doc) == {"schema", "payload"} else doc


def key_payload(key: str | None) -> Any:
    if key is None:
        return None
    doc = orjson.loads(key)
    return doc["payload"] if isinstance(doc, dict) and set(doc) == {"schema", "payload"} else doc


def policy_variant(tmp_path: Path, old: str, new: str, name: str = "policy.yaml") -> Path:
    """The example policy with one text replacement, written next to nothing else (key from env)."""
    text = POLICY.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


def line_number(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(needle)


# -- expected audit, computed from the inputs and the policy YAML -------------------------------------------


def policy_fields() -> dict[str, dict[str, str]]:
    """table -> column -> strategy, read straight from the YAML."""
    doc = yaml.safe_load(POLICY.read_text())
    return {t: {c: f["strategy"] for c, f in (spec.get("fields") or {}).items()} for t, spec in doc["tables"].items()}


def expected_tables(masked_inputs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per table: ops of the records written, and non-null masked values per column (rows, key, key headers)."""
    fields = policy_fields()
    ops: Counter[tuple[str, str]] = Counter()
    values: Counter[tuple[str, str]] = Counter()
    for line in masked_inputs:
        payload = payload_of(line)
        if payload is None:
            table = ".".join(line["topic"].split(".")[-2:])
            ops[(table, "tombstone")] += 1
            rows: list[Any] = []
        else:
            table = f"{payload['source']['schema']}.{payload['source']['table']}"
            ops[(table, payload["op"])] += 1
            rows = [payload.get("before"), payload.get("after")]
        rows.append(key_payload(line["key"]))
        headers = line.get("headers") or []
        for name, value in zip(headers[::2], headers[1::2], strict=True):
            if name in ("__debezium.oldkey", "__debezium.newkey"):
                rows.append(key_payload(value))
        for row in rows:
            for column, value in (row or {}).items():
                if column in fields[table] and value is not None:
                    values[(table, column)] += 1
    tables: dict[str, Any] = {}
    for (table, op), n in ops.items():
        tables.setdefault(table, {"ops": {}, "columns": {}})["ops"][op] = n
    for (table, column), n in values.items():
        tables.setdefault(table, {"ops": {}, "columns": {}})["columns"][column] = {
            "strategy": fields[table][column], "values_masked": n,
        }
    return tables


@pytest.fixture(scope="module")
def audit_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(AUDIT_SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def assert_valid_audit(validator: jsonschema.Draft202012Validator, audit: Any) -> None:
    errors = list(validator.iter_errors(audit))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def strings_in(doc: Any) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from strings_in(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from strings_in(v)


# -- mask ------------------------------------------------------------------------------------------------


def test_mask_fixture_records(tmp_path: Path) -> None:
    records = fixture_records()
    src = write_jsonl(tmp_path / "in.jsonl", records)
    proc = run_cli("mask", "--policy", POLICY, "--input", src)
    assert proc.returncode == 0, explain(proc)
    out = out_lines(proc)
    assert len(out) == len(records)
    for before, after in zip(records, out, strict=True):
        # kcat's fields are kept as they were: coordinates, timestamp type and value, broker.
        for field in ("topic", "partition", "offset", "tstype", "ts", "broker"):
            assert after[field] == before[field], field
        assert set(after) <= {"topic", "partition", "offset", "tstype", "ts", "broker", "headers", "key", "payload"}

    create, update, delete, tombstone, truncate = (payload_of(line) for line in out)
    original = {line["offset"]: payload_of(line) for line in records}

    # Row data is masked; the customer's pseudonymous id is one token everywhere (key, before, after).
    token = key_payload(out[0]["key"])["id"]
    assert isinstance(token, int) and token != 1
    for line in out[:4]:
        assert key_payload(line["key"]) == {"id": token}
    assert create["after"]["id"] == update["before"]["id"] == update["after"]["id"] == delete["before"]["id"] == token
    for masked, raw in ((create["after"], original[0]["after"]), (update["after"], original[1]["after"])):
        assert set(masked) == set(raw)
        for column in ("first_name", "last_name", "email"):
            assert isinstance(masked[column], str) and masked[column] != raw[column], column
        local, _, domain = masked["email"].partition("@")
        assert domain == "noanswer.org" and len(local) == len("annek") and local.isalpha()  # format-preserve
    # Deterministic: the same last name in two events gets the same pseudonym.
    assert create["after"]["last_name"] == update["after"]["last_name"]

    # Everything that is not row data is unchanged: source block, op, timestamps, the embedded schema.
    for masked, raw in ((create, original[0]), (update, original[1]), (delete, original[2]), (truncate, original[4])):
        for field in set(raw) - {"before", "after"}:
            assert masked[field] == raw[field], field
    assert orjson.loads(out[0]["payload"])["schema"] == fixture("postgres-create.json")["schema"]
    assert orjson.loads(out[0]["key"])["schema"] == KEY_SCHEMA
    assert delete["after"] is None and create["before"] is None
    assert tombstone is None and out[3]["payload"] is None
    assert out[4]["key"] is None and truncate == original[4]

    # Headers: Debezium context passes, the old key is masked like the key, anything else is dropped.
    headers = out[1]["headers"]
    assert headers[0:2] == ["__debezium.context.connectorName", "postgresql"]
    assert headers[2] == "__debezium.oldkey" and key_payload(headers[3]) == {"id": token}
    assert "x-trace-id" not in headers and len(headers) == 4
    assert all("headers" not in line for i, line in enumerate(out) if i != 1)

    # None of the originals' personal data survives, as a value or inside any string.
    text = proc.stdout.decode()
    masked_strings = set(strings_in([payload_of(line) for line in out]))
    for value in sensitive_values():
        assert value not in masked_strings
        if len(value) > 4:
            assert value not in text, value

    logs = log_lines(proc)
    assert [d for d in logs if d["level"] in ("error", "warning")] == []
    finished = [d for d in logs if d["msg"] == "mask finished"]
    assert len(finished) == 1
    assert (finished[0]["records_in"], finished[0]["records_out"], finished[0]["blocked"]) == (5, 5, 0)


def test_blocked_records_are_left_out_and_logged_without_values(tmp_path: Path) -> None:
    good = fixture_records()
    records = [good[0], unknown_table_record(10), good[1], unclassified_column_record(11), *good[2:]]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    proc = run_cli("mask", "--policy", POLICY, "--input", src)
    assert proc.returncode == 1, explain(proc)
    out = out_lines(proc)
    assert [line["offset"] for line in out] == [line["offset"] for line in good]  # the others are all written

    blocked = blocked_logs(proc)
    got = {(d["topic"], d["partition"], d["offset"], d["code"], d["table"], d["column"]) for d in blocked}
    assert got == {
        ("PostgreSQL_server.public.payments", 0, 10, "unknown-table", "public.payments", None),
        (TOPIC, 0, 11, "unclassified-column", "public.customers", "ssn"),
    }
    for d in blocked:
        assert d["level"] == "error" and d["reason"]
    unknown = next(d for d in blocked if d["code"] == "unknown-table")
    assert "classify it under tables" in unknown["reason"]
    unclassified = next(d for d in blocked if d["code"] == "unclassified-column")
    assert "passthrough or fields" in unclassified["reason"]

    for stream in (proc.stderr.decode(), proc.stdout.decode()):
        for planted in (PLANTED_SSN, PLANTED_PAYEE, PLANTED_IBAN):
            assert planted not in stream
    stderr = proc.stderr.decode()
    for value in sensitive_values():
        assert json.dumps(value) not in stderr, value


def test_audit_counts_equal_the_input(tmp_path: Path, audit_validator: jsonschema.Draft202012Validator) -> None:
    good = fixture_records()
    records = [
        good[0], unknown_table_record(10), good[1], unclassified_column_record(11), *good[2:], message_record(12),
    ]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    audit_path = tmp_path / "audit.json"
    proc = run_cli("mask", "--policy", POLICY, "--input", src, "--audit", audit_path)
    assert proc.returncode == 1, explain(proc)
    audit = json.loads(audit_path.read_text())
    assert_valid_audit(audit_validator, audit)

    assert audit["policy_sha256"] == hashlib.sha256(POLICY.read_bytes()).hexdigest()
    assert audit["key_id"] == "2026q4"
    from streammask.keys import MasterKey

    assert audit["key_fingerprint"] == MasterKey(bytes.fromhex(KEY_HEX), "2026q4").fingerprint
    assert audit["records"] == {"in": len(records), "out": len(good), "blocked": 3}
    assert len(out_lines(proc)) == audit["records"]["out"]
    assert audit["events"] == {"change": 4, "tombstone": 1}
    assert audit["tables"] == expected_tables(good)
    # The example: c/u/d/t once each plus one tombstone; ids in 2 + 4 (incl. old-key header) + 2 + 1 places.
    assert audit["tables"]["public.customers"]["ops"] == {"c": 1, "u": 1, "d": 1, "t": 1, "tombstone": 1}
    assert audit["tables"]["public.customers"]["columns"]["id"] == {"strategy": "tokenize", "values_masked": 9}
    assert audit["blocked_by_code"] == {"unknown-table": 1, "unclassified-column": 1, "message-blocked": 1}
    assert [(b["offset"], b["code"], b["table"], b["column"]) for b in audit["blocked"]] == [
        (10, "unknown-table", "public.payments", None),
        (11, "unclassified-column", "public.customers", "ssn"),
        (12, "message-blocked", None, None),
    ]
    assert audit["blocked_truncated"] is False
    assert audit["started_at"] <= audit["finished_at"]


def test_audit_contains_no_input_value(tmp_path: Path, audit_validator: jsonschema.Draft202012Validator) -> None:
    good = fixture_records()
    records = [*good, unknown_table_record(10), unclassified_column_record(11), message_record(12)]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    audit_path = tmp_path / "audit.json"
    proc = run_cli("mask", "--policy", POLICY, "--input", src, "--audit", audit_path)
    assert proc.returncode == 1, explain(proc)
    text = audit_path.read_text()
    assert_valid_audit(audit_validator, json.loads(text))
    # Every string in any row, key or message of the input: none may be in the audit.
    row_values: set[str] = set()
    for line in records:
        payload = payload_of(line)
        if payload:
            for side in ("before", "after"):
                row_values.update(v for v in (payload.get(side) or {}).values() if isinstance(v, str))
            row_values.update(strings_in(payload.get("message")))
    row_values |= {PLANTED_SSN, PLANTED_PAYEE, PLANTED_IBAN, "Ymfy"}
    audit_strings = set(strings_in(json.loads(text)))
    for value in row_values:
        assert value not in audit_strings, value
        if len(value) > 4:
            assert value not in text, value


def test_undecodable_input_lines_are_counted_as_blocked(
    tmp_path: Path, audit_validator: jsonschema.Draft202012Validator
) -> None:
    good = fixture_records()
    bad_lines = [
        b"this is not json",
        b'["a", "list"]',
        b'{"topic": "t", "partition": 0, "offset": 1, "key": 5, "payload": null}',
        b'{"topic": "t", "partition": 0, "offset": 1, "headers": ["odd"], "payload": null}',
        b'{"topic": "t", "partition": null, "offset": 1, "payload": null}',
        b'{"topic": "t", "partition": 0, "offset": "12", "payload": null}',
        b'{"topic": "t", "partition": 0, "offset": 1, "key": null, "payload": "{not json"}',
        b"\xff\xfe binary",
    ]
    lines = [orjson.dumps(good[0]), b"", *bad_lines[:4], b"   ", orjson.dumps(good[1]), *bad_lines[4:]]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    audit_path = tmp_path / "audit.json"
    proc = run_cli("mask", "--policy", POLICY, "--input", src, "--audit", audit_path)
    assert proc.returncode == 1, explain(proc)
    assert [line["offset"] for line in out_lines(proc)] == [0, 1]
    audit = json.loads(audit_path.read_text())
    assert_valid_audit(audit_validator, audit)
    # Blank lines are skipped, not records; every other line is one record in.
    assert audit["records"] == {"in": 2 + len(bad_lines), "out": 2, "blocked": len(bad_lines)}
    # A line that is no kcat record at all is "undecodable" at its line number; a record whose value is
    # not JSON is "undecodable" at its coordinates.
    line_no = {line: n for n, line in enumerate(lines, start=1)}
    expected = [f"<input line {line_no[b]}>" for b in bad_lines if b"{not json" not in b]
    assert [b["topic"] for b in audit["blocked"] if b["topic"].startswith("<input")] == expected
    assert audit["blocked_by_code"] == {"undecodable": len(bad_lines)}
    for entry in blocked_logs(proc):
        assert entry["code"] == "undecodable"


# -- input lines not in kcat -J's shape: blocked whole ------------------------------------------------------

# kcat -J's fields (edenhill/kcat json.c): the only fields an output line may carry.
KCAT_FIELDS = ("topic", "partition", "offset", "tstype", "ts", "broker", "headers", "key", "payload")
# Every string planted in a line that must be blocked starts with this.
SENTINEL = "Qx9Planted"
LOG_FIELDS = {"ts", "level", "logger", "msg", "topic", "partition", "offset", "code", "table", "column", "reason",
              "records_in", "records_out", "blocked", "seconds", "records_per_s"}

planted_text = st.text(max_size=16).map(lambda s: SENTINEL + s)
planted_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | planted_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(planted_text, inner, max_size=3),
    max_leaves=8,
)
# A field holding the record's raw event, as text or as JSON: a leak if anything of it were copied.
raw_events = st.sampled_from(["postgres-create.json", "postgres-update.payload.json"]).flatmap(
    lambda name: st.sampled_from([compact(fixture(name)), fixture(name)])
)
extra_names = st.one_of(
    st.text(min_size=1, max_size=20),
    st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True),
    st.sampled_from(["raw", "value", "before", "payload_error", "key_error", "key_schema_id", "value_schema_id"]),
).filter(lambda name: name not in KCAT_FIELDS + ("key_b64", "payload_b64"))  # those: streammask's lossless form


@functools.cache
def cheap_good_lines() -> tuple[list[dict[str, Any]], bytes]:
    """Two records that mask without Faker (a tombstone and a truncate) and their masked output alone."""
    good = fixture_records()
    lines = [good[3], good[4]]
    proc = run_cli("mask", "--policy", POLICY, stdin=jsonl(lines))
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2, explain(proc)
    return lines, proc.stdout


def assert_logs_hold_no_value(proc: subprocess.CompletedProcess[bytes]) -> None:
    stderr = proc.stderr.decode()
    assert SENTINEL not in stderr
    for value in sensitive_values():
        assert json.dumps(value) not in stderr, value
    for doc in log_lines(proc):
        assert set(doc) <= LOG_FIELDS, doc.keys()


@settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 4), extra_names, planted_json | raw_events, st.integers(0, 9)), min_size=1, max_size=3
    )
)
def test_a_line_with_any_field_kcat_does_not_write_is_blocked_whole_and_its_value_reaches_no_output(
    extras: list[tuple[int, str, Any, int]],
) -> None:
    (first, last), expected_stdout = cheap_good_lines()
    bad: list[dict[str, Any]] = []
    for record_index, name, value, position in extras:
        items = list(fixture_records()[record_index].items())
        items.insert(position % (len(items) + 1), (name, value))
        bad.append(dict(items))
    with tempfile.TemporaryDirectory() as scratch:
        audit_path = Path(scratch) / "audit.json"
        proc = run_cli("mask", "--policy", POLICY, "--audit", audit_path, stdin=jsonl([first, *bad, last]))
        audit_text = audit_path.read_text()
    assert proc.returncode == 1, explain(proc)
    # Nothing of a bad line is written: the output is exactly the good lines' output without them.
    assert proc.stdout == expected_stdout
    blocked = blocked_logs(proc)
    assert [(d["topic"], d["partition"], d["offset"], d["code"]) for d in blocked] == [
        (f"<input line {n}>", -1, -1, "undecodable") for n in range(2, 2 + len(bad))
    ]
    for entry, (_, name, _, _) in zip(blocked, extras, strict=True):
        if name.endswith(("_error", "_schema_id")) and name.startswith(("key", "payload", "value")):
            assert f"`{name}`" in entry["reason"]
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            assert f"unknown field `{name}`" in entry["reason"]
        else:
            assert "unknown field (names not shown: not plain identifiers)" in entry["reason"]
    assert_logs_hold_no_value(proc)
    audit = json.loads(audit_text)
    assert audit["records"] == {"in": 2 + len(bad), "out": 2, "blocked": len(bad)}
    assert audit["blocked_by_code"] == {"undecodable": len(bad)}
    assert SENTINEL not in audit_text


def test_a_line_missing_any_required_field_is_blocked_naming_it() -> None:
    create = fixture_records()[0]
    required = ("topic", "partition", "offset", "key", "payload")
    lines = [{k: v for k, v in create.items() if k != name} for name in required]
    proc = run_cli("mask", "--policy", POLICY, stdin=jsonl(lines))
    assert proc.returncode == 1, explain(proc)
    assert proc.stdout == b""  # without `payload` the line was once taken for a tombstone and written
    reasons = [(d["topic"], d["code"], d["reason"]) for d in blocked_logs(proc)]
    assert reasons == [
        (f"<input line {n}>", "undecodable", f"line {n}: missing `{name}`") for n, name in enumerate(required, 1)
    ]
    assert_logs_hold_no_value(proc)


def test_lines_kcat_could_not_decode_or_deserialised_from_avro_are_blocked() -> None:
    create = fixture_records()[0]
    coordinates = {k: create[k] for k in ("topic", "partition", "offset", "tstype", "ts", "broker")}
    after = fixture("postgres-create.json")["payload"]["after"]
    lines = [
        # kcat -s value=avro on a record whose value is not Avro: payload null, the error beside it.
        {**coordinates, "key": create["key"], "payload": None, "payload_error": "Invalid CP1 magic byte 123"},
        {**coordinates, "key": None, "key_error": "Invalid CP1 magic byte 123", "payload": create["payload"]},
        # kcat -s avro that worked: key and payload are JSON objects, not the record's bytes.
        {**coordinates, "key": {"id": 1}, "key_schema_id": 1, "payload": {"after": after}, "value_schema_id": 2},
        {**coordinates, "key": create["key"], "payload": create["payload"], "value_schema_id": 2},
    ]
    proc = run_cli("mask", "--policy", POLICY, stdin=jsonl(lines))
    assert proc.returncode == 1, explain(proc)
    assert proc.stdout == b""
    reasons = [d["reason"] for d in blocked_logs(proc)]
    assert len(reasons) == 4
    assert "`payload_error`: kcat could not deserialise the record's value" in reasons[0]
    assert "`key_error`: kcat could not deserialise the record's key" in reasons[1]
    for reason in reasons[2:]:
        assert "Avro-deserialised line" in reason and "needs raw lines (kcat -C -J without -s avro)" in reason
    assert "magic byte" not in proc.stderr.decode()
    assert_logs_hold_no_value(proc)


def test_fields_of_a_type_kcat_never_writes_are_blocked_naming_the_field() -> None:
    create = fixture_records()[0]
    update = fixture_records()[1]
    cases: list[tuple[dict[str, Any], str]] = [
        ({**create, "partition": True}, "`partition` must be an integer"),
        ({**create, "partition": -1}, "`partition` must be an integer"),
        ({**create, "offset": "12"}, "`offset` must be an integer"),
        ({**create, "ts": str(BASE_TS)}, "`ts` must be an integer"),
        ({**create, "tstype": "created"}, "`tstype` must be one of"),
        ({**create, "broker": "111"}, "`broker` must be an integer"),
        ({**create, "topic": ""}, "`topic` must be a Kafka topic name"),
        ({**create, "topic": f"{SENTINEL} {PLANTED_SSN}"}, "`topic` must be a Kafka topic name"),
        ({**create, "key": 1}, "`key` must be a string or null"),
        ({**create, "payload": payload_of(create)}, "`payload` must be a string or null"),
        ({**update, "headers": dict(zip(update["headers"][::2], update["headers"][1::2], strict=True))},
         "`headers` is an object (kcat's header map form)"),
        ({**update, "headers": "x-trace-id=4bf92f3577b34da6"}, "`headers` must be a flat"),
        ({**update, "headers": update["headers"][:-1]}, "of even length"),
        ({**update, "headers": [1, *update["headers"][1:]]}, "`headers` names must be strings"),
        ({**update, "headers": [*update["headers"][:-1], 7]}, "`headers` values must be a string or null"),
    ]
    proc = run_cli("mask", "--policy", POLICY, stdin=jsonl([line for line, _ in cases]))
    assert proc.returncode == 1, explain(proc)
    assert proc.stdout == b""
    blocked = blocked_logs(proc)
    assert len(blocked) == len(cases)
    for n, (entry, (_, reason)) in enumerate(zip(blocked, cases, strict=True), start=1):
        assert entry["topic"] == f"<input line {n}>" and entry["code"] == "undecodable"
        assert entry["reason"].startswith(f"line {n}: ") and reason in entry["reason"], entry["reason"]
    assert PLANTED_SSN not in proc.stderr.decode()
    assert_logs_hold_no_value(proc)


def test_kcat_lines_with_or_without_timestamp_broker_and_headers_mask_as_before() -> None:
    full = fixture_records()
    assert full[1]["headers"] and all("headers" not in line for i, line in enumerate(full) if i != 1)
    variants = [
        full,
        [{k: v for k, v in line.items() if k not in ("tstype", "ts")} for line in full],
        [{k: v for k, v in line.items() if k not in ("tstype", "ts", "broker")} for line in full],
        [{**line, "tstype": "logappend"} for line in full],
    ]
    inputs = [line for variant in variants for line in variant]
    proc = run_cli("mask", "--policy", POLICY, stdin=jsonl(inputs))
    assert proc.returncode == 0, explain(proc)
    out = out_lines(proc)
    assert len(out) == len(inputs)
    for before, after in zip(inputs, out, strict=True):
        # kcat's fields, in kcat's order; tstype, ts and broker only when the input had them.
        assert list(after) == [f for f in KCAT_FIELDS if f in before], after.keys()
        for field in ("topic", "partition", "offset", "tstype", "ts", "broker"):
            assert after.get(field) == before.get(field), field
    masked = [(line["key"], line["payload"], line.get("headers")) for line in out]
    n = len(full)
    assert masked[:n] == masked[n : 2 * n] == masked[2 * n : 3 * n] == masked[3 * n :]
    assert masked[1][2] is not None and len(masked[1][2]) == 4  # the update's headers, masked and filtered


def test_stdin_and_stdout_are_the_defaults(tmp_path: Path) -> None:
    data = jsonl(fixture_records())
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    dst = tmp_path / "out.jsonl"
    by_files = run_cli("mask", "--policy", POLICY, "--input", src, "--output", dst)
    assert by_files.returncode == 0, explain(by_files)
    assert by_files.stdout == b""
    by_pipes = run_cli("mask", "--policy", POLICY, stdin=data)
    assert by_pipes.returncode == 0, explain(by_pipes)
    dashes = run_cli("mask", "--policy", POLICY, "--input", "-", "--output", "-", stdin=data)
    assert by_pipes.stdout == dst.read_bytes() == dashes.stdout
    assert len(by_pipes.stdout.splitlines()) == 5


def test_empty_input(tmp_path: Path, audit_validator: jsonschema.Draft202012Validator) -> None:
    audit_path = tmp_path / "audit.json"
    proc = run_cli("mask", "--policy", POLICY, "--audit", audit_path, stdin=b"")
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout == b""
    audit = json.loads(audit_path.read_text())
    assert_valid_audit(audit_validator, audit)
    assert audit["records"] == {"in": 0, "out": 0, "blocked": 0} and audit["tables"] == {}


def test_logical_messages_blocked_by_default_and_redacted_when_configured(tmp_path: Path) -> None:
    data = jsonl([message_record(0)])
    blocked = run_cli("mask", "--policy", POLICY, stdin=data)
    assert blocked.returncode == 1 and blocked.stdout == b"", explain(blocked)
    assert [d["code"] for d in blocked_logs(blocked)] == ["message-blocked"]

    policy = policy_variant(tmp_path, "messages: block", "messages: redact")
    redacted = run_cli("mask", "--policy", policy, stdin=data)
    assert redacted.returncode == 0, explain(redacted)
    (line,) = out_lines(redacted)
    assert payload_of(line)["message"] == {"prefix": "foo", "content": ""}
    assert b"Ymfy" not in redacted.stdout


def test_mask_is_deterministic_and_depends_on_the_key(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", fixture_records())
    first = run_cli("mask", "--policy", POLICY, "--input", src)
    second = run_cli("mask", "--policy", POLICY, "--input", src)
    assert first.returncode == second.returncode == 0, explain(first)
    assert first.stdout == second.stdout

    other = run_cli("mask", "--policy", POLICY, "--input", src, key=OTHER_KEY_HEX)
    assert other.returncode == 0, explain(other)
    assert other.stdout != first.stdout
    a, b = out_lines(first), out_lines(other)
    assert [(x["partition"], x["offset"]) for x in a] == [(x["partition"], x["offset"]) for x in b]
    for i in (0, 1):  # the records with names and emails: each differs under another key
        assert payload_of(a[i])["after"]["email"] != payload_of(b[i])["after"]["email"]
        assert payload_of(a[i])["after"] != payload_of(b[i])["after"]


def test_invalid_policy_exits_2_with_file_and_line(tmp_path: Path) -> None:
    policy = policy_variant(tmp_path, "notes:       {strategy: redact}", "notes:       {strategy: redact, colour: red}")
    src = write_jsonl(tmp_path / "in.jsonl", fixture_records())
    proc = run_cli("mask", "--policy", policy, "--input", src)
    assert proc.returncode == 2, explain(proc)
    assert proc.stdout == b""
    stderr = proc.stderr.decode()
    line = line_number(policy, "notes:")
    assert f"{policy}:{line}" in stderr
    assert "table public.customers" in stderr and "column notes" in stderr and "unknown option 'colour'" in stderr


def test_every_policy_problem_is_printed(tmp_path: Path) -> None:
    text = POLICY.read_text()
    text = text.replace("{strategy: redact}", "{strategy: scramble}", 1).replace("kind: city}", "kind: town}")
    policy = tmp_path / "bad.yaml"
    policy.write_text(text)
    proc = run_cli("check", "--policy", policy)
    assert proc.returncode == 2, explain(proc)
    errors = [line for line in proc.stderr.decode().splitlines() if line.startswith("error: ")]
    assert len(errors) == 2
    assert f"{policy}:{line_number(policy, 'scramble')}" in errors[0]
    assert f"{policy}:{line_number(policy, 'kind: town')}" in errors[1]


def test_missing_policy_file_exits_2(tmp_path: Path) -> None:
    proc = run_cli("mask", "--policy", tmp_path / "nope.yaml", stdin=b"")
    assert proc.returncode == 2, explain(proc)
    assert "nope.yaml" in proc.stderr.decode() and "cannot read policy" in proc.stderr.decode()


def test_missing_key_env_exits_2(tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.json"
    proc = run_cli("mask", "--policy", POLICY, "--audit", audit_path, stdin=jsonl(fixture_records()), key=None)
    assert proc.returncode == 2, explain(proc)
    assert proc.stdout == b""
    assert not audit_path.exists()
    assert "STREAMMASK_KEY" in proc.stderr.decode() and "not set" in proc.stderr.decode()


def test_too_short_key_exits_2_without_echoing_it() -> None:
    proc = run_cli("mask", "--policy", POLICY, stdin=b"", key="hunter2")
    assert proc.returncode == 2, explain(proc)
    assert "at least 16" in proc.stderr.decode() and "hunter2" not in proc.stderr.decode()


def test_usage_errors_exit_2() -> None:
    proc = run_cli("mask")  # --policy is required
    assert proc.returncode == 2
    assert "--policy" in proc.stderr.decode()
    assert run_cli("no-such-command").returncode == 2


# -- check ------------------------------------------------------------------------------------------------


def test_check_policy_alone() -> None:
    proc = run_cli("check", "--policy", POLICY, "--no-key", key=None)  # --no-key: a CI job without the secret
    assert proc.returncode == 0, explain(proc)
    assert "policy valid (3 tables" in proc.stdout.decode()
    assert "key not checked (--no-key)" in proc.stdout.decode()


def test_check_loads_the_key_and_says_which_it_is() -> None:
    proc = run_cli("check", "--policy", POLICY)
    assert proc.returncode == 0, explain(proc)
    from streammask.keys import MasterKey

    fingerprint = MasterKey(bytes.fromhex(KEY_HEX), "2026q4").fingerprint
    assert f"{POLICY}: key loaded (key id 2026q4, fingerprint {fingerprint})" in proc.stdout.decode()
    assert KEY_HEX[:8] not in proc.stdout.decode()


def test_check_without_the_key_fails_naming_where_it_looked() -> None:
    proc = run_cli("check", "--policy", POLICY, key=None)
    assert proc.returncode == 2, explain(proc)
    assert "STREAMMASK_KEY" in proc.stderr.decode()


def test_check_an_empty_sample_fails_it_proves_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    proc = run_cli("check", "--policy", POLICY, "--no-key", "--sample", empty, key=None)
    assert proc.returncode == 1, explain(proc)
    lines = proc.stdout.decode().splitlines()
    assert "the sample holds no record: it proves nothing" in lines
    assert lines[-1] == "0 record(s) scanned, 0 table(s) seen: gaps found"


def test_check_covered_sample(tmp_path: Path) -> None:
    sample = write_jsonl(tmp_path / "sample.jsonl", [*fixture_records(), message_record(5)])
    proc = run_cli("check", "--policy", POLICY, "--no-key", "--sample", sample, key=None)
    assert proc.returncode == 0, explain(proc)
    lines = proc.stdout.decode().splitlines()
    assert lines[-1] == "6 record(s) scanned, 1 table(s) seen: no gaps"


def test_check_sample_reads_stdin(tmp_path: Path) -> None:
    proc = run_cli("check", "--policy", POLICY, "--no-key", "--sample", "-", stdin=jsonl(fixture_records()), key=None)
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout.decode().splitlines()[-1].endswith("no gaps")


def test_check_sample_with_gaps_names_every_one(tmp_path: Path) -> None:
    orders = fixture("postgres-update.payload.json")
    orders["source"]["table"] = "orders"
    orders["before"] = None
    orders["after"] = {
        "id": 3, "customer_id": 1, "status": "paid", "currency": "EUR", "total": 10, "item_count": 1,
        "placed_at": "2024-01-01T00:00:00Z", "shipped_at": None, "card_number": "4111111111111111",
        "gift_note": None, "coupon_code": "SAVE10",
    }
    keyed = fixture("postgres-update.payload.json")
    sample = [
        *fixture_records(),
        unknown_table_record(10),
        unknown_table_record(11),
        unclassified_column_record(12),
        kcat_line(13, compact({"id": 3}), compact(orders), topic="PostgreSQL_server.public.orders"),
        kcat_line(14, customer_key(1, tenant="acme"), compact(keyed)),
    ]
    path = write_jsonl(tmp_path / "sample.jsonl", sample)
    proc = run_cli("check", "--policy", POLICY, "--no-key", "--sample", path, key=None)
    assert proc.returncode == 1, explain(proc)
    lines = proc.stdout.decode().splitlines()
    assert "table public.payments: seen in 2 record(s), not in the policy" in lines
    gaps = [("public.customers", "ssn"), ("public.customers", "tenant"), ("public.orders", "coupon_code")]
    for table, column in gaps:
        assert (
            f"table {table}, column {column}: seen in 1 record(s), not classified (add to passthrough or fields)"
            in lines
        ), lines
    assert lines[-1] == f"{len(sample)} record(s) scanned, 3 table(s) seen: gaps found"
    for planted in (PLANTED_SSN, PLANTED_PAYEE, "SAVE10", "acme"):
        assert planted not in proc.stdout.decode() + proc.stderr.decode()


def test_check_reports_a_strategy_the_sample_schema_rules_out(tmp_path: Path) -> None:
    event = fixture("postgres-create.json")
    for side in event["schema"]["fields"][:2]:  # before and after: a uuid balance cannot be bucketed
        side["fields"].append({"type": "string", "optional": True, "name": "io.debezium.data.Uuid", "field": "balance"})
    event["payload"]["after"]["balance"] = "6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f"
    path = write_jsonl(tmp_path / "sample.jsonl", [kcat_line(0, customer_key(1), compact(event))])
    proc = run_cli("check", "--policy", POLICY, "--no-key", "--sample", path, key=None)
    assert proc.returncode == 1, explain(proc)
    stdout = proc.stdout.decode()
    assert f"table public.customers, column balance: policy {POLICY}:{line_number(POLICY, 'balance:')}" in stdout
    assert "strategy bucket cannot mask a string (io.debezium.data.Uuid) column" in stdout
    assert "6f1c2a9e" not in stdout


def test_check_counts_undecodable_sample_lines(tmp_path: Path) -> None:
    path = tmp_path / "sample.jsonl"
    path.write_bytes(jsonl(fixture_records()) + b"garbage\n")
    proc = run_cli("check", "--policy", POLICY, "--no-key", "--sample", path, key=None)
    assert proc.returncode == 1, explain(proc)
    assert "1 record(s) could not be decoded as Debezium JSON" in proc.stdout.decode()


def test_check_sample_names_each_line_mask_would_block_and_why(tmp_path: Path) -> None:
    good = fixture_records()
    bad = [
        {**good[0], "raw": compact(fixture("postgres-create.json"))},
        {k: v for k, v in good[2].items() if k != "payload"},
        {**good[1], "payload_error": "Invalid CP1 magic byte 123"},
    ]
    path = write_jsonl(tmp_path / "sample.jsonl", [good[0], *bad, *(good[1:] * 8)])
    proc = run_cli("check", "--policy", POLICY, "--no-key", "--sample", path, key=None)
    assert proc.returncode == 1, explain(proc)
    lines = proc.stdout.decode().splitlines()
    assert lines[2:5] == [
        f"{path}: line 2: unknown field `raw` (kcat -J writes only topic, partition, offset, tstype, ts, broker, "
        "headers, key, payload)",
        f"{path}: line 3: missing `payload`",
        f"{path}: line 4: `payload_error`: kcat could not deserialise the record's value, so the line does not hold "
        "the record's bytes; consume it without -s avro",
    ]
    assert "3 record(s) could not be decoded as Debezium JSON" in lines
    stdout = proc.stdout.decode()
    for value in sensitive_values():
        assert json.dumps(value) not in stdout and value not in stdout, value


def test_check_sample_names_twenty_refused_lines_then_counts_the_rest() -> None:
    stdin = b"".join(b'{"topic": "t", "partition": 0, "offset": %d, "key": null}\n' % i for i in range(25))
    proc = run_cli("check", "--policy", POLICY, "--no-key", "--sample", "-", stdin=stdin, key=None)
    assert proc.returncode == 1, explain(proc)
    lines = proc.stdout.decode().splitlines()
    named = [line for line in lines if line.startswith("<stdin>: line ")]
    assert named == [f"<stdin>: line {n}: missing `payload`" for n in range(1, 21)]
    assert "<stdin>: 5 more line(s) not in kcat -J's shape" in lines
    assert "25 record(s) could not be decoded as Debezium JSON" in lines


# -- policy-schema ------------------------------------------------------------------------------------------


def test_policy_schema_prints_the_schema() -> None:
    proc = run_cli("policy-schema", key=None)
    assert proc.returncode == 0, explain(proc)
    schema = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert proc.stdout.decode() == POLICY_SCHEMA_PATH.read_text()
    jsonschema.validate(yaml.safe_load(POLICY.read_text()), schema)


# -- the audit summary schema itself ----------------------------------------------------------------------


def test_audit_schema_enums_match_the_code() -> None:
    from streammask.envelope import CHANGE_OPS
    from streammask.outcome import BlockCode, EventKind
    from streammask.strategies import STRATEGIES

    defs = json.loads(AUDIT_SCHEMA_PATH.read_text())["$defs"]
    assert set(defs["blockCode"]["enum"]) == {c.value for c in BlockCode}
    assert set(defs["eventKind"]["enum"]) == {k.value for k in EventKind}
    assert set(defs["strategy"]["enum"]) == set(STRATEGIES)
    assert set(defs["op"]["enum"]) == set(CHANGE_OPS) | {EventKind.TOMBSTONE.value}


def test_audit_schema_is_strict(audit_validator: jsonschema.Draft202012Validator) -> None:
    from streammask.audit import AuditCounts
    from streammask.outcome import BlockCode, Blocked, BlockReason, Coordinates

    counts = AuditCounts("0" * 64, "k1")
    counts.add(Coordinates("t", 0, 5), Blocked(BlockReason(BlockCode.UNKNOWN_TABLE, "why", "public.x", None)))
    good = json.loads(orjson.dumps(counts.as_dict()))
    assert_valid_audit(audit_validator, good)

    def invalid(mutate: Any) -> bool:
        doc = json.loads(json.dumps(good))
        mutate(doc)
        return bool(list(audit_validator.iter_errors(doc)))

    # Nowhere to put a value: no extra properties, at any level.
    assert invalid(lambda d: d.update(sample={"email": "annek@noanswer.org"}))
    assert invalid(lambda d: d["records"].update(first_value="x"))
    assert invalid(lambda d: d["blocked"][0].update(value="annek@noanswer.org"))
    assert invalid(lambda d: d["tables"].update({"public.customers": {"ops": {}, "columns": {}, "rows": []}}))
    assert invalid(
        lambda d: d["tables"].update(
            {"public.t": {"ops": {}, "columns": {"email": {"strategy": "hash", "values_masked": 1, "was": "x"}}}}
        )
    )
    assert invalid(lambda d: d["events"].update({"annek@noanswer.org": 1}))
    assert invalid(lambda d: d["blocked_by_code"].update({"annek@noanswer.org": 1}))
    assert invalid(lambda d: d["tables"].update({"public.t": {"ops": {"Kretchmar": 1}, "columns": {}}}))
    # Fields are what they claim to be.
    assert invalid(lambda d: d.update(policy_sha256="not a digest"))
    assert invalid(lambda d: d.update(started_at="yesterday"))
    assert invalid(lambda d: d["records"].update({"in": -1}))
    assert invalid(lambda d: d.pop("key_id"))


# -- interruptions --------------------------------------------------------------------------------------


def test_ctrl_c_exits_130_with_the_output_flushed_and_the_audit_marked_incomplete(tmp_path: Path) -> None:
    """SIGINT while mask waits for more input: no traceback; every line read is in the output (the last one
    is blocked, and its log line says mask got that far); the audit file is written and says ``interrupted``."""
    out, audit = tmp_path / "out.jsonl", tmp_path / "audit.json"
    env = {**os.environ, "STREAMMASK_KEY": KEY_HEX}
    proc = subprocess.Popen([sys.executable, "-m", "streammask", "mask", "--policy", str(POLICY), "--output",
                             str(out), "--audit", str(audit)], stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stderr is not None
    records = fixture_records()[:3]
    proc.stdin.write(jsonl([*records, unknown_table_record(99)]))
    proc.stdin.flush()  # and kept open: mask waits for more
    for line in proc.stderr:  # the blocked record's log line: every record before it was masked
        if json.loads(line).get("msg") == "record blocked":
            break
    proc.send_signal(2)  # SIGINT, as Ctrl-C sends it
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 130, stderr
    assert "Traceback" not in stderr
    assert [orjson.loads(line)["offset"] for line in out.read_bytes().splitlines()] == [r["offset"] for r in records]
    doc = json.loads(audit.read_text())
    assert doc["incomplete"] == "interrupted" and doc["records"] == {"in": 4, "out": 3, "blocked": 1}
    jsonschema.validate(doc, json.loads(AUDIT_SCHEMA_PATH.read_text()))


def test_a_reader_that_goes_away_ends_mask_quietly(tmp_path: Path) -> None:
    """``mask | head -1``: the pipe breaks under mask; it exits 141 (128 + SIGPIPE, as a shell reports it)
    without an error line or a traceback."""
    src = write_jsonl(tmp_path / "in.jsonl", fixture_records()[:4] * 100)  # far beyond the pipe's buffer
    env = {**os.environ, "STREAMMASK_KEY": KEY_HEX}
    proc = subprocess.Popen([sys.executable, "-m", "streammask", "mask", "--policy", str(POLICY), "--input",
                             str(src)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    assert orjson.loads(proc.stdout.readline())["offset"] == 0
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, stderr
    assert "Traceback" not in stderr and "error" not in stderr.lower()
    assert any(json.loads(line).get("msg") == "mask stopped (broken-pipe)" for line in stderr.splitlines())
