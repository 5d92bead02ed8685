#!/usr/bin/env bash
# check -f over many ports against nmap, on a real veth pair between two
# network namespaces. The server namespace has, on every one of its
# addresses, OPEN ports listening, CLOSED ports with nothing on them (an RST)
# and DROPPED ports silently dropped by iptables; its probe ports (22, 80,
# 443) are closed. Both tools run once, side by side, at their defaults
# (conndiag check -f FILE --json; nmap -Pn -n -T4), and the script prints
# their wall times, the ratio, and how many ports each got right against the
# ground truth (conndiag: ok / not_listening / filtered; nmap: open / closed
# / filtered).
#
#   bench/bulk.sh                      # 1,000 ports of one host, then 10,000 ports over 10 hosts
#   OPEN=300 CLOSED=300 DROPPED=400 HOSTS="1 10" bench/bulk.sh
#   CONC=128 bench/bulk.sh             # conndiag with --concurrency 128 instead of its default
#
# Needs root. Installs nmap when missing. Traffic stays inside the two
# namespaces it creates, which are removed on exit with the files it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
OPEN=${OPEN:-300} CLOSED=${CLOSED:-300} DROPPED=${DROPPED:-400}
HOSTS=${HOSTS:-"1 10"}
[ "$(id -u)" = 0 ] || { echo "bench/bulk.sh: needs root (network namespaces)" >&2; exit 3; }
./scripts/test-deps.sh nmap:nmap python3:python3
[ -x /usr/bin/time ] || ./scripts/test-deps.sh time:time

tag=cdk$$
C=$tag-c S=$tag-s
work=$(mktemp -d)
srv=
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true; ip netns del "$S" 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$work/conndiag" ./cmd/conndiag

ip netns add "$C"; ip netns add "$S"
ip -n "$C" link set lo up; ip -n "$S" link set lo up
ip -n "$C" link add eth0 type veth peer name eth0 netns "$S"
ip -n "$C" addr add 198.51.100.2/24 dev eth0
for i in $(seq 10 19); do ip -n "$S" addr add "198.51.100.$i/24" dev eth0; done
ip -n "$C" link set eth0 up; ip -n "$S" link set eth0 up

first=20001
lo_open=$first hi_open=$((first + OPEN - 1))
lo_closed=$((hi_open + 1)) hi_closed=$((hi_open + CLOSED))
lo_drop=$((hi_closed + 1)) hi_drop=$((hi_closed + DROPPED))
ip netns exec "$S" iptables -w 5 -A INPUT -p tcp --dport "$lo_drop:$hi_drop" -j DROP
# The open ports: listening sockets on every address; the kernel completes
# the handshakes, nothing needs to accept.
ip netns exec "$S" python3 -c '
import socket, sys, time
socks = []
for p in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", p)); s.listen(4096); socks.append(s)
print("ready", flush=True)
time.sleep(3600)
' "$lo_open" "$hi_open" >"$work/srv.out" &
srv=$!
for _ in $(seq 100); do grep -q ready "$work/srv.out" 2>/dev/null && break; sleep 0.1; done

truth() { # port -> conndiag cause, nmap state
  if [ "$1" -le "$hi_open" ]; then echo "ok open"
  elif [ "$1" -le "$hi_closed" ]; then echo "not_listening closed"
  else echo "filtered filtered"; fi
}
ms() { echo $(( ($2 - $1) / 1000000 )); }
conc=()
[ -n "${CONC:-}" ] && conc=(--concurrency "$CONC")

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); ports per host: $OPEN open, $CLOSED closed, $DROPPED dropped"
printf '%-22s %12s %10s %10s %16s %16s %14s %10s\n' case conndiag nmap ratio "conndiag right" "nmap right" "conndiag cpu" "peak RSS"
for h in $HOSTS; do
  hosts=() ; for i in $(seq 10 $((10 + h - 1))); do hosts+=("198.51.100.$i"); done
  : >"$work/targets"
  for a in "${hosts[@]}"; do for p in $(seq "$lo_open" "$hi_drop"); do echo "$a:$p"; done; done >>"$work/targets"
  n=$(wc -l <"$work/targets")

  t0=$(date +%s%N)
  ip netns exec "$C" /usr/bin/time -f '%U %S %M' -o "$work/cpu" "$work/conndiag" check -f "$work/targets" --json "${conc[@]}" \
    >"$work/cd.jsonl" 2>"$work/cd.err" || true
  t1=$(date +%s%N)
  ip netns exec "$C" nmap -Pn -n -T4 -p "$lo_open-$hi_drop" -oX "$work/nmap.xml" "${hosts[@]}" >/dev/null 2>&1 || true
  t2=$(date +%s%N)
  [ -n "${DEBUG:-}" ] && cp "$work/nmap.xml" "$work/cd.jsonl" "$DEBUG/"

  read -r cd_right nm_right < <(python3 - "$work/cd.jsonl" "$work/nmap.xml" "$hi_open" "$hi_closed" <<'PY'
import json, sys, xml.etree.ElementTree as ET
cdfile, nmfile, ho, hc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def truth(p):
    return ("ok", "open") if p <= ho else (("not_listening", "closed") if p <= hc else ("filtered", "filtered"))
cd = 0
for line in open(cdfile):
    r = json.loads(line)
    cd += r["verdict"]["cause"] == truth(r["port"])[0]
nm = 0
try:
    for host in ET.parse(nmfile).getroot().iter("host"):
        ports = host.find("ports")
        for port in ports.iter("port"):
            nm += port.find("state").get("state") == truth(int(port.get("portid")))[1]
        for extra in ports.iter("extraports"):
            for why in extra.iter("extrareasons"):
                for part in why.get("ports", "").split(","):
                    if part:
                        lo, _, hi = part.partition("-")
                        nm += sum(extra.get("state") == truth(p)[1] for p in range(int(lo), int(hi or lo) + 1))
except (ET.ParseError, OSError):
    pass
print(cd, nm)
PY
)
  cdms=$(ms "$t0" "$t1") nmms=$(ms "$t1" "$t2")
  printf '%-22s %10sms %8sms %10s %10s/%-5s %10s/%-5s %13ss %8sMB\n' "$n ports, $h host(s)" "$cdms" "$nmms" \
    "$(awk -v a="$cdms" -v b="$nmms" 'BEGIN { printf "%.2f", a / b }')" "$cd_right" "$n" "$nm_right" "$n" \
    "$(tail -1 "$work/cpu" | awk '{ printf "%.2f", $1 + $2 }')" "$(tail -1 "$work/cpu" | awk '{ printf "%.1f", $3 / 1024 }')"
  if [ "$cd_right" != "$n" ]; then
    echo "  conndiag causes:" $(sed -n 's/.*"verdict":{"cause":"\([a-z_]*\)".*/\1/p' "$work/cd.jsonl" | sort | uniq -c)
    head -c 300 "$work/cd.err"
  fi
done
echo "(one run each; ratio < 0.5 is the goal: conndiag in at most half of nmap's time, every cause right)"
