#!/usr/bin/env bash
# Fuzzes Smtpd's parsers and sessions with AFL++ through SharpFuzz (docs/fuzzing.md).
#
#   fuzz/run.sh [SECONDS] [TARGET...]     default: 120 seconds each for command-line, path, content, session and search
#
# Installs what it needs (Debian's afl++, the SharpFuzz.CommandLine dotnet tool), publishes the harness, instruments
# Smtpd.dll and Smtpd.Catcher.dll, runs afl-fuzz on each target for SECONDS, replays every crash and hang it found through the harness, and
# prints one summary line per target. Findings stay in fuzz/findings/TARGET (not committed). Exit status 1 if any
# target found a crash.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-120}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(command-line path content session search)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if ! command -v afl-fuzz >/dev/null; then
  echo "Installing afl++ (Debian package)..."
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends afl++; else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends afl++; fi
fi

export PATH="$PATH:$HOME/.dotnet/tools"
if ! command -v sharpfuzz >/dev/null; then
  echo "Installing the SharpFuzz.CommandLine dotnet tool..."
  dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0
fi

out="$PWD/out/afl"
plain="$PWD/out/plain"
rm -rf "$PWD/out"
dotnet publish Smtpd.Fuzz/Smtpd.Fuzz.csproj -c Release -o "$out" --nologo -v quiet
# An uninstrumented copy replays findings: instrumented code only runs inside Fuzzer.Run, under afl-fuzz.
cp -r "$out" "$plain"
dotnet "$plain/Smtpd.Fuzz.dll" "${targets[0]}" "corpus/${targets[0]}" >/dev/null
# Only the libraries are instrumented: coverage of the BCL, MimeKit, SQLite's wrapper or the harness would only be noise.
sharpfuzz "$out/Smtpd.dll"
sharpfuzz "$out/Smtpd.Catcher.dll"

# dotnet is not an AFL-instrumented binary (the coverage comes from the instrumented Smtpd.dll), so skip that check;
# a shared 2-core machine has no CPU to bind to and no frequency governor to check.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
found=0
summary=()
for target in "${targets[@]}"; do
  findings="$PWD/findings/$target"
  rm -rf "$findings"
  mkdir -p "$findings"
  echo "== $target: ${seconds}s"
  # -t: generous per-input limit (a first run of a path includes its JIT compilation); -m none: the .NET runtime maps a lot.
  afl-fuzz -i "corpus/$target" -o "$findings" -t 20000 -m none -V "$seconds" -- dotnet "$out/Smtpd.Fuzz.dll" "$target" \
    > "$findings/afl.log" 2>&1 || { echo "afl-fuzz failed; see $findings/afl.log"; tail -20 "$findings/afl.log"; exit 1; }
  stats="$findings/default/fuzzer_stats"
  get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  crashes=$(get saved_crashes); hangs=$(get saved_hangs)
  line="$target: $(get execs_done) execs in $(get run_time)s ($(get execs_per_sec)/s), corpus $(get corpus_count), edges $(get edges_found)/$(get total_edges), crashes $crashes, hangs $hangs"
  summary+=("$line")
  if [ "${crashes:-0}" != 0 ] || [ "${hangs:-0}" != 0 ]; then
    found=1
    echo "Replaying the crashes and hangs of $target:"
    dotnet "$plain/Smtpd.Fuzz.dll" "$target" "$findings/default/crashes" "$findings/default/hangs" || true
  fi
done

printf '%s\n' "${summary[@]}"
exit $found
