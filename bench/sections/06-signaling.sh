#!/usr/bin/env bash
# Item 6: signaling under load, peerbox against matchbox_server, same workload, same run.
set -euo pipefail
source "$BENCH_ROOT/bench/lib.sh"

CLIENTS=${BENCH_SIGNAL_CLIENTS:-1000} ROOMS=${BENCH_SIGNAL_ROOMS:-100}
RATE=${BENCH_SIGNAL_RATE:-1000} SECS=${BENCH_SIGNAL_SECS:-20}
MATCHBOX=$(command -v matchbox_server || echo "$HOME/.cargo/bin/matchbox_server")
kv="$BENCH_DIR/06-signaling.kv"
: >"$kv"
"$BENCH_EXAMPLES/bench_signal" peerbox "$BENCH_PEERBOX" "$CLIENTS" "$ROOMS" "$RATE" "$SECS" | tee -a "$kv"
if [ -x "$MATCHBOX" ]; then
    "$BENCH_EXAMPLES/bench_signal" matchbox "$MATCHBOX" "$CLIENTS" "$ROOMS" "$RATE" "$SECS" | tee -a "$kv"
else
    echo "matchbox_server not installed (bench/prepare/06-signaling.sh)" >&2
fi
bench_load_kv "$kv"
v() { echo "${KV[$1]:-n/a}"; }
kb() { [ -n "${KV[$1]:-}" ] && bench_kib_kb "${KV[$1]}" || echo n/a; }
mb() { [ -n "${KV[$1]:-}" ] && bench_kib_mb "${KV[$1]}" || echo n/a; }
install=$(cat "$BENCH_DIR/06-signaling.install" 2>/dev/null || echo "already installed")
mver=$(cargo install --list 2>/dev/null | awk '/^matchbox_server /{ sub(/:$/, "", $2); print "matchbox_server " $2 }')

cat >"$BENCH_OUT" <<MD
## 6. Signaling: $CLIENTS WebSocket clients in $ROOMS rooms

| | peerbox | matchbox_server (baseline) |
|---|---|---|
| Forward latency p50 | $(v peerbox_p50_ms) ms | $(v matchbox_p50_ms) ms |
| Forward latency p99 | $(v peerbox_p99_ms) ms | $(v matchbox_p99_ms) ms |
| Forward latency max | $(v peerbox_max_ms) ms | $(v matchbox_max_ms) ms |
| Signals delivered / sent | $(v peerbox_received) / $(v peerbox_sent) | $(v matchbox_received) / $(v matchbox_sent) |
| RSS before clients | $(mb peerbox_rss_before) MB | $(mb matchbox_rss_before) MB |
| RSS with $CLIENTS idle clients | $(mb peerbox_rss_idle) MB | $(mb matchbox_rss_idle) MB |
| RSS under load (max) | $(mb peerbox_rss_load_max) MB | $(mb matchbox_rss_load_max) MB |
| **Memory per idle connection** | **$(kb peerbox_kib_per_conn) KB** | **$(kb matchbox_kib_per_conn) KB** |
| Time to connect all clients | $(v peerbox_connect_secs) s | $(v matchbox_connect_secs) s |

**How it was measured.** \`examples/bench_signal.rs\` starts each server as a child process on
127.0.0.1 (one after the other, never both at once), then opens $CLIENTS WebSocket clients from
one process (one tokio worker thread); client *i* joins room \`room-(i mod $ROOMS)\` (peerbox:
\`join\` message; matchbox: URL path \`/room-N\`). Once all are connected and idle for 2 s, it
sends $RATE signals per second in total for $SECS s, round-robin over the clients, each to the
client $ROOMS places further (same room). The payload is the same ICE \`candidate\` object for
both servers (peerbox: \`{"type":"signal","to":…}\` built from \`peerbox::signal::protocol\`;
matchbox: \`{"Signal":{"receiver":…,"data":…}}\`), with the send time in \`usernameFragment\`;
latency is receive time minus send time on the same monotonic clock, so it includes both
clients' WebSocket framing and JSON work and the server's forwarding. Signals sent more than
5 ms behind schedule: peerbox $(v peerbox_sent_late), matchbox $(v matchbox_sent_late).
Memory per connection = (VmRSS with the clients idle − VmRSS before any client) / $CLIENTS;
under load, VmRSS is sampled every 200 ms.

peerbox ran with its per-address and global connection caps lifted for the bench (all clients
come from 127.0.0.1): \`PEERBOX_SERVER__MAX_CONNECTIONS\`, \`PEERBOX_SIGNAL__MAX_CONNECTIONS\`,
\`PEERBOX_SIGNAL__MAX_CONNECTIONS_PER_ADDRESS\` = clients + 64, \`PEERBOX_SIGNAL__MAX_ROOMS\` =
rooms + 16; its rate limit (20 msg/s per connection) is above the 1 msg/s each client sends.
The whole daemon ran (HTTP, seeding peer, catalog), log level \`warn\`. matchbox_server
(\`$mver\`, from \`cargo install matchbox_server --locked\`, $install) ran with \`RUST_LOG=warn\`.
MD

bench_check "Signaling memory per idle WebSocket" max 20 KB "$(kb peerbox_kib_per_conn)"
p99=$(v peerbox_p99_ms) mp99=$(v matchbox_p99_ms)
if [ "$p99" != n/a ] && [ "$mp99" != n/a ]; then
    bench_check "Signaling forward latency p99 (target: matchbox_server's, same run)" max "$mp99" ms "$p99"
else
    bench_check "Signaling forward latency p99" max n/a ms n/a
fi
[ "$(v peerbox_received)" != n/a ]
