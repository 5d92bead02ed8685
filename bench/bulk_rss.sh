#!/usr/bin/env bash
# Peak memory (RSS) of `conndiag check -f` over 1,000 / 10,000 / 100,000
# targets, at --concurrency 8 (the default) and 64: the goal is flat in the
# number of targets, bounded by --concurrency. The targets are a closed port
# of a namespace on a veth pair (an RST each, probe ports too), so the run
# measures the pipeline, not waiting. Peak RSS is GNU time's %M (VmHWM).
#
#   bench/bulk_rss.sh                     # this tree
#   BASELINE=fa0bd2c bench/bulk_rss.sh    # and the same runs with a build of that revision
#   SIZES="1000 10000" CONC="8" bench/bulk_rss.sh
#
# Needs root. Traffic stays inside the two namespaces it creates, which are
# removed on exit with the files it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"1000 10000 100000"}
CONC=${CONC:-"8 64"}
[ "$(id -u)" = 0 ] || { echo "bench/bulk_rss.sh: needs root (network namespaces)" >&2; exit 3; }
[ -x /usr/bin/time ] || ./scripts/test-deps.sh time:time

tag=cdr$$
C=$tag-c S=$tag-s
work=$(mktemp -d)
cleanup() { ip netns del "$C" 2>/dev/null || true; ip netns del "$S" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$work/conndiag" ./cmd/conndiag
bins=("this:$work/conndiag")
if [ -n "${BASELINE:-}" ]; then
  mkdir "$work/base"
  git archive "$BASELINE" | tar -x -C "$work/base"
  (cd "$work/base" && CGO_ENABLED=0 go build -o "$work/conndiag-base" ./cmd/conndiag)
  bins+=("$BASELINE:$work/conndiag-base")
fi

ip netns add "$C"; ip netns add "$S"
ip -n "$C" link set lo up; ip -n "$S" link set lo up
ip -n "$C" link add eth0 type veth peer name eth0 netns "$S"
ip -n "$C" addr add 198.51.100.2/24 dev eth0; ip -n "$S" addr add 198.51.100.3/24 dev eth0
ip -n "$C" link set eth0 up; ip -n "$S" link set eth0 up

for n in $SIZES; do
  awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) print "198.51.100.3:8282" }' >"$work/t$n.txt"
done

printf '%-10s %12s %10s %14s %10s %10s %8s\n' build concurrency targets "peak RSS" "wall s" "cpu s" reports
for b in "${bins[@]}"; do
  name=${b%%:*} exe=${b#*:}
  for c in $CONC; do
    for n in $SIZES; do
      /usr/bin/time -f '%M %e %U %S' -o "$work/time" \
        ip netns exec "$C" "$exe" check --json --concurrency "$c" -f "$work/t$n.txt" >"$work/out" 2>/dev/null || true
      read -r kb secs user sys < <(tail -n 1 "$work/time")
      printf '%-10s %12s %10s %11.1f MB %10s %10s %8s\n' "$name" "$c" "$n" "$(awk -v k="$kb" 'BEGIN { print k / 1024 }')" "$secs" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" "$(wc -l <"$work/out")"
    done
  done
done
