#!/usr/bin/env bash
# Runs a command inside a private, unprivileged network namespace with a veth pair
# (10.77.0.1/24 <-> 10.77.0.2/24) and a default route, which browsers need before they gather
# any ICE candidates. Traffic never leaves the namespace. Usage: scripts/netns-run.sh CMD ARGS...
set -euo pipefail
if [ "${NETNS_RUN_INSIDE:-}" != 1 ]; then
    exec unshare -rn env NETNS_RUN_INSIDE=1 "$0" "$@"
fi
ip link set lo up
ip link add vt0 type veth peer name vt1
ip addr add 10.77.0.1/24 dev vt0
ip addr add 10.77.0.2/24 dev vt1
ip link set vt0 up
ip link set vt1 up
ip route add default via 10.77.0.2 dev vt0
# The veths' IPv6 link-local addresses stay tentative for about 1.5 s (duplicate address
# detection); a browser started meanwhile sees the network change under it and fails its first
# page load (net::ERR_NETWORK_CHANGED). Start once the addresses have settled.
for _ in $(seq 1 100); do
    [ -z "$(ip -6 addr show tentative)" ] && break
    sleep 0.05
done
exec "$@"
