#!/usr/bin/env bash
# bench/load-hold.sh [CONNECTIONS] — hold CONNECTIONS (100,000) idle WebSocket
# connections with `conndiag load --hold` through several source addresses
# (127.0.0.2-127.0.0.9, IP_BIND_ADDRESS_NO_PORT) against `conndiag listen`,
# and report the client's own memory per held connection.
#
# One process may hold at most `ulimit -Hn` descriptors (20,000 on the
# machine these figures come from). Where that is below CONNECTIONS the
# connections are spread over several load processes, each against its own
# `conndiag listen` on its own port, as bench/listen.sh does; the memory per
# connection is the sum of the load processes' growth in resident memory
# (peak minus start, which each process reports in its --json) over the sum
# of connections they held, so each process's fixed cost is left out.
#
# Needs root (namespace). Everything runs in a private network namespace with
# only loopback, and is removed on exit, also on Ctrl-C.
# Environment: HOLD (seconds to hold once opened, 10), PER (connections per
# process; default from the descriptor limit), SOURCES (127.0.0.2-127.0.0.9).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
HOLD=${HOLD:-10}
SOURCES=${SOURCES:-127.0.0.2-127.0.0.9}
[ "$(id -u)" = 0 ] || { echo "bench/load-hold.sh: needs root (network namespace)" >&2; exit 3; }

want=$((N + 1000))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then ulimit -Hn "$want" 2>/dev/null || true; fi
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=$want
ulimit -Sn "$hard"
PER=${PER:-$((hard - 1000 < N ? hard - 1000 : N))}
PROCS=$(((N + PER - 1) / PER))

tmp=$(mktemp -d)
ns="cdhold$$"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
CGO_ENABLED=0 go build -o "$tmp/conndiag" ./cmd/conndiag
ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }
in_ns sysctl -q -w net.ipv4.ip_local_port_range="1024 65535"
in_ns sysctl -q -w net.core.somaxconn=65535
in_ns sysctl -q -w net.ipv4.tcp_max_syn_backlog=65535

echo "$N connections over $PROCS load process(es) of at most $PER (descriptor limit $hard), sources $SOURCES" >&2
for i in $(seq 0 $((PROCS - 1))); do
	in_ns "$tmp/conndiag" listen --quiet --idle-timeout 0 "ws://127.0.0.1:$((8282 + i))" >/dev/null 2>&1 &
	pids+=($!)
done
sleep 1
# Every process opens its share, then holds it HOLD seconds past the time
# the slowest ramp is expected to take (about 10,000 handshakes a second here).
dur=$((HOLD + N / 5000 + 5))
clients=()
for i in $(seq 0 $((PROCS - 1))); do
	n=$((N / PROCS + (i < N % PROCS ? 1 : 0)))
	timeout $((dur + 60)) ip netns exec "$ns" "$tmp/conndiag" load --json --hold "$n" --concurrency 256 \
		--source "$SOURCES" --duration "${dur}s" "ws://127.0.0.1:$((8282 + i))/" >"$tmp/load.$i.json" 2>"$tmp/load.$i.err" &
	clients+=($!)
done
failed=0
for c in "${clients[@]}"; do wait "$c" || failed=1; done
python3 - "$N" "$PROCS" "$tmp"/load.*.json <<'PY'
import json, sys
n, procs, files = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
held = grow = errs = 0
hs = []
for f in files:
    r = json.load(open(f))
    held += r["peak_open"]
    grow += r["client_rss_kib"]["peak"] - r["client_rss_kib"]["start"]
    errs += sum(r["errors"].values())
    hs.append(r["handshake_ms"]["p99"] if r.get("handshake_ms") else 0)
print(f"held {held} of {n} WebSocket connections over {procs} process(es), {errs} errors")
print(f"client memory per held connection: {grow / max(held, 1):.2f} KiB (resident growth {grow} KiB in all)")
print(f"handshake p99 per process: {', '.join(f'{h:.1f} ms' for h in hs)}")
PY
[ "$failed" = 0 ] || { echo "bench/load-hold.sh: a load process failed:" >&2; cat "$tmp"/load.*.err >&2; }
