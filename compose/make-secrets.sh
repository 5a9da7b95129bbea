#!/bin/sh
# One-shot service `secrets`: random passwords for the kit's databases and Grafana, so that no password is
# written in the repository. Each is made once and kept in the kit-secrets volume (the databases keep the
# password they were initialised with; `docker compose down -v` removes both). The services mount the volume
# read-only: PostgreSQL reads its *_FILE variables, Grafana its __FILE variable, Kafka Connect the
# properties file through its FileConfigProvider (${file:/opt/connect/secrets/connect.properties:KEY}).
# Files are world-readable inside the volume because each image runs as its own user (postgres 999,
# kafka 1001, grafana 472); nothing else mounts it.
set -eu
dir="${1:-/secrets}"   # where compose mounts the kit-secrets volume
umask 022

new() {  # 32 hex digits from the kernel's CSPRNG; only when the file does not exist yet
  [ -s "$dir/$1" ] && return 0
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/$1.tmp"
  mv "$dir/$1.tmp" "$dir/$1"
}

for name in source-db-admin-password source-db-debezium-password qa-db-admin-password qa-db-sink-password \
            grafana-admin-password; do
  new "$name"
done

if [ ! -s "$dir/connect.properties" ]; then
  {
    echo "# Read by Kafka Connect's FileConfigProvider; the connector configs hold \${file:...} references only."
    echo "source.password=$(cat "$dir/source-db-debezium-password")"
    echo "qa.password=$(cat "$dir/qa-db-sink-password")"
  } > "$dir/connect.properties.tmp"
  mv "$dir/connect.properties.tmp" "$dir/connect.properties"
fi
chmod 0444 "$dir"/*
echo "kit secrets ready in the kit-secrets volume (names only):" $(ls "$dir")
