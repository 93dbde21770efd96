#!/usr/bin/env bash
# Item 1: the real daemon's seeder -> headless Chromium over a DataChannel (RTC_MIB, default 200
# MiB), against Chromium -> Chromium between two pages in the same run (same 64 KiB messages,
# same bufferedAmount flow control), median of RTC_RUNS; then one more seeder download under
# `perf record -g` to show where the daemon's time goes. Target: ratio >= 1.0 (aim 1.3).
source "$(dirname "$0")/../rtc-lib.sh"
RTC_RUNS=${BENCH_SEEDER_RUNS:-5}
rtc_build
rtc_node_deps
perf_data="$BENCH_DIR/01-seeder.perf.data"
rm -f "$perf_data"
json="$BENCH_DIR/01-seeder-chromium.json"
scripts/netns-run.sh env PERF_DATA="$perf_data" \
    node tests/web/seeder-bench.mjs "$RTC_PEERBOX" download "$RTC_RUNS" "$RTC_MIB" | tail -n 1 >"$json"
read -r seeder c2c ratio all_s all_c ok cpu rss < <(python3 - "$json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, c = r["summary"]["seeder"], r["summary"]["c2c"]
cpu = sorted(x["cpuSecs"] for x in r["seeder"])[len(r["seeder"]) // 2]
print(f'{s["median_mbps"]:.1f} {c["median_mbps"]:.1f} {s["median_mbps"] / c["median_mbps"]:.2f} '
      f'{",".join(f"{x:.1f}" for x in s["all_mbps"])} {",".join(f"{x:.1f}" for x in c["all_mbps"])} '
      f'{s["ok"] and c["ok"]} {cpu:.1f} {r["daemon_peak_rss_kib"]}')
PY
)
[ "$ok" = True ] || { echo "a run delivered wrong or missing bytes" >&2; exit 1; }
busy=$(awk -v c="$cpu" -v m="$seeder" -v n="$RTC_MIB" 'BEGIN { printf "%.0f", 100 * c / (n * 1.048576 / m) }')
per_gib=$(awk -v c="$cpu" -v n="$RTC_MIB" 'BEGIN { printf "%.1f", c * 1024 / n }')
if [ "$busy" -ge 85 ]; then
    limit="The daemon is CPU-bound (${busy} % of a core): its own cost per byte (the profile below) is the limit."
else
    limit="The daemon is not CPU-bound (${busy} % of a core): the browser is. Chromium receives into one \
network thread on these 2 cores, shared with the daemon and, in the baseline, with its own sending \
page; its socket buffer overflows now and then (section 13 counts the drops), which the seeder \
recovers by fast retransmit (patches/README.md)."
fi
bench_check "Seeder -> Chromium vs Chromium -> Chromium (${RTC_MIB} MiB)" min 1.0 x "$ratio"
{
    cat <<MD
## 1. Seeder to headless Chromium vs Chromium to Chromium

| path (${RTC_MIB} MiB, one DataChannel, 64 KiB messages) | MB/s, median of ${RTC_RUNS} | runs |
|---|---|---|
| daemon's seeder (webrtc-rs) -> Chromium | **${seeder}** | ${all_s} |
| Chromium page -> Chromium page (baseline) | **${c2c}** | ${all_c} |
| ratio seeder / baseline (target ≥ 1.0) | **${ratio}** | |

Daemon CPU time per seeder download (median): ${cpu} s of user+system time for ${RTC_MIB} MiB
(**${per_gib} s per GiB**), i.e. the daemon was busy **${busy} %** of one core while it sent;
daemon peak RSS over the whole section: $((rss / 1024)) MiB.

**What limits it.** ${limit}

### Where the daemon's time goes (one more seeder download under \`perf record -g\`)

MD
    if [ -s "$perf_data" ]; then
        rtc_profile "$perf_data"
    else
        echo "*(perf could not attach to the daemon here; no profile)*"
    fi
    cat <<MD

### How it was measured

The release \`peerbox\` runs inside a private network namespace (\`scripts/netns-run.sh\`, veth
10.77.0.1/10.77.0.2; Chromium gathers no candidates on loopback) with the seeder's UDP bound to
10.77.0.1 and a ${RTC_MIB} MiB file in its share folder. Headless Chromium (playwright-core,
\`--no-sandbox --disable-gpu --disable-background-networking --no-first-run\`) loads a page from
the daemon with \`tests/web/bench-page.js\` injected, which speaks docs/protocol.md itself: joins
room \`home\` over \`/ws\`, offers a DataChannel \`peerbox\` to the seeder, \`hello\`, catalog,
\`download\`, counts and checks chunk frames (offsets, a pattern byte per frame) up to \`end\`.
The clock runs from the first frame to \`end\`. No UI and no in-page BLAKE3 (the web client
hashes as it receives; that cost is the browser's, not the daemon's). The baseline sends the
same byte count between two pages of the same browser over one ordered DataChannel with 64 KiB
messages and the flow control of docs/protocol.md (send while \`bufferedAmount\` < 1 MiB,
resume at \`bufferedamountlow\` = 256 KiB); its clock runs from the first to the last message
received. Seeder and baseline runs alternate. The profile is \`perf record -g -F 499\` attached
to the daemon for one extra download (grouping: \`bench/perf_groups.py\`).
MD
} >"$BENCH_OUT"
