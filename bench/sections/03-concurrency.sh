#!/usr/bin/env bash
# Item 3: four concurrent downloads in aggregate against one, Rust WebRTC clients on loopback.
set -euo pipefail
source "$BENCH_ROOT/bench/lib.sh"

MIB=${BENCH_CONCURRENCY_MIB:-100}
kv="$BENCH_DIR/03-concurrency.kv"
"$BENCH_EXAMPLES/bench_transfer" "$BENCH_PEERBOX" concurrency "$MIB" | tee "$kv"
bench_load_kv "$kv"
v() { echo "${KV[$1]:-n/a}"; }
bench_check "4 concurrent downloads vs 1 (aggregate)" min 1.0 x "$(v ratio)"

cat >"$BENCH_OUT" <<MD
## 3. Four concurrent downloads against one

| | MB/s |
|---|---|
| One download, alone (baseline) | $(v single_mb_s) |
| Four at once, each | $(v each_0_mb_s), $(v each_1_mb_s), $(v each_2_mb_s), $(v each_3_mb_s) |
| **Four at once, aggregate** | **$(v aggregate_mb_s)** ($(v ratio)x the single download) |

Daemon CPU time over the whole section: $(v cpu_secs) s. CPU seconds per GiB moved, one
download against four at once: daemon $(v single_daemon_cpu_s_per_gib) vs
$(v four_daemon_cpu_s_per_gib), the clients (bench process) $(v single_client_cpu_s_per_gib) vs
$(v four_client_cpu_s_per_gib).

**How it was measured.** \`examples/bench_transfer.rs\` starts the release binary on 127.0.0.1
(\`seeder.webrtc.udp_bind = ["127.0.0.1"]\`) with one $MIB MiB file of incompressible bytes in
the share. One Rust WebRTC client (\`peerbox::client\`: signaling, a webrtc-rs
DataChannel, the transfer protocol, BLAKE3 check of every byte) downloads it; then four clients,
each connected beforehand, download it at the same time. Aggregate = 4 x size / wall time from
the four requests to the last \`end\`. Each client runs in the bench process, so on 2 cores the
clients and the daemon share the CPU; the aggregate shows whether the daemon serves peers in
parallel rather than one after another (the seeder runs one transport task per peer).
MD
