#!/usr/bin/env bash
# Throughput of `conndiag explain --log` over a large generated nginx error log,
# side by side with `grep -cE` for the same failure patterns, in one run.
# grep only counts matching lines; explain classifies every line (cause,
# target, time) and groups them. No network, no root.
# MB=size of the log (default 200).
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${MB:-200}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
CGO_ENABLED=0 go build -o "$dir/conndiag" ./cmd/conndiag

# A log the way nginx writes it: upstream failures of several kinds toward a few
# upstreams, mixed with notice/info lines that are not failures.
awk -v mb="$MB" 'BEGIN {
  srand(1)
  n = split("connect() failed (111: Connection refused) while connecting to upstream|upstream timed out (110: Connection timed out) while connecting to upstream|upstream timed out (110: Connection timed out) while reading response header from upstream|upstream prematurely closed connection while reading response header from upstream|no live upstreams while connecting to upstream|recv() failed (104: Connection reset by peer) while reading response header from upstream|upstream timed out (110: Connection timed out) while proxying upgraded connection", msg, "|")
  m = split("http://127.0.0.1:8080|http://10.0.0.5:8282|http://backend|http://[::1]:3000", up, "|")
  limit = mb * 1048576; size = 0; i = 0
  while (size < limit) {
    i++
    t = sprintf("2026/01/15 %02d:%02d:%02d", int(i / 3600) % 24, int(i / 60) % 60, i % 60)
    if (i % 5 == 0) {
      line = t " [notice] 1234#1234: signal process started"
    } else if (i % 7 == 0) {
      line = t " [info] 1234#1234: *" i " client 203.0.113." (i % 250) " closed keepalive connection"
    } else {
      line = t " [error] 1234#1234: *" i " " msg[(i % n) + 1] ", client: 203.0.113." (i % 250) ", server: example.com, request: \"GET /ws HTTP/1.1\", upstream: \"" up[(i % m) + 1] "/ws\", host: \"example.com\""
    }
    print line
    size += length(line) + 1
  }
}' > "$dir/error.log"
bytes=$(stat -c %s "$dir/error.log")
pattern='connect\(\) failed|upstream timed out|no live upstreams|upstream prematurely closed|recv\(\) failed|Connection reset by peer'

# best_s CMD...: fastest of 3 runs (after one warm-up that also fills the page cache), in seconds.
best_s() {
  # Output to a file, not /dev/null: GNU grep stops at the first match when it sees /dev/null.
  "$@" >"$dir/out" 2>&1 || true
  local best=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s%N); "$@" >"$dir/out" 2>&1 || true; t1=$(date +%s%N)
    local d=$(( t1 - t0 ))
    if [ -z "$best" ] || [ "$d" -lt "$best" ]; then best=$d; fi
  done
  awk -v ns="$best" 'BEGIN { printf "%.3f", ns / 1e9 }'
}
mbs() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }

grep_n=$(LC_ALL=C grep -cE "$pattern" "$dir/error.log")
explain_n=$({ "$dir/conndiag" explain --log "$dir/error.log" --json || true; } | awk -F'"count":' '{ split($2, a, ","); s += a[1] } END { print s }')
g=$(LC_ALL=C best_s grep -cE "$pattern" "$dir/error.log")
gu=$(best_s grep -cE "$pattern" "$dir/error.log")
e=$(best_s "$dir/conndiag" explain --log "$dir/error.log")
ej=$(best_s "$dir/conndiag" explain --log "$dir/error.log" --json)

printf 'log: %s MB, %s failure lines (grep counts %s)\n' "$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1048576 }')" "$explain_n" "$grep_n"
printf '%-42s %8s %9s %8s\n' "command" "seconds" "MB/s" "ratio"
printf '%-42s %8s %9s %8s\n' "LC_ALL=C grep -cE (counts only)" "$g" "$(mbs "$g")" "1.00"
printf '%-42s %8s %9s %8s\n' "grep -cE, UTF-8 locale" "$gu" "$(mbs "$gu")" "$(awk -v a="$gu" -v b="$g" 'BEGIN { printf "%.2f", a / b }')"
printf '%-42s %8s %9s %8s\n' "conndiag explain --log (classifies all)" "$e" "$(mbs "$e")" "$(awk -v a="$e" -v b="$g" 'BEGIN { printf "%.2f", a / b }')"
printf '%-42s %8s %9s %8s\n' "conndiag explain --log --json" "$ej" "$(mbs "$ej")" "$(awk -v a="$ej" -v b="$g" 'BEGIN { printf "%.2f", a / b }')"
[ "$grep_n" = "$explain_n" ] || { echo "bench/explain.sh: explain found $explain_n failures, grep $grep_n" >&2; exit 1; }
