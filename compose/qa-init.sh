#!/usr/bin/env bash
# First start of the QA database server (the postgres image runs /docker-entrypoint-initdb.d/*.sh once, on
# an empty data directory): the sink's role, then the shop's tables in `qa` (fed by the JSON pipeline) and in
# `qa_avro` (fed by the Avro pipeline of the `avro` profile; it stays empty without that profile).
set -euo pipefail
sql_dir="${KIT_SQL_DIR:-/kit}"                       # where compose mounts compose/*.sql
secrets_dir="${KIT_SECRETS_DIR:-/run/secrets/kit}"   # the kit-secrets volume
# psql reads the password with \getenv: it stays out of the command line and out of the SQL file.
QA_SINK_PASSWORD="$(cat "$secrets_dir/qa-db-sink-password")"
export QA_SINK_PASSWORD
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" --file "$sql_dir/qa-role.sql"
unset QA_SINK_PASSWORD
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" --command "CREATE DATABASE qa_avro"
for db in "$POSTGRES_DB" qa_avro; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$db" --file "$sql_dir/qa-init.sql"
done
