"""Audit records: the published JSON Schema, and a hash chain that exposes altered or removed records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from streammask.audit import AuditCounts
from streammask.audit_trail.records import Position, parse_entry
from streammask.keys import MasterKey
from streammask.outcome import BlockCode, Blocked, BlockReason, Coordinates, EventKind, Masked
from streammask.plan import ColumnStats
from streammask.proxy.audit_record import GENESIS, TransactionAudit, build_record, verify_chain

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "audit-record.schema.json").read_text())
FINGERPRINT = MasterKey(bytes(range(32)), "k1").fingerprint


def transaction(first: int, fingerprint: str | None = FINGERPRINT) -> TransactionAudit:
    audit = TransactionAudit(AuditCounts("a" * 64, "k1", key_fingerprint=fingerprint))
    for offset in (first + 2, first, first + 1):  # ranges do not depend on arrival order
        where = Coordinates("db.public.t", 0, offset)
        audit.consumed((where.topic, where.partition), offset)
        if offset == first + 1:
            audit.counts.add(where, Blocked(BlockReason(BlockCode.UNCLASSIFIED_COLUMN, "not in policy",
                                                        "public.t", "ssn"), EventKind.CHANGE, "c"))
        else:
            audit.counts.add(where, Masked(b"k", b"v", [], EventKind.CHANGE, "public.t", "c",
                                           [ColumnStats("public.t", "email", "hash")]))
    return audit


def chain(n: int) -> list[dict[str, Any]]:
    records, prev = [], GENESIS
    for i in range(n):
        rec = build_record(transaction(10 * i), instance="i1", sequence=i + 1, prev_hash=prev, group_id="g")
        records.append(rec)
        prev = rec["hash"]
    return records


def test_record_matches_the_schema_and_its_content() -> None:
    [rec] = chain(1)
    jsonschema.validate(rec, SCHEMA)
    assert rec["source_ranges"] == [
        {"topic": "db.public.t", "partition": 0, "first_offset": 0, "last_offset": 2, "records": 3}
    ]
    assert rec["records"] == {"in": 3, "out": 2, "blocked": 1}
    assert (rec["key_id"], rec["key_fingerprint"]) == ("k1", FINGERPRINT)
    assert rec["tables"]["public.t"]["columns"] == {"email": {"strategy": "hash", "values_masked": 2}}
    assert rec["blocked"][0]["offset"] == 1 and rec["blocked"][0]["column"] == "ssn"
    assert transaction(5).next_offsets() == {("db.public.t", 0): 8}


def test_verify_chain_accepts_an_intact_chain_in_any_order() -> None:
    records = chain(4)
    assert verify_chain(records[::-1]) == []


def test_verify_chain_detects_an_altered_record() -> None:
    records = chain(3)
    records[1]["records"]["blocked"] = 0
    assert verify_chain(records) == ["record 2: hash does not match its content"]


def test_verify_chain_detects_a_removed_record() -> None:
    records = chain(3)
    del records[1]
    assert verify_chain(records) == ["record 3: prev_hash does not match record 1"]


def test_verify_chain_detects_a_rehashed_forgery() -> None:
    records = chain(3)
    forged = dict(records[1], instance="mallory")
    from streammask.proxy.audit_record import record_hash

    forged["hash"] = record_hash(forged)
    records[1] = forged
    assert verify_chain(records) == ["record 3: prev_hash does not match record 2"]


def test_start_notes_are_schema_valid_optional_fields_covered_by_the_hash() -> None:
    notes = {"policy_changed_from": "b" * 64,
             "key_rotation": {"from_key_id": "k0", "to_key_id": "k1", "approved_by": "dpo@example.com",
                              "reason": "QA-42", "target_topics": ["staging.t"]}}
    rec = build_record(transaction(0), instance="i1", sequence=1, prev_hash=GENESIS, group_id="g", notes=notes)
    jsonschema.validate(rec, SCHEMA)
    assert {k: rec[k] for k in notes} == notes and verify_chain([rec]) == []
    rec["key_rotation"]["approved_by"] = "someone else"
    assert verify_chain([rec]) == ["record 1: hash does not match its content"]
    del rec["key_rotation"]["approved_by"]
    with pytest.raises(jsonschema.ValidationError, match="approved_by"):
        jsonschema.validate(rec, SCHEMA)


def test_the_key_fingerprint_is_required_covered_by_the_hash_and_older_records_without_it_still_read() -> None:
    """Issue 12: new records name the key material; a record from before it was recorded is not refused."""
    rec = build_record(transaction(0), instance="i1", sequence=1, prev_hash=GENESIS, group_id="g")
    rec["key_fingerprint"] = "0" * 16
    assert verify_chain([rec]) == ["record 1: hash does not match its content"]
    older = build_record(transaction(0, fingerprint=None), instance="i1", sequence=1, prev_hash=GENESIS, group_id="g")
    assert "key_fingerprint" not in older and verify_chain([older]) == []
    with pytest.raises(jsonschema.ValidationError, match="key_fingerprint"):
        jsonschema.validate(older, SCHEMA)
    assert parse_entry(Position("audit", 0, 0), json.dumps(older).encode()).doc["key_id"] == "k1"
    same_id = {"from_key_id": "k1", "to_key_id": "k1", "from_fingerprint": "1" * 16, "to_fingerprint": FINGERPRINT,
               "approved_by": "dpo@example.com", "reason": "QA-43", "target_topics": ["staging.t"]}
    noted = build_record(transaction(0), instance="i1", sequence=1, prev_hash=GENESIS, group_id="g",
                         notes={"key_rotation": same_id})
    jsonschema.validate(noted, SCHEMA)
