#!/usr/bin/env bash
# CI helper: install Debian's PostgreSQL when missing, start its cluster and create the test role and database.
# Idempotent. Prints the URL the records tests read from ZAOMO_TEST_PG_URL. Needs root.
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
read -r ver name _ < <(pg_lsclusters --no-header | head -n1) || true
if [ -z "${ver:-}" ]; then
  ver=$(ls /usr/lib/postgresql | sort -V | tail -n1); name=main
  pg_createcluster "$ver" "$name" >&2
fi
pg_ctlcluster "$ver" "$name" status >/dev/null 2>&1 || pg_ctlcluster "$ver" "$name" start >&2
port=$(pg_lsclusters --no-header | awk -v v="$ver" -v n="$name" '$1==v && $2==n {print $3}')
psql_() { su postgres -c "psql -p $port -qtAX $*"; }
for _ in $(seq 30); do psql_ "-c 'select 1'" >/dev/null 2>&1 && break; sleep 1; done
[ "$(psql_ "-c \"select 1 from pg_roles where rolname='zaomo'\"")" = 1 ] ||
  psql_ "-c \"create role zaomo login password 'zaomo'\""
[ "$(psql_ "-c \"select 1 from pg_database where datname='zaomo_test'\"")" = 1 ] ||
  psql_ "-c 'create database zaomo_test owner zaomo'"
echo "postgresql+psycopg://zaomo:zaomo@127.0.0.1:$port/zaomo_test"
