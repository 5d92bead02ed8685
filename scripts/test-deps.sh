#!/usr/bin/env bash
# Installs the Debian packages the integration tests need (iproute2, iptables,
# nftables, nginx-light, prometheus) when they are missing. As non-root it installs nothing: the tests
# that need root skip and say so.
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v sysctl >/dev/null 2>&1 || need+=(procps)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light) # load's idle-timeout test: a WebSocket proxy
command -v prometheus >/dev/null 2>&1 || need+=(prometheus) # serve: a real Prometheus scrapes the exporter
for pkg in "$@"; do
  bin=${pkg%%:*} deb=${pkg#*:}
  command -v "$bin" >/dev/null 2>&1 || need+=("$deb")
done
((${#need[@]})) || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "test-deps: not root, not installing ${need[*]}; namespace tests will skip" >&2
  exit 0
fi
echo "test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
