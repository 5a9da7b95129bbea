"""JSON output is byte-identical to what it was before the codec layer: a golden digest per group of a
fixed corpus (see ``golden_corpus.py``) of every type x strategy, key form, placeholder and special value,
Debezium's documentation events and the benchmark's events."""

from __future__ import annotations

try:
    from tests import golden_corpus
except ImportError:  # tests/ itself is on sys.path
    import golden_corpus  # type: ignore[no-redef]


def test_json_output_matches_the_golden_digest() -> None:
    expected = golden_corpus.GOLDEN.read_text().splitlines()
    actual = golden_corpus.digest_lines()
    assert len(actual) == len(expected), "the corpus changed: regenerate the golden file deliberately"
    changed = [line.split(" ", 1)[1] for line, want in zip(actual, expected, strict=True) if line != want]
    assert not changed, f"{len(changed)} groups' output changed, first: {changed[:10]}"
