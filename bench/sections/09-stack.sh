#!/usr/bin/env bash
# Item 9: the seeder's transport (webrtc-rs with patches/) against the str0m driver it replaced
# (the daemon at commit 789a993, built by bench/prepare/09-stack.sh), in the same run: STACK_MIB
# (100 MiB) downloads into headless Chromium and uploads from it, STACK_RUNS (3) each, the two
# daemons alternated run by run; daemon CPU seconds per GiB, rate, longest pause, peak RSS.
source "$(dirname "$0")/../rtc-lib.sh"
rtc_build
rtc_node_deps
str0m=${BENCH_STR0M_PEERBOX:-$BENCH_DIR/peerbox-str0m}
[ -x "$str0m" ] || bash "$BENCH_ROOT/bench/prepare/09-stack.sh"
runs=${BENCH_STACK_RUNS:-3}
for mode in series upload; do
    scripts/netns-run.sh env BASELINE_BIN="$str0m" \
        node tests/web/seeder-bench.mjs "$RTC_PEERBOX" "$mode" "$runs" "$STACK_MIB" | tail -n 1 >"$BENCH_DIR/09-$mode.json"
done
python3 - "$BENCH_DIR" "$BENCH_DIR/09.rows" <<'PY'
import json, sys
d, out = sys.argv[1], sys.argv[2]
rows, ratios = [], {}
for mode, label in (("series", "seeder → Chromium"), ("upload", "Chromium → seeder")):
    r = json.load(open(f"{d}/09-{mode}.json"))
    ours = r["seeder"] if mode == "series" else r["upload"]
    for name, runs in (("webrtc-rs (patched), this tree", ours), ("str0m driver (789a993)", r["baseline"])):
        mbps = sorted(x["bytes"] / 1e6 / (x["ms"] / 1000) for x in runs)
        gib = sum(x["bytes"] for x in runs) / 2**30
        cpu = sum(x["cpuSecs"] for x in runs) / gib
        pause = max(x.get("maxGapMs", 0) for x in runs)
        rows.append(f"| {label} | {name} | **{mbps[len(mbps) // 2]:.1f}** | {', '.join(f'{v:.1f}' for v in mbps)} | "
                    f"**{cpu:.1f}** | {pause:.0f} ms |")
        ratios.setdefault(mode, []).append(cpu)
open(out, "w").write("\n".join(rows) + "\n")
print(f"{ratios['series'][0] / ratios['series'][1]:.2f} {ratios['upload'][0] / ratios['upload'][1]:.2f}",
      file=open(out + ".ratio", "w"))
PY
read -r down_ratio up_ratio <"$BENCH_DIR/09.rows.ratio"
bench_check "Daemon CPU per GiB sent to Chromium, vs the str0m driver (same run)" max 0.5 x "$down_ratio"
{
    cat <<MD
## 9. The transport: webrtc-rs (this tree) vs the str0m driver it replaced

| direction | daemon | MB/s, median of ${runs} | runs | daemon CPU s per GiB | longest pause |
|---|---|---|---|---|---|
$(cat "$BENCH_DIR/09.rows")

Daemon CPU per GiB, this tree / str0m: **${down_ratio}x** sending to Chromium (target ≤ 0.5x),
**${up_ratio}x** receiving from it.

### How it was measured

Both daemons run side by side in one \`scripts/netns-run.sh\` namespace (10.77.0.1, ports next
to each other) with the same ${STACK_MIB} MiB file, driven by one headless Chromium through
\`tests/web/seeder-bench.mjs\` (\`BASELINE_BIN\`): per run a new signaling + WebRTC connection
to each daemon in turn, a download of the whole file (frames checked) or an upload of it (ending
at the seeder's \`done\`). CPU is the daemon's utime+stime over each run (/proc/PID/stat), summed
over the runs and divided by the bytes moved. The str0m daemon is the tree at commit 789a993
(before the move to webrtc-rs), built by \`bench/prepare/09-stack.sh\`; it is not part of
this tree any more.
MD
} >"$BENCH_OUT"
