#!/usr/bin/env bash
# Installs the Debian packages the integration tests need (iproute2, iptables,
# nftables, nginx-light, openssl, curl, prometheus, socat, redis-server, python3-websockets,
# node-ws) when they are missing. As non-root it installs nothing: the tests
# that need root skip and say so.
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v sysctl >/dev/null 2>&1 || need+=(procps)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light) # load's idle-timeout test: a WebSocket proxy; the TLS verdict tests
command -v openssl >/dev/null 2>&1 || need+=(openssl)   # the TLS verdict tests: nginx's TLS library, s_server
command -v curl >/dev/null 2>&1 || need+=(curl)         # the TLS verdict tests: a current client confirms the verdict
command -v socat >/dev/null 2>&1 || need+=(socat)       # check: a TCP forwarder to a dead backend
command -v prometheus >/dev/null 2>&1 || need+=(prometheus) # serve: a real Prometheus scrapes the exporter
# The WebSocket verdict tests: a forwarder, a service that waits for a command, a Python WebSocket app
# (Debian's package is for /usr/bin/python3, which the tests use when a python3 earlier in PATH lacks it).
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || python3 -c 'import websockets' >/dev/null 2>&1 || need+=(python3-websockets)
# A Node.js ws app (Debian's node-ws lives in /usr/share/nodejs, which a node from elsewhere does not search).
NODE_PATH=/usr/share/nodejs node -e "require('ws')" >/dev/null 2>&1 || need+=(node-ws)
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
