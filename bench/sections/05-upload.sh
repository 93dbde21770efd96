#!/usr/bin/env bash
# Item 5: headless Chromium -> the real daemon's seeder, RTC_MIB (default 200 MiB) saved into the
# incoming folder on the normal disk, median of RTC_RUNS; then one more upload with the daemon
# under `strace -c -w -f -e trace=fsync,fdatasync` for the time spent in fsync.
source "$(dirname "$0")/../rtc-lib.sh"
rtc_build
rtc_node_deps
json="$BENCH_DIR/05-upload.json"
strace_out="$BENCH_DIR/05-upload.strace"
rm -f "$strace_out"
# The incoming folder must be on the normal disk (not a tmpfs /tmp) for fsync to cost anything.
work="$CARGO_TARGET_DIR/bench/05-work"
rm -rf "$work" && mkdir -p "$work"
scripts/netns-run.sh env STRACE_OUT="$strace_out" BENCH_WORK="$work" \
    node tests/web/seeder-bench.mjs "$RTC_PEERBOX" upload "$RTC_RUNS" "$RTC_MIB" | tail -n 1 >"$json"
fs=$(df -T "$work" | awk 'NR == 2 { print $2 " on " $1 }')
rm -rf "$work"
read -r up all ok cpu sendsecs totalsecs traced_ms fsync_s fsync_n < <(python3 - "$json" "$strace_out" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))
u = r["summary"]["upload"]
mid = sorted(r["upload"], key=lambda x: x["bytes"] / x["ms"])[len(r["upload"]) // 2]
secs, calls = 0.0, 0
try:
    for line in open(sys.argv[2]):
        m = re.match(r"\s*[\d.]+\s+([\d.]+)\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)\s*$", line)
        if m:
            secs += float(m.group(1)); calls += int(m.group(2))
except OSError:
    pass
t = r.get("traced", {}).get("ms", 0)
print(f'{u["median_mbps"]:.1f} {",".join(f"{x:.1f}" for x in u["all_mbps"])} {u["ok"]} '
      f'{mid["cpuSecs"]:.1f} {mid["sendMs"] / 1000:.1f} {mid["ms"] / 1000:.1f} {t:.0f} {secs:.2f} {calls}')
PY
)
[ "$ok" = True ] || { echo "an upload failed" >&2; exit 1; }
share=$(awk -v f="$fsync_s" -v t="$traced_ms" 'BEGIN { if (t > 0) printf "%.1f", 100 * f * 1000 / t; else print "n/a" }')
bench_target "Chromium -> seeder upload (${RTC_MIB} MiB, incoming on disk)" "report" "${up} MB/s, fsync ${share} % of the time" "measured"
{
    cat <<MD
## 5. Browser to seeder upload, and the cost of fsync

| figure (${RTC_MIB} MiB from headless Chromium into the incoming folder, ${fs}) | value |
|---|---|
| upload throughput, median of ${RTC_RUNS} (from \`accept\` to the seeder's \`done\`) | **${up} MB/s** (runs: ${all}) |
| of which the browser was still sending (median run) | ${sendsecs} s of ${totalsecs} s |
| daemon CPU time (user+system) for the median run | ${cpu} s |
| time inside fsync/fdatasync (one more upload, traced) | ${fsync_s} s in ${fsync_n} calls |
| fsync share of that upload's wall time | **${share} %** |

### How it was measured

Same set-up as section 1 (release daemon in a network namespace, headless Chromium, page
speaking docs/protocol.md from \`tests/web/bench-page.js\`). The page offers ${RTC_MIB} MiB
(the pattern bytes of the shared bench file, whose BLAKE3 it takes from the catalog) and streams
64 KiB chunk frames under the protocol's flow control; the seeder writes them to a partial file
in \`incoming/.peerbox-partial\`, fsyncs every \`seeder.progress_ack_bytes\` (4 MiB, before each
\`progress\` ack), verifies BLAKE3 at the end, fsyncs, links the final name and fsyncs the
directory, then answers \`done\`: the clock stops there. The incoming folder is under
\`target/bench\` on the normal disk. The fsync cost is the wall time the daemon's threads spent
inside \`fsync\`/\`fdatasync\` during one extra upload traced with \`strace -c -w -f\` (strace
slows syscalls somewhat, so this share is an upper bound), relative to that upload's time.
MD
} >"$BENCH_OUT"
