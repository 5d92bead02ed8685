#!/usr/bin/env bash
# The path to a port that fails, traced by `conndiag check --trace`,
# `traceroute -T -p PORT` and `mtr --tcp -P PORT -r -c 1` on the same chains
# of network namespaces (client, two forwarding routers, server), in one run:
# wall time of each (median of RUNS) and whether each named the box that
# drops or rejects the SYN.
#
#   drop-server    the server's INPUT drops 8282 (port 22 answers): the box is the server
#   drop-router1   router1's FORWARD drops 8283: the box is router1 (hop 1)
#   reject-router2 router2's FORWARD rejects 8284 with admin-prohibited: router2
#   reject-server  the server's INPUT rejects 8285 with admin-prohibited: the server
#   unreach-route  router2 has an unreachable route to the server: router2
#
# "Named" is the box each tool's output points at: for traceroute and mtr
# the last hop that answered; for conndiag the box its verdict names (the
# server for `filtered`, the last answering hop for `filtered_upstream`, the
# ICMP sender for a rejection). All three run with -n (no reverse lookups),
# as no DNS answers inside the namespaces.
# The routers' and the server's ICMP rate limits are lifted so that one
# tool's runs do not starve the next (the host unreachable of a route has a
# limiter that is not per namespace: that case pauses between runs).
# Needs root. Installs traceroute and mtr-tiny when missing. Traffic stays
# inside the namespaces it creates, which are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
# CASES="drop-server reject-router2" runs only those cases.
[ "$(id -u)" = 0 ] || { echo "bench/trace.sh: needs root (network namespaces)" >&2; exit 3; }
./scripts/test-deps.sh traceroute:traceroute mtr:mtr-tiny iptables:iptables

tag=cdt$$
C=$tag-c R1=$tag-r1 R2=$tag-r2 S=$tag-s
bin=$(mktemp -d)/conndiag
cleanup() {
  [ -n "${lpid:-}" ] && kill "$lpid" 2>/dev/null || true
  for n in "$C" "$R1" "$R2" "$S"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$(dirname "$bin")"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$bin" ./cmd/conndiag

for n in "$C" "$R1" "$R2" "$S"; do ip netns add "$n"; ip -n "$n" link set lo up; done
link() { # link NS1 IF1 ADDR1 NS2 IF2 ADDR2
  ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"; ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up; ip -n "$4" link set "$5" up
}
link "$C" eth0 198.51.100.2/24 "$R1" eth0 198.51.100.1/24
link "$R1" eth1 192.0.2.1/24 "$R2" eth0 192.0.2.2/24
link "$R2" eth1 203.0.113.1/24 "$S" eth0 203.0.113.2/24
ip -n "$C" route add default via 198.51.100.1
ip -n "$R1" route add default via 192.0.2.2
ip -n "$R2" route add 198.51.100.0/24 via 192.0.2.1
ip -n "$S" route add default via 203.0.113.1
for n in "$R1" "$R2"; do ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1; done
for n in "$R1" "$R2" "$S"; do ip netns exec "$n" sysctl -qw net.ipv4.icmp_ratelimit=0; done
ip netns exec "$S" "$bin" listen --quiet tcp://0.0.0.0:22 >/dev/null 2>&1 &
lpid=$!
ip netns exec "$S" iptables -w 5 -A INPUT -p tcp --dport 8282 -j DROP
ip netns exec "$R1" iptables -w 5 -A FORWARD -p tcp --dport 8283 -j DROP
ip netns exec "$R2" iptables -w 5 -A FORWARD -p tcp --dport 8284 -j REJECT --reject-with icmp-admin-prohibited
ip netns exec "$S" iptables -w 5 -A INPUT -p tcp --dport 8285 -j REJECT --reject-with icmp-admin-prohibited
DST=203.0.113.2
sleep 0.3

# median_ms PAUSE CMD...: run RUNS times, print the median wall time in ms.
median_ms() {
  local pause=$1 times=()
  shift
  for _ in $(seq "$RUNS"); do
    sleep "$pause"
    local t0 t1
    t0=$(date +%s%N)
    ip netns exec "$C" "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
# The box each tool names.
cd_box() {
  ip netns exec "$C" "$bin" check --trace -n --json "$DST:$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)
p = (r.get("paths") or [{}])[0]
cause = r["verdict"]["cause"]
box = r["addresses"][0] if cause == "filtered" else p.get("end_from", "")
print(cause, box or "-")'
}
last_ip() { grep -Eo '([0-9]{1,3}\.){3}[0-9]{1,3}' | tail -1; }
tr_box() { ip netns exec "$C" traceroute -n -T -p "$1" "$DST" 2>/dev/null | tail -n +2 | last_ip || true; }
mtr_box() { ip netns exec "$C" mtr -n --tcp -P "$1" -r -c 1 "$DST" 2>/dev/null | tail -n +3 | last_ip || true; }
mark() { [ "$1" = "$2" ] && echo yes || echo "no (${1:--})"; }

printf '%-15s %-13s %-26s %-16s %-16s %9s %9s %9s %8s %8s\n' case box conndiag traceroute mtr conndiag tracert mtr cd/tr cd/mtr
for c in drop-server:8282:203.0.113.2:0 drop-router1:8283:198.51.100.1:0 reject-router2:8284:192.0.2.2:0 \
  reject-server:8285:203.0.113.2:0 unreach-route:8286:192.0.2.2:6; do
  IFS=: read -r name port box pause <<<"$c"
  [ -z "${CASES:-}" ] || [[ " $CASES " == *" $name "* ]] || continue
  if [ "$name" = unreach-route ]; then
    ip -n "$R2" route add unreachable 203.0.113.2/32
    sleep 6
  fi
  read -r cause cdbox < <(cd_box "$port")
  sleep "$pause"; trb=$(tr_box "$port")
  sleep "$pause"; mtb=$(mtr_box "$port")
  cd_ms=$(median_ms "$pause" "$bin" check --trace -n "$DST:$port")
  tr_ms=$(median_ms "$pause" traceroute -n -T -p "$port" "$DST")
  mt_ms=$(median_ms "$pause" mtr -n --tcp -P "$port" -r -c 1 "$DST")
  printf '%-15s %-13s %-26s %-16s %-16s %7sms %7sms %7sms %8s %8s\n' "$name" "$box" "$(mark "$cdbox" "$box") $cause" \
    "$(mark "$trb" "$box")" "$(mark "$mtb" "$box")" "$cd_ms" "$tr_ms" "$mt_ms" "$(ratio "$cd_ms" "$tr_ms")" "$(ratio "$cd_ms" "$mt_ms")"
done
echo "(median of $RUNS runs each; a ratio < 1 means conndiag is done sooner)"
