#!/usr/bin/env bash
# First start of the source database (the postgres image runs /docker-entrypoint-initdb.d/*.sh once, on an
# empty data directory): the shop's tables, Debezium's publication and role, then the example rows.
set -euo pipefail
sql_dir="${KIT_SQL_DIR:-/kit}"                       # where compose mounts compose/*.sql
secrets_dir="${KIT_SECRETS_DIR:-/run/secrets/kit}"   # the kit-secrets volume
# psql reads the password with \getenv: it stays out of the command line and out of the SQL file.
DEBEZIUM_PASSWORD="$(cat "$secrets_dir/source-db-debezium-password")"
export DEBEZIUM_PASSWORD
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --file "$sql_dir/source-init.sql" --file "$sql_dir/source-seed.sql"
