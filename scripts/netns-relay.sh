#!/usr/bin/env bash
# Runs a command in a private, unprivileged network namespace laid out like a guest Wi-Fi with
# client isolation: the appliance on a bridge at 10.78.0.1 and two "phones" in their own
# namespaces `a` (10.78.0.2) and `b` (10.78.0.3) that reach the appliance but not each other
# (nftables on the bridge). `ip netns exec a CMD` runs a phone's program. Traffic never leaves.
set -euo pipefail
if [ "${NETNS_RELAY_INSIDE:-}" != 1 ]; then
    exec unshare -rnm --propagation private env NETNS_RELAY_INSIDE=1 "$0" "$@"
fi
mkdir -p /run/netns
mount -t tmpfs tmpfs /run/netns
ip netns add a
ip netns add b
ip link set lo up
ip link add br0 type bridge stp_state 0 forward_delay 0
ip link set br0 up
ip addr add 10.78.0.1/24 dev br0
for n in a b; do
    ip link add "v$n" type veth peer name "p$n"
    ip link set "p$n" netns "$n"
    ip link set "v$n" master br0
    ip link set "v$n" up
    ip -n "$n" link set lo up
done
ip -n a addr add 10.78.0.2/24 dev pa
ip -n a link set pa up
ip -n a route add default via 10.78.0.1
ip -n b addr add 10.78.0.3/24 dev pb
ip -n b link set pb up
ip -n b route add default via 10.78.0.1
nft add table bridge isolate
nft add chain bridge isolate fw "{ type filter hook forward priority 0; }"
nft add rule bridge isolate fw ip saddr 10.78.0.2 ip daddr 10.78.0.3 drop
nft add rule bridge isolate fw ip saddr 10.78.0.3 ip daddr 10.78.0.2 drop
# Start once IPv6 duplicate address detection is over everywhere (see netns-run.sh).
for _ in $(seq 1 100); do
    [ -z "$(ip -6 addr show tentative)$(ip -n a -6 addr show tentative)$(ip -n b -6 addr show tentative)" ] && break
    sleep 0.05
done
exec "$@"
