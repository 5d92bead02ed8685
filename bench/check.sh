#!/usr/bin/env bash
# Time-to-verdict of `conndiag check` side by side with nmap and nc, on a real
# veth pair between two network namespaces, for a closed (refused) port and a
# filtered (DROP) port. Every tool runs with its default settings; nc gets
# -w 3 (the same 3 s connect timeout conndiag uses by default).
# Needs root. Installs nmap and netcat-openbsd when missing. Traffic stays
# inside the two namespaces it creates, which are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
[ "$(id -u)" = 0 ] || { echo "bench/check.sh: needs root (network namespaces)" >&2; exit 3; }
./scripts/test-deps.sh nmap:nmap nc:netcat-openbsd

tag=cdb$$
C=$tag-c S=$tag-s
bin=$(mktemp -d)/conndiag
cleanup() { ip netns del "$C" 2>/dev/null || true; ip netns del "$S" 2>/dev/null || true; rm -rf "$(dirname "$bin")"; }
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$bin" ./cmd/conndiag

ip netns add "$C"; ip netns add "$S"
ip -n "$C" link set lo up; ip -n "$S" link set lo up
ip -n "$C" link add eth0 type veth peer name eth0 netns "$S"
ip -n "$C" addr add 198.51.100.2/24 dev eth0; ip -n "$S" addr add 198.51.100.3/24 dev eth0
ip -n "$C" link set eth0 up; ip -n "$S" link set eth0 up
ip netns exec "$S" iptables -w 5 -A INPUT -p tcp --dport 8283 -j DROP
DST=198.51.100.3

# median_ms CMD...: run RUNS times, print the median wall time in ms.
median_ms() {
  local times=()
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s%N)
    ip netns exec "$C" "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
verdict() { ip netns exec "$C" "$bin" check --json "$DST:$1" | sed -n 's/.*"verdict":{"cause":"\([a-z_]*\)".*/\1/p'; }
nmap_state() { ip netns exec "$C" nmap -Pn -n --reason -p "$1" "$DST" | awk '/^[0-9]+\/tcp/ {print $2" ("$4")"}'; }

printf '%-9s %-26s %10s %10s %10s %14s %12s\n' case "conndiag verdict / nmap" conndiag nmap nc conndiag/nmap conndiag/nc
for c in refused:8282 filtered:8283; do
  name=${c%%:*} port=${c#*:}
  cd_ms=$(median_ms "$bin" check "$DST:$port")
  nm_ms=$(median_ms nmap -Pn -n --reason -p "$port" "$DST")
  nc_ms=$(median_ms nc -z -w 3 "$DST" "$port")
  printf '%-9s %-26s %8sms %8sms %8sms %14s %12s\n' "$name" "$(verdict "$port") / $(nmap_state "$port")" \
    "$cd_ms" "$nm_ms" "$nc_ms" "$(ratio "$cd_ms" "$nm_ms")" "$(ratio "$cd_ms" "$nc_ms")"
done
echo "(median of $RUNS runs each; ratio < 1 means conndiag reaches its verdict sooner)"
