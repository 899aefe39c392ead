#!/usr/bin/env bash
# Needs the filled bench/pg-api.sh database (smtpd_api_bench_100000, schema 4) for its schema; drops its own scratch database after.
# Trigger overhead on ingest-shaped inserts: 4 clients, transactions of 5 single-row INSERTs (the writer's shape:
# one INSERT statement per message), with the count triggers on and off, alternating, in one scratch database.
export PGPASSWORD=smtpd_test
P="psql -h 127.0.0.1 -p 55432 -U smtpd_test -X -q"
$P -d postgres -c "DROP DATABASE IF EXISTS smtpd_trigger_bench" -c "CREATE DATABASE smtpd_trigger_bench"
pg_dump -h 127.0.0.1 -p 55432 -U smtpd_test -s smtpd_api_bench_100000 | $P -d smtpd_trigger_bench >/dev/null
$P -d smtpd_trigger_bench -c "INSERT INTO message_counts VALUES (1, 0, 0, 0)"
for rep in 1 2 3; do
  for mode in ENABLE DISABLE; do
    $P -d smtpd_trigger_bench -c "ALTER TABLE messages $mode TRIGGER messages_counts_insert"
    tps=$(pgbench -h 127.0.0.1 -p 55432 -U smtpd_test -n -c 4 -j 2 -T 20 -f "$(dirname "$0")/pg-count-triggers.sql" smtpd_trigger_bench 2>/dev/null | grep -oP 'tps = \K[0-9.]+' | head -1)
    echo "rep $rep trigger ${mode}D: $tps tps (x5 messages), load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
$P -d smtpd_trigger_bench -c "SELECT (SELECT sum(total) FROM message_counts) AS counted, (SELECT count(*) FROM messages) AS rows"
$P -d postgres -c "DROP DATABASE smtpd_trigger_bench"
