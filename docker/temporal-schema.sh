#!/bin/sh
# Creates Temporal's two PostgreSQL databases (persistence and visibility) and
# brings their schemas to the version the sql tool ships (the server's own
# version: both come from the same release). Runs
#   - as the one-shot `temporal-schema` service of docker-compose.yml
#     (image temporalio/admin-tools), before the server starts;
#   - in `npm run test:production` (dev/stack/temporal-prod-server.ts), with the
#     same variables and a temporal-sql-tool built from the same release.
#
# Safe to run again: an existing database is kept, and update-schema applies
# only the versions it does not have yet (this is also how an upgrade runs).
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is not set (the Postgres host, e.g. temporal-db)}"
: "${POSTGRES_USER:?POSTGRES_USER is not set}"
: "${POSTGRES_PWD:?POSTGRES_PWD is not set}"
PORT="${DB_PORT:-5432}"
DATABASE="${DBNAME:-temporal}"
VISIBILITY_DATABASE="${VISIBILITY_DBNAME:-temporal_visibility}"
SQL_TOOL="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"
MAX_ATTEMPTS="${SETUP_MAX_ATTEMPTS:-30}"
SLEEP_SECONDS="${SETUP_SLEEP_SECONDS:-2}"

# The password travels in the environment, not on a command line others can read.
export SQL_PASSWORD="$POSTGRES_PWD"

sql() {
  "$SQL_TOOL" --plugin postgres12 --endpoint "$POSTGRES_SEEDS" --port "$PORT" --user "$POSTGRES_USER" "$@"
}

setup() {
  database="$1"
  schema="$2"
  attempt=1
  # create-database is the first statement to reach Postgres: retry it while
  # Postgres is still starting; "already exists" means a previous run made it.
  until out=$(sql --database "$database" create-database 2>&1); do
    case "$out" in
      *"already exists"*) break ;;
    esac
    if [ "$attempt" -ge "$MAX_ATTEMPTS" ]; then
      echo "could not create database $database on $POSTGRES_SEEDS:$PORT after $attempt attempts: $out" >&2
      exit 1
    fi
    echo "waiting for Postgres at $POSTGRES_SEEDS:$PORT (attempt $attempt/$MAX_ATTEMPTS)"
    attempt=$((attempt + 1))
    sleep "$SLEEP_SECONDS"
  done
  sql --database "$database" setup-schema --version 0.0
  sql --database "$database" update-schema --schema-name "postgresql/v12/$schema"
  echo "database $database: schema postgresql/v12/$schema up to date"
}

setup "$DATABASE" temporal
setup "$VISIBILITY_DATABASE" visibility
