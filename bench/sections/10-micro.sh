#!/usr/bin/env bash
# Criterion micro-benchmarks of the small hot parts: hashing routine, signal parse, frames.
set -euo pipefail
source "$BENCH_ROOT/bench/lib.sh"

out="$BENCH_DIR/10-micro.txt"
: >"$out"
for b in hash signal frame; do
    cargo bench --bench "$b" -- --warm-up-time 1 --measurement-time 2 2>/dev/null | tee -a "$out"
done
{
    echo "## 10. Micro-benchmarks (criterion)"
    echo
    echo "| Benchmark | Time (median estimate) | Throughput |"
    echo "|---|---|---|"
    awk '
        function flush() { if (name != "" && time != "") printf "| `%s` | %s | %s |\n", name, time, thr; name = ""; time = ""; thr = "" }
        /^[a-z_]+(\/[A-Za-z0-9_]+)? +time:/ { flush(); name = $1 }
        /^[a-z_]+(\/[A-Za-z0-9_]+)? *$/ { flush(); name = $1; next }
        /time:/ { sub(/.*time: *\[/, ""); split($0, t, " "); time = t[3] " " t[4]; next }
        /thrpt:/ { sub(/.*thrpt: *\[/, ""); split($0, t, " "); thr = t[3] " " t[4]; flush(); next }
        /^Found|^$/ { flush() }
        END { flush() }
    ' "$out"
    echo
    echo "**How it was measured.** \`cargo bench --bench hash|signal|frame -- --warm-up-time 1"
    echo "--measurement-time 2\` (criterion 0.7, short runs to fit the budget; run without the"
    echo "flags for tighter intervals). \`hash_file/*\`: \`peerbox::watch::hash::hash_file\` on a"
    echo "temp file of that size, warm cache. \`parse_signal_candidate\`: the strict parse of a"
    echo "client's ICE candidate signal; \`serialize_forwarded_signal\`: building the forwarded"
    echo "message. \`frame/*\`: a full 16 KiB transfer chunk."
} >"$BENCH_OUT"
grep -q '^| `' "$BENCH_OUT"
