#!/usr/bin/env bash
# Item 4: time to first byte of a 1 MiB file, p50 and p95 over 20 runs, plus connection set-up.
set -euo pipefail
source "$BENCH_ROOT/bench/lib.sh"

RUNS=${BENCH_TTFB_RUNS:-20}
kv="$BENCH_DIR/04-ttfb.kv"
"$BENCH_EXAMPLES/bench_transfer" "$BENCH_PEERBOX" ttfb "$RUNS" | tee "$kv"
bench_load_kv "$kv"
v() { echo "${KV[$1]:-n/a}"; }
bench_check "time to first byte, 1 MiB file, p95" max 100 ms "$(v ttfb_p95_ms)"
bench_check "no multi-second start stall (slowest first byte)" max 1000 ms "$(v ttfb_max_ms)"

cat >"$BENCH_OUT" <<MD
## 4. Time to first byte of a 1 MiB file

| over $(v runs) runs | p50 | p95 | max |
|---|---|---|---|
| **request → first byte** | **$(v ttfb_p50_ms) ms** | **$(v ttfb_p95_ms) ms** | $(v ttfb_max_ms) ms |
| request → whole file verified | $(v whole_p50_ms) ms | $(v whole_p95_ms) ms | $(v whole_max_ms) ms |
| connection set-up (signaling, ICE, DTLS, SCTP, hello, catalog) | $(v connect_p50_ms) ms | $(v connect_p95_ms) ms | $(v connect_max_ms) ms |

Baseline: the target (p95 under 100 ms, no multi-second stalls); the set-up row shows what a
page pays once when it opens, before any request.

**How it was measured.** \`examples/bench_transfer.rs\` starts the release binary on loopback
with a 1 MiB file in the share (hashed before the first run). Each run a new Rust WebRTC client
connects (signaling join, SDP offer/answer, ICE on 127.0.0.1, DTLS, SCTP, DataChannel, \`hello\`,
catalog) and then sends \`download\`; first byte = the first chunk frame's arrival. Percentiles
are nearest-rank.
MD
