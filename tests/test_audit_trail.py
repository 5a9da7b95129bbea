"""``streammask audit`` logic without Kafka: parsing audit records, the chain checks, reconciliation of
committed ranges against the output, and the export rows. (End to end: tests/test_audit_trail_e2e.py.)"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import pytest

from streammask.audit import AuditCounts
from streammask.audit_trail import export
from streammask.audit_trail.chain import check_chains
from streammask.audit_trail.reconcile import OutputIndex, reconcile
from streammask.audit_trail.records import AuditEntry, NotAnAuditRecord, Position, parse_entry, parse_time
from streammask.audit_trail.verify import VerifyReport
from streammask.cli import main as cli_main
from streammask.outcome import BlockCode, Blocked, BlockReason, Coordinates, EventKind, Masked
from streammask.plan import ColumnStats
from streammask.proxy.audit_record import GENESIS, TransactionAudit, build_record, record_hash

SRC = "db.public.t"
OUT = "qa.public.t"
FP1, FP2 = "1f" * 8, "2e" * 8


def transaction(offsets: Iterable[int], blocked: Iterable[int] = (), topic: str = SRC, partition: int = 0,
                strategy: str = "hash", fingerprint: str | None = FP1) -> TransactionAudit:
    audit = TransactionAudit(AuditCounts("a" * 64, "k1", key_fingerprint=fingerprint))
    blocked = set(blocked)
    for offset in offsets:
        where = Coordinates(topic, partition, offset)
        audit.consumed((topic, partition), offset)
        if offset in blocked:
            audit.counts.add(where, Blocked(BlockReason(BlockCode.UNCLASSIFIED_COLUMN, "not in policy", "public.t",
                                                        "ssn"), EventKind.CHANGE, "c"))
        else:
            audit.counts.add(where, Masked(b"k", b"v", [], EventKind.CHANGE, "public.t", "c",
                                           [ColumnStats("public.t", "email", strategy)]))
    return audit


def chain(n: int, instance: str = "i1", group: str = "g", per_txn: int = 3, first_offset: int = 0,
          start: int = 1, prev: str = GENESIS, partition: int = 0) -> list[dict[str, Any]]:
    docs = []
    for i in range(n):
        first = first_offset + i * per_txn
        doc = build_record(transaction(range(first, first + per_txn), partition=partition), instance=instance,
                           sequence=start + i, prev_hash=prev, group_id=group)
        docs.append(doc)
        prev = doc["hash"]
    return docs


def entries(docs: Sequence[dict[str, Any]]) -> list[AuditEntry]:
    return [parse_entry(Position("audit", 0, i), orjson.dumps(d)) for i, d in enumerate(docs)]


def rehash(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``doc`` with ``changes``, hashed again (a consistent record, as a forger would write it)."""
    new = {**doc, **changes}
    new["hash"] = record_hash(new)
    return new


def problems(docs: Sequence[dict[str, Any]], heads: dict[str, tuple[int, str]] | None = None) -> list[str]:
    return [p for report in check_chains(entries(docs), heads, group="g") for p in report.problems]


# -- records ------------------------------------------------------------------------------------------


def test_parse_entry_refuses_what_is_not_an_audit_record_without_quoting_it() -> None:
    at = Position("audit", 0, 7)
    with pytest.raises(NotAnAuditRecord, match="audit/0/7: not JSON"):
        parse_entry(at, b"secret-value{")
    with pytest.raises(NotAnAuditRecord, match="not a streammask audit record"):
        parse_entry(at, b'{"ssn": "123-45-6789"}')
    doc = chain(1)[0]
    del doc["sequence"]
    with pytest.raises(NotAnAuditRecord, match="field sequence missing"):
        parse_entry(at, orjson.dumps(doc))


def test_ranges_carry_their_record_count_and_older_records_fall_back_to_the_offsets() -> None:
    doc = build_record(transaction([0, 2, 3]), instance="i1", sequence=1, prev_hash=GENESIS, group_id="g")
    [rng] = entries([doc])[0].ranges
    assert (rng.first, rng.last, rng.records, rng.counted) == (0, 3, 3, True)
    del doc["source_ranges"][0]["records"]
    [old] = entries([doc])[0].ranges
    assert (old.records, old.counted) == (4, False)


def test_parse_time_needs_an_offset() -> None:
    assert parse_time("2024-06-01T00:00:00Z") == dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_time("2024-06-01T00:00:00")


# -- chains -------------------------------------------------------------------------------------------


def test_intact_chains_of_several_instances_in_any_order_pass() -> None:
    docs = chain(4) + chain(3, instance="i2", first_offset=100)
    reports = check_chains(entries(docs[::-1]), group="g")
    assert [(r.instance, r.records, r.first_sequence, r.last_sequence, r.ok) for r in reports] == [
        ("i1", 4, 1, 4, True), ("i2", 3, 1, 3, True)]


def test_a_chain_continued_after_a_restart_is_one_chain() -> None:
    """A restarted instance restores its head from the checkpoint topic: sequence and prev_hash go on."""
    first_run = chain(3)
    other = chain(2, instance="i2", first_offset=500)
    second_run = chain(2, start=4, prev=first_run[-1]["hash"], first_offset=9)
    docs = first_run + other + second_run
    assert problems(docs, heads={"i1": (5, second_run[-1]["hash"]), "i2": (2, other[-1]["hash"])}) == []


def test_a_removed_record_is_a_gap_named_by_sequence_and_position() -> None:
    docs = chain(5)
    del docs[2]
    assert problems(docs) == ["gap: sequence 3 missing (before audit/0/2)"]
    del docs[0]
    assert problems(docs) == [
        "gap: sequence 1 missing (before audit/0/0)", "gap: sequence 3 missing (before audit/0/1)"]


def test_removed_last_records_are_found_by_the_checkpointed_head() -> None:
    docs = chain(5)
    head = (5, docs[-1]["hash"])
    assert problems(docs[:3], heads={"i1": head}) == [
        "gap: sequences 4-5 missing at the end (the checkpoint topic's chain head is sequence 5)"]
    assert problems([], heads={"i1": head}) == [
        "gap: sequences 1-5 missing (the checkpoint topic's chain head of i1 is sequence 5, the audit topic holds "
        "none of its records)"]
    forged = docs[:4] + [rehash(docs[4], records={"in": 3, "out": 2, "blocked": 1})]
    assert problems(forged, heads={"i1": head}) == [
        "break: the checkpoint topic's chain head (sequence 5) is not the record at audit/0/4"]


def test_an_altered_record_and_a_rehashed_forgery() -> None:
    docs = chain(3)
    altered = [docs[0], {**docs[1], "records": {"in": 3, "out": 2, "blocked": 1}}, docs[2]]
    assert problems(altered) == ["altered: sequence 2 at audit/0/1: its content does not match its hash"]
    forged = [docs[0], rehash(docs[1], instance="i1", key_id="other"), docs[2]]
    assert problems(forged) == ["break: sequence 3 at audit/0/2 does not link to sequence 2 (prev_hash differs)"]


def test_a_repeated_sequence_is_a_fork_and_a_new_genesis_is_named() -> None:
    docs = chain(3)
    fork = rehash(docs[2], committed_at="2030-01-01T00:00:00.000Z")
    assert problems([*docs, fork]) == ["fork: sequence 3 appears 2 times, at audit/0/2, audit/0/3"]
    restarted = chain(2, first_offset=50)  # the instance lost its head and began again at 1
    assert problems(docs + restarted) == [
        "fork: sequence 1 appears 2 times, at audit/0/0, audit/0/3 (a new chain was started: was the checkpoint "
        "topic reset?)",
        "fork: sequence 2 appears 2 times, at audit/0/1, audit/0/4",
    ]


def test_since_checks_a_chain_from_its_first_record_then() -> None:
    docs = chain(5)
    later = entries(docs)[2:]
    reports = check_chains(later, {"i1": (5, docs[-1]["hash"])}, since=later[0].committed_at, group="g")
    assert [(r.first_sequence, r.problems) for r in reports] == [(3, [])]


# -- reconciliation -----------------------------------------------------------------------------------


def output(*coordinates: tuple[str, int, int], digest: bytes = b"d", topic: str = OUT) -> OutputIndex:
    index = OutputIndex()
    for i, source in enumerate(coordinates):
        index.add(source, Position(topic, 0, i), digest)
    return index


def src(*offsets: int, partition: int = 0) -> list[tuple[str, int, int]]:
    return [(SRC, partition, o) for o in offsets]


def test_every_committed_record_in_the_output_passes() -> None:
    docs = chain(3)  # offsets 0..8
    result = reconcile(entries(docs), output(*src(*range(9))))
    assert result.problems == [] and result.notes == []
    [row] = result.partitions
    assert (row.topic, row.partition, row.transactions, row.audited, row.found, row.missing) == (SRC, 0, 3, 9, 9, 0)


def test_a_missing_output_record_is_named_by_its_source_offset() -> None:
    result = reconcile(entries(chain(3)), output(*src(0, 1, 2, 3, 5, 6, 7, 8)))
    assert result.problems == [
        "audit sequence 2 of i1 (audit/0/1): 1 record(s) of db.public.t/0 missing from the output and not listed "
        "as blocked: offset(s) 4"]
    assert result.partitions[0].missing == 1


def test_listed_blocked_records_account_for_their_offsets() -> None:
    doc = build_record(transaction(range(5), blocked=[1, 3]), instance="i1", sequence=1, prev_hash=GENESIS,
                       group_id="g")
    result = reconcile(entries([doc]), output(*src(0, 2, 4)))
    assert result.ok and (result.partitions[0].found, result.partitions[0].blocked) == (3, 2)
    leaked = reconcile(entries([doc]), output(*src(0, 1, 2, 4)))
    assert "blocked source offset(s) 1 of db.public.t/0 are in the output" in leaked.problems[0]


def test_a_blocked_offset_masked_by_a_later_replay_is_no_leak() -> None:
    """A replay under another policy may mask what an earlier transaction blocked."""
    blocked = build_record(transaction(range(3), blocked=[1]), instance="i1", sequence=1, prev_hash=GENESIS,
                           group_id="g")
    replay = build_record(transaction(range(3)), instance="i1", sequence=2, prev_hash=blocked["hash"], group_id="g")
    assert reconcile(entries([blocked, replay]), output(*src(0, 1, 2))).ok


def test_offsets_without_records_inside_a_range_are_not_missing() -> None:
    """Transaction markers (or compaction) leave offsets without a record: the range's count decides."""
    doc = build_record(transaction([0, 2, 3, 5]), instance="i1", sequence=1, prev_hash=GENESIS, group_id="g")
    assert reconcile(entries([doc]), output(*src(0, 2, 3, 5))).ok
    result = reconcile(entries([doc]), output(*src(0, 2, 5)))
    assert result.problems == [
        "audit sequence 1 of i1 (audit/0/0): 1 record(s) of db.public.t/0 missing from the output and not listed "
        "as blocked: among offsets 1, 3, 4"]


def test_a_truncated_blocked_list_is_checked_by_count_and_says_so() -> None:
    doc = build_record(transaction(range(6), blocked=[1, 2, 3]), instance="i1", sequence=1, prev_hash=GENESIS,
                       group_id="g")
    doc["blocked"] = doc["blocked"][:1]  # as if capped: offsets 2 and 3 unlisted
    result = reconcile(entries([doc]), output(*src(0, 4, 5)))
    assert result.ok
    assert result.notes == [
        "audit sequence 1 of i1 (audit/0/0): its blocked list holds 1 of 3 blocked records (the list is capped); "
        "2 offset(s) neither in the output nor listed are taken as unlisted blocked ones by count: which offsets "
        "they are cannot be checked"]
    assert result.partitions[0].blocked == 3
    short = reconcile(entries([doc]), output(*src(0, 5)))
    assert short.problems == [
        "audit sequence 1 of i1 (audit/0/0): 1 record(s) of db.public.t/0 missing from the output and not listed "
        "as blocked: among offsets 2, 3, 4"]


def test_identical_duplicates_are_counted_differing_ones_fail() -> None:
    docs = chain(1)
    index = output(*src(0, 1, 2, 1, 2))
    result = reconcile(entries(docs), index)
    assert result.ok and result.partitions[0].duplicates == 2
    index.add((SRC, 0, 0), Position(OUT, 1, 9), b"other")
    result = reconcile(entries(docs), index)
    assert result.problems == [
        "source db.public.t/0/0: 2 copies in the output differ (masking is deterministic, so one was not written "
        "by this policy and key; later copies at qa.public.t/1/9)"]


def test_copies_written_under_two_keys_may_differ() -> None:
    """After an acknowledged key rotation, a replay writes the same source records under the new key."""
    first = build_record(transaction(range(3)), instance="i1", sequence=1, prev_hash=GENESIS, group_id="g")
    rotated = TransactionAudit(AuditCounts("a" * 64, "k2"))
    for offset in range(3):
        rotated.consumed((SRC, 0), offset)
        rotated.counts.add(Coordinates(SRC, 0, offset), Masked(b"k", b"v", [], EventKind.CHANGE, "public.t", "c", []))
    replay = build_record(rotated, instance="replay-1", sequence=1, prev_hash=GENESIS, group_id="g")
    index = output(*src(0, 1, 2))
    index.add((SRC, 0, 1), Position(OUT, 0, 9), b"other")
    result = reconcile(entries([first, replay]), index)
    assert result.ok and result.partitions[0].duplicates == 1
    assert result.notes == [
        "1 source record(s) have output copies that differ, each consumed by transactions under different keys "
        "or policies (a key rotation or policy change, then a replay or re-read)"]
    assert not reconcile(entries([first]), index).ok


def test_copies_written_under_one_key_id_but_two_fingerprints_may_differ_and_unrecorded_ones_are_not_judged() -> None:
    """Issue 12: new key material under the same key id is another key; a record from before fingerprints were
    recorded does not count as one."""
    def written(fingerprint: str | None, instance: str) -> dict[str, Any]:
        doc = build_record(transaction(range(3), fingerprint=fingerprint), instance=instance, sequence=1,
                           prev_hash=GENESIS, group_id="g")
        assert doc.get("key_fingerprint") == fingerprint
        return doc

    index = output(*src(0, 1, 2))
    index.add((SRC, 0, 1), Position(OUT, 0, 9), b"other")
    assert reconcile(entries([written(FP1, "i1"), written(FP2, "replay-1")]), index).ok
    assert not reconcile(entries([written(FP1, "i1"), written(None, "replay-1")]), index).ok
    assert not reconcile(entries([written(FP1, "i1"), written(FP1, "replay-1")]), index).ok


def test_unaudited_output_and_foreign_records_are_notes() -> None:
    index = output(*src(0, 1, 2, 3))
    index.add(None, Position(OUT, 0, 99), b"x")
    result = reconcile(entries(chain(1)), index)
    assert result.ok and result.partitions[0].unaudited == 1
    assert result.notes == [
        "1 output record(s) come from source offsets no audit record of the group covers (committed after the "
        "audit topic was read, or written by another group)",
        "qa.public.t: 1 record(s) without streammask.source headers (not written by streammask; not checked)",
    ]


def test_only_checked_records_must_be_complete_but_all_make_output_audited() -> None:
    docs = chain(3)
    all_entries = entries(docs)
    result = reconcile(all_entries[2:], output(*src(3, 4, 5, 6, 7, 8)), all_entries)
    assert result.ok and result.notes == []
    assert (result.partitions[0].audited, result.partitions[0].found) == (3, 3)


def test_ranges_that_disagree_with_the_counts_fail() -> None:
    doc = rehash(chain(1)[0], records={"in": 4, "out": 4, "blocked": 0})
    assert reconcile(entries([doc]), output(*src(0, 1, 2))).problems == [
        "audit sequence 1 of i1 (audit/0/0): its source ranges hold 3 record(s) but it counts 4 in"]


# -- export -------------------------------------------------------------------------------------------


def at(doc: dict[str, Any], when: str) -> dict[str, Any]:
    return rehash(doc, committed_at=when)


def route(topic: str) -> str | None:
    return OUT if topic == SRC else None


def test_export_has_one_row_per_transaction_with_its_outcome() -> None:
    ok = at(build_record(transaction(range(3)), instance="i1", sequence=1, prev_hash=GENESIS, group_id="g"),
            "2024-06-01T10:00:00.000Z")
    partial = at(build_record(transaction(range(3, 6), blocked=[4]), instance="i1", sequence=2, prev_hash=ok["hash"],
                              group_id="g"), "2024-06-01T11:00:00.000Z")
    blocked = at(build_record(transaction(range(2), blocked=[0, 1], topic="db.public.x"), instance="i2", sequence=1,
                              prev_hash=GENESIS, group_id="g"), "2024-06-01T09:00:00.000Z")
    table = export.rows(entries([ok, partial, blocked]), route)
    assert [(r["instance"], r["sequence"], r["outcome"]) for r in table] == [
        ("i2", 1, "blocked"), ("i1", 1, "success"), ("i1", 2, "partial")]
    assert table[2] | {"started_at": None} == {
        "committed_at": "2024-06-01T11:00:00.000Z", "started_at": None, "group": "g", "instance": "i1",
        "sequence": 2, "policy_sha256": "a" * 64, "key_id": "k1", "key_fingerprint": FP1, "source_topics": [SRC],
        "target_topics": [OUT],
        "fields_masked": ["public.t.email:hash"], "records_in": 3, "records_out": 2, "records_blocked": 1,
        "outcome": "partial", "policy_changed_from": "", "key_rotation": ""}
    assert table[0]["target_topics"] == [export.NO_ROUTE] and table[0]["fields_masked"] == []

    out = io.StringIO()
    export.write_csv(table, out)
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert lines[0] == list(export.COLUMNS) and len(lines) == 1 + 3
    assert lines[3][export.COLUMNS.index("fields_masked")] == "public.t.email:hash"

    out = io.StringIO()
    export.write_jsonl(table, out)
    assert [orjson.loads(line)["source_topics"] for line in out.getvalue().splitlines()] == [
        ["db.public.x"], [SRC], [SRC]]

    since = export.rows(entries([ok, partial, blocked]), route, parse_time("2024-06-01T12:00:00+02:00"))
    assert [(r["instance"], r["sequence"]) for r in since] == [("i1", 1), ("i1", 2)]


def test_export_names_a_policy_change_and_an_acknowledged_key_rotation() -> None:
    rotation = {"from_key_id": "k0", "to_key_id": "k1", "approved_by": "dpo@example.com", "reason": "QA-1",
                "target_topics": [OUT]}
    record = build_record(transaction(range(3)), instance="i1", sequence=1, prev_hash=GENESIS, group_id="g",
                          notes={"key_rotation": rotation, "policy_changed_from": "b" * 64})
    [row] = export.rows(entries([at(record, "2024-06-01T10:00:00.000Z")]), route)
    assert row["policy_changed_from"] == "b" * 64
    assert row["key_rotation"] == f"k0 -> k1 approved by dpo@example.com (QA-1) for {OUT}"


def test_export_names_the_key_fingerprint_and_leaves_it_empty_for_records_from_before_it() -> None:
    rotation = {"from_key_id": "k1", "to_key_id": "k1", "from_fingerprint": FP1, "to_fingerprint": FP2,
                "approved_by": "dpo@example.com", "reason": "QA-2", "target_topics": [OUT]}
    new = build_record(transaction(range(3), fingerprint=FP2), instance="i1", sequence=2, prev_hash=GENESIS,
                       group_id="g", notes={"key_rotation": rotation})
    old = build_record(transaction(range(3), fingerprint=None), instance="i1", sequence=1, prev_hash=GENESIS,
                       group_id="g")
    assert "key_fingerprint" not in old
    table = export.rows(entries([at(old, "2024-06-01T10:00:00.000Z"), at(new, "2024-06-01T11:00:00.000Z")]), route)
    assert [r["key_fingerprint"] for r in table] == ["", FP2]
    assert table[1]["key_rotation"] == (f"k1 -> k1 (fingerprint {FP1} -> {FP2}) approved by dpo@example.com (QA-2) "
                                        f"for {OUT}")
    out = io.StringIO()
    export.write_csv(table, out)
    assert list(csv.reader(io.StringIO(out.getvalue())))[2][export.COLUMNS.index("key_fingerprint")] == FP2


def test_outcome_classification() -> None:
    assert [export.outcome(o, b) for o, b in ((5, 0), (0, 0), (4, 1), (0, 3))] == [
        "success", "success", "partial", "blocked"]


# -- the verify report and the command line -----------------------------------------------------------


def test_verify_report_fails_on_any_problem_and_says_where() -> None:
    docs = chain(3)
    del docs[1]
    found = entries(docs)
    report = VerifyReport("audit", "g", len(found), check_chains(found, group="g"),
                          reconcile(found, output(*src(*range(8)))), notes=["1 record(s) of group h ignored"])
    assert not report.ok
    assert report.all_problems == [
        "chain g/i1: gap: sequence 2 missing (before audit/0/1)",
        "audit sequence 3 of i1 (audit/0/1): 1 record(s) of db.public.t/0 missing from the output and not listed "
        "as blocked: offset(s) 8",
    ]
    text = report.text()
    assert text.splitlines()[1].startswith("chain i1: 2 record(s), sequences 1-3, committed ")
    assert "  - gap: sequence 2 missing (before audit/0/1)" in text
    assert text.endswith("verify: FAILED (2 problem(s))\n")
    doc = report.as_json()
    assert (doc["ok"], doc["partitions"][0]["missing"], doc["notes"][0]) == (
        False, 1, "1 record(s) of group h ignored")
    assert "3 output record(s) come from source offsets no audit record" in doc["notes"][1]


@pytest.mark.parametrize("argv", [
    ["audit"],
    ["audit", "verify"],
    ["audit", "export", "--config", "c.yaml", "--since", "2024-06-01T00:00:00"],
    ["audit", "export", "--config", "c.yaml", "--format", "xml"],
])
def test_audit_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(argv)
    assert exit_info.value.code == 2
    assert "usage: streammask audit" in capsys.readouterr().err
