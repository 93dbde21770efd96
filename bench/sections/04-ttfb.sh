#!/usr/bin/env bash
# Item 4: a 1 MiB file from request to its last byte, into headless Chromium (50 runs on one
# connection, as a phone opens files one after another): p50/p95/max; then time to first byte
# and connection set-up with the Rust client on loopback (20 new connections).
source "$(dirname "$0")/../rtc-lib.sh"
rtc_build --example bench_transfer
rtc_node_deps
RUNS=${BENCH_TTFB_RUNS:-20}
SMALL_RUNS=${BENCH_SMALL_RUNS:-50}
json="$BENCH_DIR/04-small.json"
scripts/netns-run.sh node tests/web/seeder-bench.mjs "$RTC_PEERBOX" small "$SMALL_RUNS" 1 | tail -n 1 >"$json"
read -r s50 s95 smax sttfb sok < <(python3 - "$json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["small"]
ms = sorted(x["ms"] for x in r)
first = sorted(x["ttfbMs"] for x in r)
pct = lambda v, p: v[max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))]
print(f'{pct(ms, 50):.1f} {pct(ms, 95):.1f} {ms[-1]:.1f} {pct(first, 50):.1f} {all(x["ok"] for x in r)}')
PY
)
[ "$sok" = True ] || { echo "a small download delivered wrong bytes" >&2; exit 1; }
bench_check "1 MiB file into Chromium, request to last byte, p95 (${SMALL_RUNS} runs)" max 100 ms "$s95"
bench_check "1 MiB file into Chromium, request to last byte, max" max 300 ms "$smax"

kv="$BENCH_DIR/04-ttfb.kv"
"$BENCH_EXAMPLES/bench_transfer" "$RTC_PEERBOX" ttfb "$RUNS" | tee "$kv"
bench_load_kv "$kv"
v() { echo "${KV[$1]:-n/a}"; }
bench_check "time to first byte, 1 MiB file, p95 (Rust client)" max 100 ms "$(v ttfb_p95_ms)"

cat >"$BENCH_OUT" <<MD
## 4. Small files: a 1 MiB file from request to last byte

| 1 MiB file | p50 | p95 | max |
|---|---|---|---|
| **into Chromium, request → last byte** (${SMALL_RUNS} runs, one connection) | **${s50} ms** | **${s95} ms** | **${smax} ms** |
| into Chromium, request → first byte | ${sttfb} ms | | |
| Rust client on loopback, request → first byte ($(v runs) new connections) | $(v ttfb_p50_ms) ms | $(v ttfb_p95_ms) ms | $(v ttfb_max_ms) ms |
| Rust client, request → whole file verified | $(v whole_p50_ms) ms | $(v whole_p95_ms) ms | $(v whole_max_ms) ms |
| Rust client, connection set-up (signaling, ICE, DTLS, SCTP, hello, catalog) | $(v connect_p50_ms) ms | $(v connect_p95_ms) ms | $(v connect_max_ms) ms |

Targets: into Chromium p95 under 100 ms and max under 300 ms; the first byte alone is not the
figure (a loss recovered by a retransmission timeout shows only in the last byte).

**How it was measured.** Chromium: \`tests/web/seeder-bench.mjs small\` inside
\`scripts/netns-run.sh\`, one page connected to the release daemon's seeder (signaling, WebRTC,
\`hello\`, catalog) asks for the 1 MiB file ${SMALL_RUNS} times in a row and times each
\`download\` to its \`end\` (every frame's offset checked). Rust client:
\`examples/bench_transfer.rs\` on 127.0.0.1, a new \`peerbox::client\` connection per run, then
\`download\`; first byte = the first chunk frame. Percentiles are nearest-rank.
MD
