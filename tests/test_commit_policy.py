"""When a transaction is due: records or elapsed time, with the clock passed in (no sleeping)."""

from __future__ import annotations

from streammask.proxy.commit_policy import CommitPolicy


def test_due_on_records_or_time_whichever_first() -> None:
    policy = CommitPolicy(max_records=3, max_ms=500)
    assert not policy.due(2, started_at=10.0, now=10.4999)
    assert policy.due(3, started_at=10.0, now=10.0)
    assert policy.due(1, started_at=10.0, now=10.5)
    assert not policy.due(0, started_at=10.0, now=99.0)  # an empty transaction is never due
