#!/usr/bin/env bash
# Process start of the release build: `conndiag version` and `--help`, side by
# side with /bin/true (the cost of exec itself on this machine), with
# hyperfine; and the size of the stripped static binary `make dist` ships.
# No network, no root.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -buildid=" -o "$dir/conndiag" ./cmd/conndiag
echo "binary: $(wc -c <"$dir/conndiag") bytes (linux/$(go env GOARCH), stripped, static)"
if ! command -v hyperfine >/dev/null; then
	echo "hyperfine is not installed (apt-get install hyperfine)" >&2
	exit 3
fi
hyperfine -N --warmup 20 --runs "${RUNS:-300}" \
	"/bin/true" "$dir/conndiag version" "$dir/conndiag --help"
