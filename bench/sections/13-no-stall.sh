#!/usr/bin/env bash
# Item 13: the no-stall series. NOSTALL_CHROMIUM (default 30) consecutive 100 MiB downloads into
# headless Chromium and NOSTALL_FIREFOX (10) into Firefox, then NOSTALL_UPLOADS (10) uploads of
# 100 MiB from each browser; per run the rate, the longest pause (download: gap between two
# frames in the page; upload: longest wait for room to send), the UDP receive-buffer drops in the
# namespace (/proc/net/snmp RcvbufErrors) and the daemon's CPU. A run with a pause of 5 s or
# more counts as a stall. Long: about 8 minutes on 2 cores.
# bench-timeout: 1500
source "$(dirname "$0")/../rtc-lib.sh"
rtc_build
rtc_node_deps
MIB=${BENCH_NOSTALL_MIB:-100}
n_chromium=${NOSTALL_CHROMIUM:-30}
n_firefox=${NOSTALL_FIREFOX:-10}
n_uploads=${NOSTALL_UPLOADS:-10}
run() { # run BROWSER MODE RUNS JSON
    scripts/netns-run.sh env BENCH_BROWSER="$1" \
        node tests/web/seeder-bench.mjs "$RTC_PEERBOX" "$2" "$3" "$MIB" | tail -n 1 >"$4"
}
d="$BENCH_DIR/11"
run chromium series "$n_chromium" "$d-chromium-down.json"
run firefox series "$n_firefox" "$d-firefox-down.json"
run chromium upload "$n_uploads" "$d-chromium-up.json"
run firefox upload "$n_uploads" "$d-firefox-up.json"
python3 - "$d" "$MIB" "$BENCH_DIR/11.rows" <<'PY'
import json, sys
d, mib, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows, facts = [], {}
for key, label in (("chromium-down", "seeder → Chromium"), ("firefox-down", "seeder → Firefox"),
                   ("chromium-up", "Chromium → seeder"), ("firefox-up", "Firefox → seeder")):
    r = json.load(open(f"{d}-{key}.json"))
    runs = r["seeder"] or r["upload"]
    mbps = sorted(x["bytes"] / 1e6 / (x["ms"] / 1000) for x in runs)
    pauses = [x.get("maxGapMs", 0) for x in runs]
    drops = [x.get("rcvbufErrors", 0) for x in runs]
    cpu = sorted(x["cpuSecs"] for x in runs)
    stalls = sum(1 for p in pauses if p >= 5000)
    bad = sum(1 for x in runs if not x["ok"])
    median = mbps[len(mbps) // 2]
    gib = runs[0]["bytes"] / 2**30
    rows.append(f"| {label} | {len(runs)} | {stalls} | {bad} | **{median:.1f}** | {mbps[0]:.1f} | "
                f"{max(pauses):.0f} ms | {sum(1 for p in pauses if p > 200)} | "
                f"{sorted(drops)[len(drops) // 2]} (max {max(drops)}) | {cpu[len(cpu) // 2] / gib:.1f} |")
    facts[key] = dict(runs=len(runs), stalls=stalls, bad=bad, pause=max(pauses),
                      median=median, slowest=mbps[0], drops=sorted(drops)[len(drops) // 2])
    facts[key + "-all"] = ", ".join(f"{v:.1f}" for v in (x["bytes"] / 1e6 / (x["ms"] / 1000) for x in runs))
open(out, "w").write("\n".join(rows) + "\n")
json.dump(facts, open(out + ".json", "w"))
PY
table=$(cat "$BENCH_DIR/11.rows")
f() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]] if len(sys.argv) > 3 else json.load(open(sys.argv[1]))[sys.argv[2]])' "$BENCH_DIR/11.rows.json" "$@"; }
total_stalls=$(( $(f chromium-down stalls) + $(f firefox-down stalls) + $(f chromium-up stalls) + $(f firefox-up stalls) ))
total_bad=$(( $(f chromium-down bad) + $(f firefox-down bad) + $(f chromium-up bad) + $(f firefox-up bad) ))
total=$(( n_chromium + n_firefox + 2 * n_uploads ))
bench_target "No stalls: ${n_chromium}+${n_firefox} downloads, ${n_uploads}+${n_uploads} uploads of ${MIB} MiB" \
    "all complete, none with 5 s without progress" "$((total - total_stalls - total_bad)) of $total clean" \
    "$([ "$total_stalls$total_bad" = 00 ] && echo met || echo "missed: $total_stalls stalled, $total_bad failed")"
bench_check "Longest pause in a ${MIB} MiB download into Chromium (${n_chromium} runs)" max 200 ms \
    "$(printf '%.0f' "$(f chromium-down pause)")"
{
    cat <<MD
## 13. No stalls: the series

| path (${MIB} MiB each) | runs | stalls | bad bytes | MB/s median | slowest run MB/s | longest pause | runs with a pause > 200 ms | RcvbufErrors per run, median | daemon CPU s/GiB (median) |
|---|---|---|---|---|---|---|---|---|---|
${table}

Every run, in order (MB/s): Chromium downloads $(f chromium-down-all); Firefox downloads
$(f firefox-down-all); Chromium uploads $(f chromium-up-all); Firefox uploads $(f firefox-up-all).

RcvbufErrors are the UDP datagrams dropped in the namespace because a socket's receive buffer
was full; on downloads they are the browser's (its network thread falls behind while both
cores are busy), and the seeder recovers them by fast retransmit within milliseconds
(patches/README.md). A pause is the longest gap between two frames arriving in the page
(downloads) or the longest wait of the page for room to send (uploads).

### How it was measured

\`tests/web/seeder-bench.mjs\` (modes \`series\` and \`upload\`) inside \`scripts/netns-run.sh\`: the
release \`peerbox\` on 10.77.0.1 with a ${MIB} MiB file; one page per browser speaking
docs/protocol.md with \`tests/web/bench-page.js\` (a new signaling + WebRTC connection per run,
\`download\` from offset 0, every frame's offset and first byte checked, \`end\` compared with the
catalog). Uploads send the same pattern bytes under the protocol's flow control (1 MiB /
256 KiB) and end at the seeder's \`done\` (hash verified, fsynced, linked). RcvbufErrors are read
from /proc/net/snmp before and after each run; daemon CPU is utime+stime from /proc/PID/stat.
MD
} >"$BENCH_OUT"
