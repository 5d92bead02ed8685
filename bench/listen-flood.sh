#!/usr/bin/env bash
# bench/listen-flood.sh [BUDGET...] — memory of `conndiag listen` under the
# partial-message flood, against its --max-buffered budget (default: 64MiB
# and 256MiB).
#
# For each budget, one listener with a ws:// and a frame:// endpoint on
# loopback; bench/listen/flood opens N connections to each (300), every one
# announcing a SIZE-byte message or frame (1 MiB) and sending FRACTION of it
# (0.9), then stalls. It reads VmRSS and VmHWM from /proc/PID/status before,
# during and after, checks that a well-behaved client is served during and
# after the flood, closes the flood and times how long the listener takes to
# give its memory back. One table row per budget.
#
# Loopback only; no root needed (600 connections fit the usual descriptor
# limits). Everything it starts is stopped on exit, also on Ctrl-C.
# Environment: N, SIZE, FRACTION.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGETS=("$@")
[ ${#BUDGETS[@]} -gt 0 ] || BUDGETS=(64MiB 256MiB)
N=${N:-300}
SIZE=${SIZE:-1048576}
FRACTION=${FRACTION:-0.9}

tmp=$(mktemp -d)
srv=""
cleanup() {
	if [ -n "$srv" ]; then
		kill -TERM "$srv" 2>/dev/null || true
		wait "$srv" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building..." >&2
CGO_ENABLED=0 go build -o "$tmp/conndiag" ./cmd/conndiag
CGO_ENABLED=0 go build -o "$tmp/flood" ./bench/listen/flood

for b in "${BUDGETS[@]}"; do
	echo "--max-buffered $b..." >&2
	"$tmp/conndiag" listen --json --quiet --max-buffered "$b" ws://127.0.0.1:0 frame://127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
	srv=$!
	for _ in $(seq 100); do [ "$(wc -l <"$tmp/out")" -ge 2 ] && break; sleep 0.1; done
	addrs=($(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$tmp/out"))
	if [ ${#addrs[@]} -lt 2 ]; then
		echo "bench/listen-flood.sh: the listener did not start:" >&2
		cat "$tmp/err" >&2
		exit 1
	fi
	budget_mib=$(awk -v s="$b" 'BEGIN { n = s + 0; u = tolower(s)
		if (u ~ /g/) n *= 1024; else if (u ~ /m/) n += 0; else if (u ~ /k/) n /= 1024; else n /= 1048576
		print n }')
	timeout 300 "$tmp/flood" -ws "${addrs[0]}" -frame "${addrs[1]}" -pid "$srv" -n "$N" -size "$SIZE" \
		-fraction "$FRACTION" -budget-mib "$budget_mib" -label "$b" >"$tmp/result.$b.json"
	kill -TERM "$srv"
	wait "$srv" || true
	srv=""
done

echo
echo "$N WebSocket + $N frame connections, each announcing $SIZE bytes and sending $FRACTION of it, then stalling; $(nproc) CPUs, Linux $(uname -r)"
files=()
for b in "${BUDGETS[@]}"; do files+=("$tmp/result.$b.json"); done
"$tmp/flood" -report "${files[@]}"
