#!/usr/bin/env bash
# Issue 16: list and search on the PostgreSQL catcher against SQLite at the same count, in one run. Both stores are
# filled with the same messages over SMTP by bench/ApiBench (api --fill), then ApiBench's api calls (first page,
# message by id, seven searches; p50/p99 over --runs) run against a fresh catcher process on each, alternating.
#
#   bench/pg-api.sh [--messages 100000] [--reps 3] [--runs 50]
#
# Needs the PostgreSQL of .ci/setup-postgres (127.0.0.1:${SMTPD_PG_PORT:-55432}); the database is kept afterwards
# (drop it with: psql ... -c 'drop database smtpd_api_bench_N').
set -uo pipefail
cd "$(dirname "$0")/.."
messages=100000; reps=3; runs=50
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) messages=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
pg_port=${SMTPD_PG_PORT:-55432}
database=smtpd_api_bench_$messages
sqlite=${TMPDIR:-/tmp}/smtpd-api-bench-$messages.db
pg="Host=127.0.0.1;Port=$pg_port;Username=smtpd_test;Password=smtpd_test;Database=$database"
PGPASSWORD=smtpd_test psql -h 127.0.0.1 -p "$pg_port" -U smtpd_test -d postgres -qAtc "select 1 from pg_database where datname = '$database'" | grep -q 1 ||
  PGPASSWORD=smtpd_test psql -h 127.0.0.1 -p "$pg_port" -U smtpd_test -d postgres -qc "create database $database" || exit 1
dotnet build src/Smtpd.Cli -c Release -v q -nologo >/dev/null && dotnet build bench/ApiBench -c Release -v q -nologo >/dev/null || exit 1
bench=bench/ApiBench/bin/Release/net10.0/ApiBench.dll
for rep in $(seq 1 "$reps"); do
  for store in sqlite postgres; do
    db=$sqlite; [ "$store" = postgres ] && db=$pg
    echo "=== rep $rep $store"
    dotnet "$bench" api --db "$db" --runs "$runs" --fill "$messages"
  done
done
