#!/usr/bin/env bash
# Probes per second of `conndiag serve` at its default concurrency (16 probes at
# once), each a real diagnosis of a loopback target (an open port and a closed
# one, alternately) through the exporter's HTTP handler. A figure, not a test:
# shared machines are noisy, so run it a few times and compare side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'BenchmarkProbeLoopback' -benchtime "${BENCHTIME:-5s}" -count "${COUNT:-3}" ./internal/exporter |
	awk '/^Benchmark/ { for (i = 1; i <= NF; i++) if ($(i+1) == "probes/s") { print "serve /probe, loopback, concurrency 16:", $i, "probes/s"; } }'
