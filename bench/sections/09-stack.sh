#!/usr/bin/env bash
# Item 9: the WebRTC stack itself. The seeder's transport (str0m, examples/peer_bench) against the
# same bench server built on webrtc-rs (examples/peer_bench_webrtc_rs), same page, both
# directions with headless Chromium, STACK_MIB (default 100 MiB) x RTC_RUNS, with the server's CPU
# time and peak RSS per run.
source "$(dirname "$0")/../rtc-lib.sh"
rtc_build --example peer_bench --example peer_bench_webrtc_rs
rtc_node_deps
json="$BENCH_DIR/09-stack.json"
# BENCH_STACK_WINDOW=BYTES gives both stacks the same send window (default: each its own).
window=${BENCH_STACK_WINDOW:-}
scripts/netns-run.sh env ${window:+PEER_MAX_BUFFERED=$window} node tests/web/stack-bench.mjs "$BENCH_EXAMPLES/peer_bench" \
    "$BENCH_EXAMPLES/peer_bench_webrtc_rs" "$RTC_RUNS" "$STACK_MIB" | tail -n 1 >"$json"
python3 - "$json" "$BENCH_DIR/09-stack.rows" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
rows, verdicts = [], []
for d, label in (("download", "server -> Chromium"), ("upload", "Chromium -> server")):
    a, b = s["str0m"][d], s["webrtc-rs"][d]
    for name, x in (("str0m (seeder's stack)", a), ("webrtc-rs", b)):
        fails = f' ({len(x["failed"])} failed: {"; ".join(x["failed"])})' if x["failed"] else ""
        rows.append(f'| {label} | {name} | **{x["median_mbps"]:.1f}** | {", ".join(f"{v:.1f}" for v in x["all_mbps"])}{fails} '
                    f'| {x["median_cpu_secs"]:.2f} | {x["max_peak_kib"] / 1024:.1f} |')
    ratio = a["median_mbps"] / b["median_mbps"] if b["median_mbps"] else float("inf")
    verdicts.append(f"{label}: str0m {ratio:.2f}x webrtc-rs")
open(sys.argv[2], "w").write("\n".join(rows) + "\n" + "\t".join(verdicts) + "\n")
PY
table=$(head -n -1 "$BENCH_DIR/09-stack.rows")
IFS=$'\t' read -r v_down v_up < <(tail -n 1 "$BENCH_DIR/09-stack.rows")
failed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failed"])' "$json")
bench_target "WebRTC stack: seeder's str0m vs webrtc-rs (${STACK_MIB} MiB)" "compare" "${v_down}; ${v_up}" "reported"
window_text=${window:-"each stack's default (str0m 256 KiB, webrtc-rs 1 MiB)"}
{
    cat <<MD
## 9. The WebRTC stack: str0m (the seeder's) vs webrtc-rs

| direction | server stack | MB/s, median of ${RTC_RUNS} | runs | server CPU s (median) | server peak RSS MiB |
|---|---|---|---|---|---|
${table}

${v_down}; ${v_up} (median throughput ratios). Runs that stalled or failed: ${failed}.
Send windows: ${window_text}; a different window
alone can explain a download difference (see section 1), so \`BENCH_STACK_WINDOW=1048576\` reruns
the comparison with equal windows.

### How it was measured

\`examples/peer_bench\` (the seeder's own transport, \`peerbox::seeder::peer\`, defaults:
256 KiB max buffered, 64 KiB low-water) and \`examples/peer_bench_webrtc_rs\` (webrtc-rs
\`webrtc\` $(grep -A1 '^name = "webrtc"$' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p'), a dev-dependency only;
1 MiB outstanding, resume on buffered-amount-low at 256 KiB) serve the same page
(\`examples/peer_bench.html\`) and the same \`POST /offer\`, both bound to 10.77.0.1 inside
\`scripts/netns-run.sh\`. One headless Chromium drives both: \`download\` streams ${STACK_MIB} MiB of
64 KiB frames server -> page (the page checks offsets and samples bytes; clock from first to
last byte), \`upload\` sends ${STACK_MIB} MiB page -> server under the protocol's bufferedAmount flow
control (1 MiB / 256 KiB) and the server answers \`done\` after the last byte (clock from open
to \`done\`). Stacks alternate run by run. CPU time is utime+stime of the server process over
the run (/proc/PID/stat); peak RSS is VmHWM after the run, reset before each run by writing 5 to
/proc/PID/clear_refs (the column shows the largest of the runs).
The seeder reaches the stack only through its own peer module (\`src/seeder/peer/\`: \`Peers\`,
\`PeerEvent\`, \`Sent\`), which is what \`peer_bench\` uses too; switching stacks means
reimplementing that module's driver, nothing above it.
MD
} >"$BENCH_OUT"
