"""Prints, for a few records, each masked column before and after, then the audit summary's counts."""

from __future__ import annotations

import sys

import orjson


def _after(line: bytes) -> tuple[str, dict[str, object]]:
    rec = orjson.loads(line)
    value = orjson.loads(rec["payload"]) if rec["payload"] else {}
    payload = value.get("payload", value)
    source = payload.get("source") or {}
    return f"{source.get('schema')}.{source.get('table')}", payload.get("after") or {}


def main(original: str, masked: str, audit: str) -> None:
    with open(original, "rb") as a, open(masked, "rb") as b:
        pairs = list(zip(a, b, strict=False))
    shown: set[str] = set()
    for before_line, after_line in pairs:
        table, before = _after(before_line)
        _, after = _after(after_line)
        if table in shown or not before:
            continue
        shown.add(table)
        print(f"\n{table}")
        for column, value in before.items():
            mark = "  " if after.get(column) == value else "=>"
            print(f"  {column:<14} {str(value)[:36]:<38}{mark} {str(after.get(column))[:36]}")
    with open(audit, "rb") as handle:
        summary = orjson.loads(handle.read())
    print(f"\naudit: policy sha256 {summary['policy_sha256'][:12]}…, key id {summary['key_id']}, "
          f"records {summary['records']}")
    for table, entry in summary["tables"].items():
        cols = ", ".join(f"{c}={v['values_masked']} ({v['strategy']})" for c, v in entry["columns"].items())
        print(f"  {table}: ops {entry['ops']}; masked values: {cols}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
