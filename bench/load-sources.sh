#!/usr/bin/env bash
# bench/load-sources.sh — why conndiag load sets IP_BIND_ADDRESS_NO_PORT for
# --source: connections opened with bind(source, port 0) then connect(),
# without and with the option, in a namespace with a 1,000-port range
# (RANGE, "40000 40999"): four source addresses toward one destination, and
# one source address toward two destinations (two ports of one server).
# Needs root (namespace); the namespace is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RANGE=${RANGE:-40000 40999}
[ "$(id -u)" = 0 ] || { echo "bench/load-sources.sh: needs root (network namespace)" >&2; exit 3; }
tmp=$(mktemp -d)
ns="cdsrc$$"
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/noport" ./bench/load/noport
echo "ip_local_port_range $RANGE, Linux $(uname -r)"
for c in sources destinations; do
	for m in bind noport; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -q -w net.ipv4.ip_local_port_range="$RANGE"
		ip netns exec "$ns" "$tmp/noport" "$c" "$m"
		ip netns del "$ns"
	done
done
