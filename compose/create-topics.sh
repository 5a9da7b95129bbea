#!/usr/bin/env bash
# One-shot services `topics` and `topics-avro`: create the pipeline's topics before anything reads them, with
# one partition each (one broker; one partition keeps a table's changes in order end to end). The proxy
# subscribes to a fixed list of source topics, and a consumer would otherwise wait for its next metadata
# refresh to see a topic created later. Idempotent (--if-not-exists). Usage: create-topics.sh PREFIX...
# creates PREFIX.public.{customers,addresses,orders} for each PREFIX.
set -euo pipefail
bootstrap="${KAFKA_BOOTSTRAP:-kafka:9092}"
for prefix in "$@"; do
  for table in customers addresses orders; do
    /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$bootstrap" --create --if-not-exists \
      --topic "$prefix.public.$table" --partitions 1 --replication-factor 1
  done
done
