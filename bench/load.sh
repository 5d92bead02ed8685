#!/usr/bin/env bash
# bench/load.sh — new connections per second of `conndiag load --short`
# against `conndiag listen` on loopback, side by side in one run with the
# smallest Go dial-and-close loop (bench/load/dialclose, the practical
# ceiling) and, for http://, with wrk (-H 'Connection: close': one new
# connection per request).
#
# Everything runs in a private network namespace with only loopback, with a
# wide port range and the default tcp_tw_reuse=2 (TIME_WAIT ports of loopback
# connections are reused after 1 s), so that no run meets the TIME_WAIT wall.
# The kinds take turns, ROUNDS times, and each figure is the median.
# Environment: DURATION (seconds per run, 5), CONCURRENCY (100), ROUNDS (3).
# Needs root (namespace); installs wrk when missing. Everything is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
C=${CONCURRENCY:-100}
ROUNDS=${ROUNDS:-3}
[ "$(id -u)" = 0 ] || { echo "bench/load.sh: needs root (network namespace)" >&2; exit 3; }
./scripts/test-deps.sh wrk:wrk

tmp=$(mktemp -d)
ns="cdload$$"
srv=""
cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CGO_ENABLED=0 go build -o "$tmp/conndiag" ./cmd/conndiag
CGO_ENABLED=0 go build -o "$tmp/dialclose" ./bench/load/dialclose

ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }
in_ns sysctl -q -w net.ipv4.ip_local_port_range="1024 65535"
in_ns sysctl -q -w net.core.somaxconn=65535
in_ns sysctl -q -w net.ipv4.tcp_max_syn_backlog=65535
in_ns "$tmp/conndiag" listen --quiet tcp://127.0.0.1:9000 http://127.0.0.1:8080 >/dev/null 2>&1 &
srv=$!
sleep 1

rate_json() { python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["established"]/(r["duration_ms"]/1000)))'; }
declare -A res
run() { # KIND: one run, prints connections per second
	case $1 in
	go-tcp) in_ns "$tmp/dialclose" -addr 127.0.0.1:9000 -c "$C" -d "${DURATION}s" | cut -d' ' -f1 ;;
	load-tcp) in_ns "$tmp/conndiag" load --json --short --concurrency "$C" --duration "${DURATION}s" 127.0.0.1:9000 | rate_json ;;
	go-http) in_ns "$tmp/dialclose" -addr 127.0.0.1:8080 -http / -c "$C" -d "${DURATION}s" | cut -d' ' -f1 ;;
	load-http) in_ns "$tmp/conndiag" load --json --short --concurrency "$C" --duration "${DURATION}s" http://127.0.0.1:8080/ | rate_json ;;
	wrk-http) in_ns wrk -t 2 -c "$C" -d "${DURATION}s" -H 'Connection: close' http://127.0.0.1:8080/ | awk '/Requests\/sec/ {printf "%.0f\n", $2}' ;;
	esac
}
kinds="go-tcp load-tcp go-http load-http wrk-http"
for r in $(seq "$ROUNDS"); do
	for k in $kinds; do
		v=$(run "$k")
		res[$k]="${res[$k]:-} $v"
		echo "round $r $k: $v/s" >&2
		sleep 2
	done
done
median() { printf '%s\n' $1 | sort -n | sed -n "$(( ($(printf '%s\n' $1 | wc -l) + 1) / 2 ))p"; }
echo
echo "New connections per second over loopback, concurrency $C, ${DURATION} s runs, median of $ROUNDS, $(nproc) CPUs, Linux $(uname -r)"
printf '%-10s %12s %16s %10s %18s\n' target "Go loop" "conndiag load" wrk "load / Go loop"
gt=$(median "${res[go-tcp]}"); lt=$(median "${res[load-tcp]}")
gh=$(median "${res[go-http]}"); lh=$(median "${res[load-http]}"); wh=$(median "${res[wrk-http]}")
printf '%-10s %12s %16s %10s %18s\n' "tcp://" "$gt" "$lt" "-" "$(python3 -c "print(f'{$lt/$gt:.2f}')")"
printf '%-10s %12s %16s %10s %18s\n' "http://" "$gh" "$lh" "$wh" "$(python3 -c "print(f'{$lh/$gh:.2f}')")"
