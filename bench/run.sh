#!/usr/bin/env bash
# Runs every benchmark workload against Smtpd and its peers, each server a fresh process on its own loopback
# port, interleaved, and prints markdown tables of the medians. See docs/performance.md for the method.
#
#   bench/run.sh [--reps N] [--scale F] [--servers "smtpd smtp-sink ..."] [--workloads "A B C D E F"]
#
# --scale multiplies message counts (0.1 for a quick look); the defaults are the issue's workloads.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

reps=3; scale=1; servers="smtpd smtpd-deliver smtpd-default smtp-sink smtpserver netdumbster aiosmtpd node"; workloads="A B C D E F"
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) reps=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

log() { echo "[bench] $*" >&2; }

# ---------------------------------------------------------------- installs
install_tools() {
  if ! command -v smtp-source >/dev/null || ! command -v smtp-sink >/dev/null; then
    log "installing postfix (smtp-source, smtp-sink) with no mail system configured"
    echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
  fi
  if ! python3 -c 'import aiosmtpd' 2>/dev/null && ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
    log "installing python3-aiosmtpd"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiosmtpd >/dev/null || log "aiosmtpd unavailable"
  fi
  if [ ! -d bench/Peers/node/node_modules/smtp-server ]; then
    log "installing node smtp-server"
    (cd bench/Peers/node && npm install --no-audit --no-fund >/dev/null) || log "node smtp-server unavailable"
  fi
  if [ ! -x bench/.tools/smtp4dev ]; then
    log "installing smtp4dev 3.15.0 (context for workload E)"
    dotnet tool install Rnwood.Smtp4dev --version 3.15.0 --tool-path bench/.tools >/dev/null 2>&1 || log "smtp4dev unavailable"
  fi
  log "building Release binaries"
  for project in bench/SinkServer bench/LoadGen bench/Peers/SmtpServerPeer bench/Peers/NetDumbsterPeer; do
    dotnet build "$project" -c Release -v q -nologo >/dev/null || { log "build of $project failed"; exit 1; }
  done
  if [ -d src/Smtpd.Cli ]; then dotnet build src/Smtpd.Cli -c Release -v q -nologo >/dev/null || log "CLI build failed"; fi
}

# ---------------------------------------------------------------- servers
next_port=30000
# More flags for smtpd-cli and smtpd-cli-pg*, e.g. SMTPD_CLI_EXTRA="--retain 0" (the CLI keeps 10,000 by default and
# prunes past that, which workload A's 20,000 messages reach).
cli_extra=${SMTPD_CLI_EXTRA:-}
# start_server NAME PORT -> prints PID; the server listens on 127.0.0.1:PORT
start_server() {
  local name=$1 port=$2 dir
  dir=$(mktemp -d)
  case "$name" in
    smtpd) dotnet bench/SinkServer/bin/Release/net10.0/SinkServer.dll "$port" >/dev/null 2>&1 & ;;
    smtpd-deliver) SMTPD_BENCH_DELIVER=1 dotnet bench/SinkServer/bin/Release/net10.0/SinkServer.dll "$port" >/dev/null 2>&1 & ;;
    # The same sink host built from an older commit (docs/contributing.md "Benchmarks"), for old-against-new runs.
    smtpd-baseline) dotnet "${SMTPD_BASELINE:?set SMTPD_BASELINE to the directory of an older SinkServer.dll}/SinkServer.dll" "$port" >/dev/null 2>&1 & ;;
    smtpd-default) SMTPD_BENCH_TUNED=0 DOTNET_TieredCompilation=1 dotnet bench/SinkServer/bin/Release/net10.0/SinkServer.dll "$port" >/dev/null 2>&1 & ;;
    smtp-sink) smtp-sink -u nobody -m 4096 "127.0.0.1:$port" 4096 >/dev/null 2>&1 & ;;
    smtpserver) dotnet bench/Peers/SmtpServerPeer/bin/Release/net10.0/SmtpServerPeer.dll "$port" >/dev/null 2>&1 & ;;
    # SmtpServer with the three host choices the smtpd row makes (docs/performance.md), for a like-for-like ratio.
    smtpserver-tuned) DOTNET_TieredCompilation=0 DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT=1 dotnet bench/Peers/SmtpServerPeer/bin/Release/net10.0/SmtpServerPeer.dll "$port" >/dev/null 2>&1 & ;;
    netdumbster) dotnet bench/Peers/NetDumbsterPeer/bin/Release/net10.0/NetDumbsterPeer.dll "$port" >/dev/null 2>&1 & ;;
    aiosmtpd) /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Sink >/dev/null 2>&1 & ;;
    node) node bench/Peers/node/server.js "$port" >/dev/null 2>&1 & ;;
    # The catcher (the smtpd tool) with its durable store, with no store (the catcher's own per-message work alone),
    # and, for old-against-new runs, the same tool built from an older commit (SMTPD_CLI_BASELINE). Its HTTP API
    # binds port 0, so that runs never clash with another catcher on the default 8025. Any workload takes them: A
    # with smtpd gives the catcher-over-library ratio (docs/performance.md "Catcher ingest").
    smtpd-cli) dotnet src/Smtpd.Cli/bin/Release/net10.0/Smtpd.Cli.dll --listen "127.0.0.1:$port" --http 127.0.0.1:0 --db "$dir/bench.db" $cli_extra --quiet --max-connections 20000 --max-connections-per-ip 20000 >/dev/null 2>&1 & ;;
    smtpd-cli-nostore) dotnet src/Smtpd.Cli/bin/Release/net10.0/Smtpd.Cli.dll --listen "127.0.0.1:$port" --http 127.0.0.1:0 --no-store --quiet --max-connections 20000 --max-connections-per-ip 20000 >/dev/null 2>&1 & ;;
    # The durable catcher with 10 WebSocket clients on /api/events reading every event (issue 13), started once
    # its HTTP API answers; stop_server ends them with it.
    smtpd-cli-ws)
      dotnet src/Smtpd.Cli/bin/Release/net10.0/Smtpd.Cli.dll --listen "127.0.0.1:$port" --http "127.0.0.1:$((port + 5000))" --db "$dir/bench.db" --quiet --max-connections 20000 --max-connections-per-ip 20000 >/dev/null 2>&1 &
      local cli=$!
      for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$((port + 5000))") 2>/dev/null && break; sleep 0.1; done
      dotnet bench/LoadGen/bin/Release/net10.0/LoadGen.dll events "127.0.0.1:$((port + 5000))" --connections 10 --hold-seconds 600 --poll-per-second "${SMTPD_WS_POLL:-20}" >/dev/null 2>&1 &
      echo $! > "/tmp/smtpd-bench-events.$cli"
      wait_for_server "$cli" "$port"
      return ;;
    smtpd-cli-baseline) dotnet "${SMTPD_CLI_BASELINE:?set SMTPD_CLI_BASELINE to the directory of an older Smtpd.Cli.dll}/Smtpd.Cli.dll" --listen "127.0.0.1:$port" --http 127.0.0.1:0 --db "$dir/bench.db" --quiet --max-connections 20000 --max-connections-per-ip 20000 >/dev/null 2>&1 & ;;
    # The same durable catcher on PostgreSQL (docs/scaling.md "The catcher on PostgreSQL"): a fresh database per
    # run on the server .ci/setup-postgres starts (127.0.0.1:55432), which the catcher migrates itself; stop_server
    # drops it. smtpd-cli-pg2 is two such catchers on one database, the second on PORT+10000, with no balancer
    # (workload P sends half the connections to each); smtpd-cli-pg*-haproxy below puts HAProxy in front instead.
    smtpd-cli-pg|smtpd-cli-pg2)
      local database="bench_${port}_$$"
      pg_sql "create database $database" || { log "cannot create $database (run bash .ci/setup-postgres)"; return 1; }
      local db="$pg_base;Database=$database"
      dotnet src/Smtpd.Cli/bin/Release/net10.0/Smtpd.Cli.dll --listen "127.0.0.1:$port" --http 127.0.0.1:0 --db "$db" $cli_extra --quiet --max-connections 20000 --max-connections-per-ip 20000 >/dev/null 2>&1 &
      local cli=$!
      echo "$database" > "/tmp/smtpd-bench-pgdb.$cli"
      if [ "$name" = smtpd-cli-pg2 ]; then
        # Started once the first has migrated the database, so the second only checks the schema.
        wait_for_server "$cli" "$port" >/dev/null || return 1
        dotnet src/Smtpd.Cli/bin/Release/net10.0/Smtpd.Cli.dll --listen "127.0.0.1:$((port + 10000))" --http 127.0.0.1:0 --db "$db" $cli_extra --quiet --max-connections 20000 --max-connections-per-ip 20000 >/dev/null 2>&1 &
        echo $! > "/tmp/smtpd-bench-second.$cli"
        wait_for_server $! "$((port + 10000))" >/dev/null || return 1
      fi
      wait_for_server "$cli" "$port"
      return ;;
    # The deployment of docs/scaling.md "Running it": HAProxy on PORT in TCP mode (leastconn, send-proxy-v2) in front
    # of one catcher (smtpd-cli-pg-haproxy, on PORT+10000) or two on one database (smtpd-cli-pg2-haproxy, PORT+10000
    # and PORT+20000), each with --proxy-protocol and only HAProxy's address trusted. Every workload then goes to
    # HAProxy; server_ticks counts the catchers, haproxy_ticks HAProxy. No health checks: they would add a NOOP
    # session every few seconds to what is measured.
    smtpd-cli-pg-haproxy|smtpd-cli-pg2-haproxy)
      local database="bench_${port}_$$" backends="" pids="" i
      pg_sql "create database $database" || { log "cannot create $database (run bash .ci/setup-postgres)"; return 1; }
      local db="$pg_base;Database=$database"
      local count=1
      [ "$name" = smtpd-cli-pg2-haproxy ] && count=2
      for i in $(seq 1 "$count"); do
        # One after the other, so the second only checks the schema the first migrated.
        dotnet src/Smtpd.Cli/bin/Release/net10.0/Smtpd.Cli.dll --listen "127.0.0.1:$((port + 10000 * i))" --http 127.0.0.1:0 --db "$db" --proxy-protocol --trusted-proxy 127.0.0.1 $cli_extra --quiet --max-connections 20000 --max-connections-per-ip 20000 >/dev/null 2>&1 &
        local catcher=$!
        pids="$pids $catcher"
        wait_for_server "$catcher" "$((port + 10000 * i))" >/dev/null || { for catcher in $pids; do kill "$catcher" 2>/dev/null; done; pg_sql "drop database if exists $database with (force)"; return 1; }
        backends="$backends
    server smtpd-$i 127.0.0.1:$((port + 10000 * i)) send-proxy-v2"
      done
      local cli=${pids# }; cli=${cli%% *}
      echo "$database" > "/tmp/smtpd-bench-pgdb.$cli"
      [ "$count" = 2 ] && echo "${pids##* }" > "/tmp/smtpd-bench-second.$cli"
      cat > "$dir/haproxy.cfg" <<CFG
global
    # Two descriptors per connection: 9,000 fits under an open-file limit of 20,000 (this machine's hard limit).
    maxconn 9000

defaults
    mode tcp
    timeout connect 5s
    timeout client 6m
    timeout server 6m

frontend smtp_in
    bind 127.0.0.1:$port
    default_backend smtpd

backend smtpd
    balance leastconn$backends
CFG
      # -db: in the foreground, so its PID is HAProxy's own (its CPU is read from it).
      "$haproxy_bin" -db -f "$dir/haproxy.cfg" >/dev/null 2>&1 &
      echo $! > "/tmp/smtpd-bench-haproxy.$cli"
      wait_for_server $! "$port" >/dev/null || { stop_server "$cli"; return 1; }
      echo "$cli"
      return ;;
    smtp4dev) bench/.tools/smtp4dev --smtpport "$port" --urls "http://127.0.0.1:0" --db "" --hostname 127.0.0.1 >/dev/null 2>&1 & ;;
    *) log "unknown server $name"; return 1 ;;
  esac
  wait_for_server $! "$port"
}

# wait_for_server PID PORT -> prints PID once PORT accepts connections
wait_for_server() {
  local pid=$1 port=$2
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$pid"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null
  return 1
}

stop_server() {
  # The server and what came with it: the event clients of smtpd-cli-ws, the second catcher of smtpd-cli-pg2 and
  # smtpd-cli-pg2-haproxy, HAProxy of smtpd-cli-pg*-haproxy. All are signalled before any is waited for, so no
  # wait outlasts a process that was never told to stop.
  local pids=$1 kind
  for kind in events second haproxy; do
    if [ -f "/tmp/smtpd-bench-$kind.$1" ]; then pids="$pids $(cat "/tmp/smtpd-bench-$kind.$1")"; rm -f "/tmp/smtpd-bench-$kind.$1"; fi
  done
  # shellcheck disable=SC2086 # one PID per word
  kill $pids 2>/dev/null
  for kind in $pids; do wait "$kind" 2>/dev/null; done
  # The PostgreSQL database of smtpd-cli-pg*, if any.
  if [ -f "/tmp/smtpd-bench-pgdb.$1" ]; then pg_sql "drop database if exists $(cat "/tmp/smtpd-bench-pgdb.$1") with (force)"; rm -f "/tmp/smtpd-bench-pgdb.$1"; fi
}
# PostgreSQL for smtpd-cli-pg*: the throwaway cluster of .ci/setup-postgres (SMTPD_PG_PORT, default 55432).
pg_port=${SMTPD_PG_PORT:-55432}
pg_base="Host=127.0.0.1;Port=$pg_port;Username=smtpd_test;Password=smtpd_test"
pg_sql() { PGPASSWORD=smtpd_test psql -h 127.0.0.1 -p "$pg_port" -U smtpd_test -d postgres -qAtc "$1" >/dev/null 2>&1; }
# CPU ticks of the whole PostgreSQL server: the postmaster (with its reaped children's, cutime+cstime) and every
# live child (backends, WAL writer, checkpointer, autovacuum). Its difference over a run is PostgreSQL's share.
pg_ticks() {
  local pm
  pm=$(head -n 1 "${SMTPD_PG_DIR:-/tmp/smtpd-ci-postgres}/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  { awk '{print $14+$15+$16+$17}' "/proc/$pm/stat" 2>/dev/null
    for child in $(ps -o pid= --ppid "$pm"); do awk '{print $14+$15}' "/proc/$child/stat" 2>/dev/null; done; } | awk '{s+=$1} END {print s+0}'
}
# The catcher's CPU ticks, both processes' for smtpd-cli-pg2.
server_ticks() {
  local t; t=$(cpu_ticks "$1")
  [ -f "/tmp/smtpd-bench-second.$1" ] && t=$((t + $(cpu_ticks "$(cat "/tmp/smtpd-bench-second.$1")")))
  echo "$t"
}
# HAProxy's CPU ticks for smtpd-cli-pg*-haproxy, 0 for every other server.
haproxy_ticks() { if [ -f "/tmp/smtpd-bench-haproxy.$1" ]; then cpu_ticks "$(cat "/tmp/smtpd-bench-haproxy.$1")"; else echo 0; fi; }
haproxy_bin=${SMTPD_HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
ticks_per_second=$(getconf CLK_TCK)
n() { awk -v v="$1" -v s="$scale" 'BEGIN {x=int(v*s); if (x<1) x=1; print x}'; }

# run_one WORKLOAD SERVER -> prints "msgs/s MiB/s cpu_ms_per_1000 peak_rss_mib extra" or "fail"
run_one() {
  local workload=$1 server=$2 port pid
  port=$3
  pid=$(start_server "$server" "$port") || { echo fail; return; }
  local messages size src_args
  case "$workload" in
    A|E) messages=$(n 20000); size=1024; src_args="-s 20 -l 1024 -d" ;;
    B) messages=$(n 5000); size=1024; src_args="-s 20 -l 1024" ;;
    C) messages=$(n 200); size=1048576; src_args="-s 4 -l 1048576 -d" ;;
    F) messages=$(n 20000); size=1024 ;;
    # P: workload A's 20 connections and 20,000 messages from two smtp-source processes at once (10 connections
    # and half the messages each): both to the server's port, or one to each instance of smtpd-cli-pg2.
    P) messages=$(n 20000); size=1024; src_args="-s 10 -l 1024 -d" ;;
  esac
  local port2=$port
  [ "$server" = smtpd-cli-pg2 ] && port2=$((port + 10000))
  local pgb=0 pga=0 hab=0 haa=0
  local result
  case "$workload" in
    A|B|C|E|P)
      timeout 60 smtp-source $src_args -m $(( (messages + 9) / 10 )) "127.0.0.1:$port" >/dev/null 2>&1
      local before start end after
      [ "$workload" = P ] && timeout 60 smtp-source $src_args -m $(( (messages + 9) / 10 )) "127.0.0.1:$port2" >/dev/null 2>&1
      before=$(server_ticks "$pid"); pgb=$(pg_ticks); hab=$(haproxy_ticks "$pid"); start=$(date +%s.%N)
      local ok=1
      if [ "$workload" = P ]; then
        local half=$((messages / 2)) s1 s2
        timeout 300 smtp-source $src_args -m "$half" "127.0.0.1:$port" >/dev/null 2>&1 & s1=$!
        timeout 300 smtp-source $src_args -m "$((messages - half))" "127.0.0.1:$port2" >/dev/null 2>&1 & s2=$!
        wait "$s1" || ok=0; wait "$s2" || ok=0
      else
        timeout 300 smtp-source $src_args -m "$messages" "127.0.0.1:$port" >/dev/null 2>&1 || ok=0
      fi
      if [ "$ok" = 1 ]; then
        end=$(date +%s.%N); after=$(server_ticks "$pid"); pga=$(pg_ticks); haa=$(haproxy_ticks "$pid")
        # extra, on PostgreSQL servers: CPU per 1,000 messages of the catcher(s), the PostgreSQL server and, behind
        # HAProxy, HAProxy together; behind HAProxy also HAProxy's own share.
        local extra=-
        case "$server" in
          smtpd-cli-pg*-haproxy) extra=$(awk -v m="$messages" -v d="$((after - before + pga - pgb + haa - hab))" -v h="$((haa - hab))" -v t="$ticks_per_second" 'BEGIN {printf "with-pg=%.0f/haproxy=%.0f", d/t*1000/m*1000, h/t*1000/m*1000}') ;;
          smtpd-cli-pg*) extra=$(awk -v m="$messages" -v d="$((after - before + pga - pgb))" -v t="$ticks_per_second" 'BEGIN {printf "with-pg=%.0f", d/t*1000/m*1000}') ;;
        esac
        result=$(awk -v m="$messages" -v sz="$size" -v s="$start" -v e="$end" -v b="$before" -v a="$after" -v t="$ticks_per_second" -v h="$(hwm_kib "$pid")" -v x="$extra" \
          'BEGIN {d=e-s; printf "%.0f %.2f %.0f %.1f %s\n", m/d, m*sz/d/1048576, (a-b)/t*1000/m*1000, h/1024, x}')
      else
        result=fail
      fi ;;
    F)
      timeout 60 dotnet bench/LoadGen/bin/Release/net10.0/LoadGen.dll pipelined "127.0.0.1:$port" --messages $(( (messages + 9) / 10 )) >/dev/null 2>&1
      local before json after
      before=$(cpu_ticks "$pid")
      if json=$(timeout 300 dotnet bench/LoadGen/bin/Release/net10.0/LoadGen.dll pipelined "127.0.0.1:$port" --connections 20 --messages "$messages" --size "$size" 2>/dev/null); then
        after=$(cpu_ticks "$pid")
        result=$(echo "$json" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(round(j["msgsPerSecond"]), j["mibPerSecond"], j["p50ms"], j["p99ms"])' | \
          awk -v m="$messages" -v b="$before" -v a="$after" -v t="$ticks_per_second" -v h="$(hwm_kib "$pid")" \
          '{printf "%s %s %.0f %.1f p50=%sms/p99=%sms\n", $1, $2, (a-b)/t*1000/m*1000, h/1024, $3, $4}')
      else
        result=fail
      fi ;;
    D)
      local connections base ready after
      connections=$(n 10000)
      timeout 60 dotnet bench/LoadGen/bin/Release/net10.0/LoadGen.dll idle "127.0.0.1:$port" --connections 50 --hold-seconds 0 </dev/null >/dev/null 2>&1
      sleep 0.5; base=$(rss_kib "$pid")
      local fifo idle_pid
      fifo=$(mktemp -u); mkfifo "$fifo"
      timeout 300 dotnet bench/LoadGen/bin/Release/net10.0/LoadGen.dll idle "127.0.0.1:$port" --connections "$connections" --hold-seconds 60 </dev/null >"$fifo" 2>/dev/null &
      idle_pid=$!
      read -r ready <"$fifo" || ready="ready 0"
      sleep 1; after=$(rss_kib "$pid")
      kill "$idle_pid" 2>/dev/null; wait "$idle_pid" 2>/dev/null; rm -f "$fifo"
      local open=${ready#ready }
      if [ "${open:-0}" -gt 0 ]; then
        result=$(awk -v o="$open" -v b="$base" -v a="$after" -v h="$(hwm_kib "$pid")" 'BEGIN {printf "- - - %.1f %.2fKiB/conn(%d-open)\n", h/1024, (a-b)/o, o}')
      else
        result=fail
      fi ;;
  esac
  stop_server "$pid"
  echo "$result"
}

# ---------------------------------------------------------------- main
install_tools
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
results=$(mktemp)
for rep in $(seq 1 "$reps"); do
  for workload in $workloads; do
    list=$servers
    [ "$workload" = E ] && list="smtpd-cli smtp4dev"
    for server in $list; do
      log "rep $rep workload $workload server $server"
      next_port=$((next_port + 1))
      echo "$workload $server $(run_one "$workload" "$server" "$next_port")" >> "$results"
    done
  done
done

# Every repetition's figures stay in this file, for the per-repetition columns of the docs' tables.
log "per-run results: $results"

# Medians per (workload, server), then one table per workload with the ratio to Smtpd's throughput.
python3 - "$results" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) < 3: continue
    rows[(parts[0], parts[1])].append(parts[2:])
titles = {"A": "A: many messages per connection (smtp-source -s 20 -l 1024 -d -m 20000)",
          "B": "B: connection churn, one message per connection (smtp-source -s 20 -l 1024 -m 5000)",
          "C": "C: 1 MiB messages (smtp-source -s 4 -l 1048576 -d -m 200)",
          "D": "D: memory per idle connection (10,000 connections after EHLO)",
          "E": "E: durable store under workload A",
          "F": "F: pipelined transactions, our load generator (20 connections, 1 KiB)",
          "P": "P: workload A from two smtp-source processes at once (-s 10 -m 10000 each)"}
def med(values, i):
    nums = [float(v[i]) for v in values if v[0] != "fail" and v[i] not in ("-",)]
    return statistics.median(nums) if nums else None
for w in "ABCDEFP":
    servers = [s for (ww, s) in rows if ww == w]
    if not servers: continue
    print(f"\n### {titles[w]}\n")
    print("| server | msgs/s | MiB/s | CPU ms per 1000 msgs | peak RSS MiB | extra | ratio Smtpd/peer |")
    print("|---|---|---|---|---|---|---|")
    base_key = "smtpd-cli" if w == "E" or (w in "AP" and (w, "smtpd") not in rows) else "smtpd"
    base = med(rows.get((w, base_key), []), 0)
    for s in servers:
        vals = rows[(w, s)]
        ok = [v for v in vals if v[0] != "fail"]
        if not ok:
            print(f"| {s} | failed | | | | | |"); continue
        m, mib, cpu, rss = (med(ok, i) for i in range(4))
        extra = ok[len(ok) // 2][4] if len(ok[0]) > 4 else "-"
        if extra.startswith("with-pg=") and "/haproxy=" in extra:
            total = statistics.median(float(v[4].split("/")[0].split("=")[1]) for v in ok)
            proxy = statistics.median(float(v[4].split("/")[1].split("=")[1]) for v in ok)
            extra = f"with PostgreSQL and HAProxy {total:.0f} ms/1000 (HAProxy {proxy:.0f})"
        elif extra.startswith("with-pg="):
            extra = f"with PostgreSQL {statistics.median(float(v[4].split('=')[1]) for v in ok):.0f} ms/1000"
        ratio = f"{base / m:.2f}x" if base and m else "-"
        if w == "D":
            kib = statistics.median(float(v[4].split("KiB")[0]) for v in ok)
            extra = f"{kib:.2f} KiB/conn"
            bd = [float(v[4].split("KiB")[0]) for v in rows.get((w, base_key), []) if v[0] != "fail"]
            ratio = f"{kib / statistics.median(bd):.2f}x memory" if bd else "-"
        fmt = lambda x, f: "-" if x is None else f.format(x)
        print(f"| {s} | {fmt(m,'{:.0f}')} | {fmt(mib,'{:.2f}')} | {fmt(cpu,'{:.0f}')} | {fmt(rss,'{:.1f}')} | {extra} | {ratio} |")
print(f"\n{len(open(sys.argv[1]).readlines())} runs; medians of the repetitions.")
PY
