#!/usr/bin/env bash
# kcat with a librdkafka recent enough for the demo's broker (Tansu).
#
# Debian 12's kcat links librdkafka 2.0.2, which cannot finish the handshake with Tansu ("ApiVersionRequest
# failed: Local: Read underflow"; fixed upstream in confluentinc/librdkafka#4278). confluent-kafka's wheel
# bundles a recent librdkafka with the same soname and C ABI: this runs the same kcat binary with it.
# Usage: scripts/kcat.sh -L -b 127.0.0.1:9092     (any kcat arguments)
set -euo pipefail
cd "$(dirname "$0")/.."
python=""
for candidate in .venv/bin/python python3 python; do  # the first that has confluent-kafka
  if "$candidate" -c 'import confluent_kafka' >/dev/null 2>&1; then python="$candidate"; break; fi
done
if [ -z "$python" ]; then
  echo "scripts/kcat.sh: no Python with confluent-kafka (install the project first: bash .ci/run or pip install -e .)" >&2
  exit 2
fi
libs="$("$python" -c 'import confluent_kafka, pathlib; print(pathlib.Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs")')"
lib="$(ls "$libs"/librdkafka*.so* 2>/dev/null | head -n 1 || true)"
if [ -z "$lib" ]; then
  echo "scripts/kcat.sh: no bundled librdkafka under $libs (install the project first: bash .ci/run or pip install -e .)" >&2
  exit 2
fi
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
ln -s "$lib" "$dir/librdkafka.so.1"
LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" kcat "$@"
