#!/usr/bin/env bash
# bench/listen.sh [CONNECTIONS] — capacity of `conndiag listen` against a
# goroutine-per-connection gorilla/websocket echo server, in one run.
#
# Each server kind in turn (never both at once, so that neither steals the
# other's CPU) runs in a private network namespace where only loopback
# exists. Clients (bench/listen/client) open CONNECTIONS WebSocket connections
# from 127.0.0.2-127.0.0.9, read the servers' resident memory once the
# connections are idle, run an echo test over ACTIVE of them together, and
# close them. The two results are printed side by side with the ratios.
#
# One process may hold at most `ulimit -Hn` descriptors. Where that is below
# CONNECTIONS and cannot be raised (a container without CAP_SYS_RESOURCE),
# the connections are spread over several server processes, each on its own
# port with its own client process; memory per connection is then the sum of
# the servers' RSS growth over the sum of connections, which is what one
# process would show, since each process's fixed cost is subtracted.
#
# Needs root (namespace). Everything it starts is stopped and the namespace
# removed on exit, also on Ctrl-C; every step has a time limit.
# Environment: ACTIVE (echo connections in all, 1000), SIZE (message bytes,
# 64), DURATION (echo seconds, 5), PORT (first port, 8282), PER (connections
# per process; default from the descriptor limit).
set -euo pipefail

N=${1:-100000}
ACTIVE=${ACTIVE:-1000}
SIZE=${SIZE:-64}
DURATION=${DURATION:-5}
PORT=${PORT:-8282}

if [ "$(id -u)" != 0 ]; then
	echo "bench/listen.sh: needs root (network namespace)" >&2
	exit 2
fi
cd "$(dirname "$0")/.."

# Raise the descriptor limit as far as allowed, then size the shards.
want=$((N + 1000))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
	ulimit -Hn "$want" 2>/dev/null || true
fi
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=$want
ulimit -Sn "$hard"
PER=${PER:-$((hard - 1000 < N ? hard - 1000 : N))}
PROCS=$(((N + PER - 1) / PER))

tmp=$(mktemp -d)
ns="cdbench$$"
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
}
cleanup() {
	stop_all
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building..." >&2
CGO_ENABLED=0 go build -o "$tmp/conndiag" ./cmd/conndiag
CGO_ENABLED=0 go build -o "$tmp/gorilla" ./bench/listen/gorilla
CGO_ENABLED=0 go build -o "$tmp/client" ./bench/listen/client

ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }
# Per-namespace settings: more ephemeral ports per source address and a
# deeper accept queue; the host's own settings are not touched.
in_ns sysctl -q -w net.ipv4.ip_local_port_range="1024 65535"
in_ns sysctl -q -w net.core.somaxconn=65535
in_ns sysctl -q -w net.ipv4.tcp_max_syn_backlog=65535

# run NAME CMD-WITH-@PORT@...: start PROCS servers (ip netns exec execs, so $!
# is the server itself), one client per server, then stop them all.
run() {
	local name=$1
	shift
	local clients=() i
	: >"$tmp/$name.json"
	for i in $(seq 0 $((PROCS - 1))); do
		local port=$((PORT + i)) args=()
		for a in "$@"; do args+=("${a//@PORT@/$port}"); done
		ip netns exec "$ns" "${args[@]}" >/dev/null 2>"$tmp/$name.$i.log" &
		pids+=($!)
	done
	for i in $(seq 0 $((PROCS - 1))); do
		local n=$((N / PROCS + (i < N % PROCS ? 1 : 0)))
		local active=$((ACTIVE / PROCS + (i < ACTIVE % PROCS ? 1 : 0)))
		timeout 600 ip netns exec "$ns" "$tmp/client" -label "$name" -addr "127.0.0.1:$((PORT + i))" \
			-n "$n" -pid "${pids[$i]}" -active "$active" -size "$SIZE" -duration "${DURATION}s" \
			-barrier "$tmp/go.$name" -deadline 540s >>"$tmp/$name.json" &
		clients+=($!)
	done
	# Start the echo tests together once every client holds its connections.
	for _ in $(seq 6000); do
		[ "$(ls "$tmp"/go."$name".ready.* 2>/dev/null | wc -l)" -ge "$PROCS" ] && break
		sleep 0.1
	done
	touch "$tmp/go.$name"
	local failed=0
	for c in "${clients[@]}"; do wait "$c" || failed=1; done
	stop_all
	if [ "$failed" = 1 ]; then
		echo "bench/listen.sh: a client of $name failed" >&2
		cat "$tmp/$name".*.log >&2
		exit 1
	fi
	sleep 2
}

echo "$N connections over $PROCS process(es) of at most $PER (descriptor limit $hard)" >&2
echo "conndiag listen..." >&2
run conndiag "$tmp/conndiag" listen "ws://127.0.0.1:@PORT@" --quiet --idle-timeout 0
echo "gorilla/websocket, goroutine per connection..." >&2
run gorilla "$tmp/gorilla" -addr "127.0.0.1:@PORT@"

echo
echo "$N idle WebSocket connections over loopback, $PROCS server process(es) each, $(nproc) CPUs, Linux $(uname -r)"
"$tmp/client" -report "$tmp/conndiag.json" "$tmp/gorilla.json"
