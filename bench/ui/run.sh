#!/usr/bin/env bash
# The browser inbox with N stored messages (default 100,000) in Debian's headless Chromium: first paint of the list,
# opening a message, searching, and scrolling 5,000 rows. Prints one line per measurement.
# Needs /usr/bin/chromium (bash .ci/setup-browser) or SMTPD_TEST_CHROMIUM.
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet run --project bench/UiBench -c Release -- "${1:-100000}"
