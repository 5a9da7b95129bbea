"""The published policy JSON Schema (schemas/policy.schema.json): generated from the model, never edited by
hand; every shipped policy validates against it; invalid policies are rejected by it as by the loader."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from streammask.errors import PolicyError
from streammask.policy import parse_policy
from streammask.policy.schema_export import SCHEMA_ID, policy_json_schema

REPO = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO / "schemas" / "policy.schema.json"
POLICIES = sorted((REPO / "policies").glob("*.yaml"))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return doc


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_schema_file_is_the_generated_schema() -> None:
    committed = SCHEMA_PATH.read_text()
    generated = policy_json_schema()
    if committed != generated:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True), generated.splitlines(keepends=True),
                "schemas/policy.schema.json (committed)", "policy_json_schema() (generated)", n=2,
            )
        )
        pytest.fail(
            "schemas/policy.schema.json is out of date with the policy model; regenerate it with\n"
            "    streammask policy-schema > schemas/policy.schema.json\n"
            f"and commit the result. Difference:\n{diff[:4000]}"
        )


def test_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID
    assert set(schema["required"]) == {"version", "key", "tables"}
    assert schema["additionalProperties"] is False


def test_generated_schema_is_stable() -> None:
    # Sorted keys and a trailing newline: regenerating never produces a spurious diff.
    assert policy_json_schema() == policy_json_schema()
    assert policy_json_schema().endswith("}\n")


def test_shipped_policies_exist() -> None:
    assert POLICIES, "no policies/*.yaml found"


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_every_shipped_policy_validates(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


HEAD = 'version: 1\nkey: {env: STREAMMASK_KEY, id: "k1"}\n'


def column(options: str) -> str:
    """A policy whose one masked column, public.t.a, has ``options``."""
    return HEAD + f"tables:\n  public.t:\n    passthrough: [id]\n    fields:\n      a: {options}\n"


VALID = {
    "passthrough-only": HEAD + "tables:\n  public.t:\n    passthrough: [id]\n",
    "every-strategy": HEAD
    + """\
tables:
  public.t:
    passthrough: [id]
    fields:
      a: {strategy: replace, kind: city, locale: de_DE}
      b: {strategy: format-preserve, mode: card, keep_suffix: 4}
      c: {strategy: redact, value: "n/a"}
      d: {strategy: shift, entity: id, max_days: 10}
      e: {strategy: bucket, boundaries: [18, 30, 50]}
      f: {strategy: hash, length: 12}
      g: {strategy: tokenize, domain: g}
      h: {strategy: keep, approved_by: dpo@example.com, reason: needed}
      i: {strategy: bucket, step: 0.5}
events: {schema_changes: pass, messages: redact}
headers: {passthrough: ["__debezium.context.*", "traceparent"]}
""",
    "key-file": 'version: 1\nkey: {file: keys/k.hex, id: "k1"}\ntables:\n  db.t:\n    passthrough: [id]\n',
}

INVALID = {
    "unknown-strategy": column("{strategy: scramble}"),
    "no-strategy": column("{kind: city}"),
    "unknown-option": column("{strategy: redact, colour: red}"),
    "keep-unapproved": column("{strategy: keep, reason: x}"),
    "keep-empty-reason": column("{strategy: keep, approved_by: x, reason: ''}"),
    "unknown-replace-kind": column("{strategy: replace, kind: spaceship}"),
    "replace-without-kind": column("{strategy: replace}"),
    "shift-max-days-0": column("{strategy: shift, entity: id, max_days: 0}"),
    "hash-length-65": column("{strategy: hash, length: 65}"),
    "missing-key": "version: 1\ntables:\n  public.t:\n    passthrough: [id]\n",
    "key-without-id": "version: 1\nkey: {env: K}\ntables:\n  public.t:\n    passthrough: [id]\n",
    "key-with-secret": HEAD.replace('id: "k1"', 'id: "k1", secret: "00ff"')
    + "tables:\n  public.t:\n    passthrough: [id]\n",
    "version-2": 'version: 2\nkey: {env: K, id: "k1"}\ntables:\n  public.t:\n    passthrough: [id]\n',
    "no-tables": HEAD + "tables: {}\n",
    "unknown-table-option": HEAD + "tables:\n  public.t:\n    passthrough: [id]\n    mask: [email]\n",
    "unknown-top-level": HEAD + "tables:\n  public.t:\n    passthrough: [id]\nheaderz: {}\n",
    "bad-events": HEAD + "tables:\n  public.t:\n    passthrough: [id]\nevents: {messages: keep}\n",
    "passthrough-not-a-list": HEAD + "tables:\n  public.t:\n    passthrough: id\n",
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_policies_pass_both_schema_and_loader(validator: jsonschema.Draft202012Validator, name: str) -> None:
    text = VALID[name]
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    parse_policy(text.encode(), f"{name}.yaml")


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_policies_are_rejected_by_schema_and_loader(
    validator: jsonschema.Draft202012Validator, name: str
) -> None:
    text = INVALID[name]
    assert list(validator.iter_errors(yaml.safe_load(text))), f"the JSON Schema accepts invalid policy {name}"
    with pytest.raises(PolicyError):
        parse_policy(text.encode(), f"{name}.yaml")
