#!/usr/bin/env bash
# bench/hostile.sh [TIMEOUT] — peak resident memory and wall time of
# `conndiag check` against hostile servers on loopback (bench/hostile): an
# endless header after 101 and after 200 (ws:// and http://), a stall after
# a valid status line, a server that trickles a byte every 300 ms. TIMEOUT
# is check's --timeout (default 3s, check's own default). A child whose
# memory passes KILL_MIB (4096) is killed, so an unbounded build can be
# measured safely. Loopback only; no root needed.
set -euo pipefail
cd "$(dirname "$0")/.."
TIMEOUT=${1:-3s}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
CGO_ENABLED=0 go build -o "$dir/conndiag" ./cmd/conndiag
CGO_ENABLED=0 go build -o "$dir/hostile" ./bench/hostile
"$dir/hostile" -timeout "$TIMEOUT" -kill "${KILL_MIB:-4096}" "$dir/conndiag"
