#!/usr/bin/env bash
# Time of a full `conndiag check ws://127.0.0.1:PORT/` of a working WebSocket
# server, side by side with a plain Go client that does only the WebSocket
# handshake (bench/wsbench, gorilla/websocket), both as fresh processes, in
# one run. websocat would be the natural third column, but Debian 12 does not
# package it; the script uses it when it is in PATH.
# Loopback only; no root needed. The server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-21}

dir=$(mktemp -d)
srv=""
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$dir/conndiag" ./cmd/conndiag
CGO_ENABLED=0 go build -o "$dir/wsbench" ./bench/wsbench

"$dir/wsbench" serve >"$dir/addr" &
srv=$!
for _ in $(seq 50); do [ -s "$dir/addr" ] && break; sleep 0.1; done
URL="ws://$(cat "$dir/addr")/"

# median_us CMD...: run RUNS times (after one warm-up), print the median wall time in µs.
median_us() {
  "$@" >/dev/null 2>&1 || true
  local times=()
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }

verdict=$("$dir/conndiag" check --json "$URL" | sed -n 's/.*"verdict":{"cause":"\([a-z_]*\)".*/\1/p')
[ "$verdict" = ok ] || { echo "bench/proto.sh: conndiag says $verdict for $URL, want ok" >&2; exit 1; }

# inner_ms: the median of check's own duration_ms, the diagnosis without process start.
inner_ms() {
  for _ in $(seq "$RUNS"); do
    "$dir/conndiag" check --json "$URL" | sed -n 's/.*"duration_ms":\([0-9]*\)}$/\1/p'
  done | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}

start_us=$(median_us "$dir/conndiag" version)
cd_us=$(median_us "$dir/conndiag" check "$URL")
cd_np_us=$(median_us "$dir/conndiag" check --probe-ports '' "$URL")
go_us=$(median_us "$dir/wsbench" dial "$URL")
printf '%-44s %12s %8s\n' "command ($URL)" "median" "ratio"
printf '%-44s %12s %8s\n' "wsbench dial (handshake only)" "$(ms "$go_us")" "1.00"
printf '%-44s %12s %8s\n' "conndiag check" "$(ms "$cd_us")" "$(ratio "$cd_us" "$go_us")"
printf '%-44s %12s %8s\n' "conndiag check --probe-ports ''" "$(ms "$cd_np_us")" "$(ratio "$cd_np_us" "$go_us")"
printf '%-44s %12s\n' "conndiag version (process start alone)" "$(ms "$start_us")"
printf '%-44s %9s ms\n' "check's own duration_ms (no process start)" "$(inner_ms)"
if command -v websocat >/dev/null; then
  ws_us=$(median_us sh -c "echo | websocat -1 '$URL'")
  printf '%-44s %12s %8s\n' "websocat -1" "$(ms "$ws_us")" "$(ratio "$ws_us" "$go_us")"
fi
echo "(median of $RUNS runs each, every run a fresh process; ratio against the handshake-only client)"
