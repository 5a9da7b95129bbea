#!/usr/bin/env bash
# Sets up a venv if needed, then masks the example Debezium events with the example policy and shows
# a record before and after, the audit summary, and the policy check. Needs no broker.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/streammask ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e .
fi
# A throwaway demo key unless you bring one (never put a real key in a policy file).
export STREAMMASK_KEY="${STREAMMASK_KEY:-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))')}"
out=$(mktemp -d)
.venv/bin/streammask check --policy policies/ecommerce.yaml --sample examples/customers.jsonl
.venv/bin/streammask --log-level WARNING mask --policy policies/ecommerce.yaml \
  --input examples/customers.jsonl --output "$out/masked.jsonl" --audit "$out/audit.json"
.venv/bin/python scripts/show_sample.py examples/customers.jsonl "$out/masked.jsonl" "$out/audit.json"
echo "masked records: $out/masked.jsonl   audit summary: $out/audit.json"
