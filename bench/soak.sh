#!/usr/bin/env bash
# Soak test (docs/soak.md): mixed SMTP traffic for a while, then reconcile by SHA-256 what the clients were told was
# accepted (250) with what the server delivered. Also samples the server's RSS over time.
#
#   bench/soak.sh [SECONDS]        default 600 (10 minutes)
#
# Environment:
#   CLIENTS=32        concurrent client loops
#   SEED=1            traffic seed
#   PORT=2599         port on 127.0.0.1
#   TARGET=library    the server under test: "library" (bench/Soak's host, the Smtpd library with STARTTLS), or
#                     "command", which runs $SOAK_SERVER_CMD ("{port}" and "{ledger}" are substituted) and, after it
#                     stops, $SOAK_EXPORT_CMD, which must print one "sha256-hex size" line per stored message. This
#                     is how the soak is pointed at the CLI and its SQLite store once it exists (docs/soak.md).
#   OUT=bench/soak-results/<time>   where the ledgers, logs and rss.csv go
# Exit status 0 only when everything reconciles.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
clients="${CLIENTS:-32}"
seed="${SEED:-1}"
port="${PORT:-2599}"
target="${TARGET:-library}"
out="${OUT:-bench/soak-results/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

dotnet build bench/Soak/Soak.csproj -c Release --nologo -v quiet -o "$out/bin" >/dev/null
soak=(dotnet "$out/bin/Soak.dll")

case "$target" in
  library)
    "${soak[@]}" serve "$port" "$out/delivered.txt" > "$out/server.log" 2>&1 &
    ;;
  command)
    : "${SOAK_SERVER_CMD:?set SOAK_SERVER_CMD}" "${SOAK_EXPORT_CMD:?set SOAK_EXPORT_CMD}"
    cmd="${SOAK_SERVER_CMD//\{port\}/$port}"
    cmd="${cmd//\{ledger\}/$out/delivered.txt}"
    bash -c "exec $cmd" > "$out/server.log" 2>&1 &
    ;;
  *) echo "unknown TARGET $target"; exit 2 ;;
esac
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

# Wait for the port.
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

# RSS of the server process every 5 s, from /proc: works for any target.
echo "elapsed_s,rss_kib" > "$out/rss.csv"
(
  start=$(date +%s)
  while kill -0 "$server" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server/status" 2>/dev/null || true)
    [ -n "$rss" ] && echo "$(( $(date +%s) - start )),$rss" >> "$out/rss.csv"
    sleep 5
  done
) &
sampler=$!

echo "soak: $target on 127.0.0.1:$port, $clients clients, ${seconds}s, seed $seed -> $out"
"${soak[@]}" drive "$port" "$seconds" "$clients" "$out/sent.txt" "$out/doubt.txt" "$seed" 2> "$out/driver-errors.log" | tee "$out/driver.log"

kill -TERM "$server"
wait "$server" || true
trap - EXIT
kill "$sampler" 2>/dev/null || true
[ "$target" = command ] && bash -c "$SOAK_EXPORT_CMD" > "$out/delivered.txt"

echo "RSS (KiB) over time: $(awk -F, 'NR > 1 { n++; if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2; last = $2 } END { printf "samples %d, min %d, max %d, last %d", n, min, max, last }' "$out/rss.csv")"
echo "client errors: $(wc -l < "$out/driver-errors.log") (see driver-errors.log)"
"${soak[@]}" reconcile "$out/sent.txt" "$out/delivered.txt" "$out/doubt.txt" | tee "$out/reconcile.txt"
