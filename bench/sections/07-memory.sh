#!/usr/bin/env bash
# Item 7: daemon memory (idle, with 1000 clients, during a 1 GiB download) and binary size.
set -euo pipefail
source "$BENCH_ROOT/bench/lib.sh"

CLIENTS=${BENCH_MEMORY_CLIENTS:-1000} MIB=${BENCH_MEMORY_MIB:-1024}
kv="$BENCH_DIR/07-memory.kv"
stripped="$BENCH_DIR/peerbox.stripped"
strip -o "$stripped" "$BENCH_PEERBOX"
{
    echo "binary_bytes $(stat -c %s "$BENCH_PEERBOX")"
    echo "stripped_bytes $(stat -c %s "$stripped")"
} >"$kv"
"$BENCH_EXAMPLES/bench_memory" "$BENCH_PEERBOX" "$CLIENTS" "$MIB" | tee -a "$kv"
bench_load_kv "$kv"
v() { echo "${KV[$1]:-n/a}"; }
mb() { [ -n "${KV[$1]:-}" ] && bench_kib_mb "${KV[$1]}" || echo n/a; }
bytes_mb() { awk -v b="${KV[$1]:-0}" 'BEGIN { printf "%.2f", b / 1e6 }'; }

cat >"$BENCH_OUT" <<MD
## 7. Daemon memory and binary size

| | RSS |
|---|---|
| **Idle** (seeder connected, empty share) | **$(mb idle_rss) MB** |
| With $CLIENTS idle signaling clients | $(mb clients_rss) MB |
| After those clients left | $(mb after_clients_rss) MB |
| $MIB MiB download: start | $(mb start_rss) MB |
| … at 25 % | $(mb rss_at_25) MB |
| … at 50 % | $(mb rss_at_50) MB |
| … at 75 % | $(mb rss_at_75) MB |
| … at 100 % | $(mb rss_at_100) MB |
| … max of $(v samples) samples | $(mb max_rss) MB |

The download ran at $(v download_mib_s) MiB/s ($(v download_secs) s, hash checked); the file
was offered $(v offered_after_secs) s after the client connected (hashing it included).

| Binary | Size |
|---|---|
| \`target/release/peerbox\` as built (\`strip = "debuginfo"\`) | $(bytes_mb binary_bytes) MB |
| **stripped** (\`strip\`) | **$(bytes_mb stripped_bytes) MB** |

**How it was measured.** \`examples/bench_memory.rs\` starts the release binary as a child on
127.0.0.1 in an empty temp dir (log level \`warn\`, connection caps lifted as in section 6,
\`seeder.webrtc.udp_bind = ["127.0.0.1"]\`, \`watch.settle_ms = 100\`) and reads VmRSS from
/proc: idle 3 s after start; with $CLIENTS clients that joined 100 rooms and idled 2 s; 2 s
after they disconnected. It then writes a $MIB MiB file into the share, connects the Rust
WebRTC client (\`peerbox::client\`: signaling, webrtc-rs DataChannel, transfer
protocol — the path a browser takes) and downloads it while a thread samples VmRSS every
200 ms; the 25/50/75 % figures are the first sample at or past that progress. MB = 10⁶ bytes.
MD

{
    echo
    echo "**What the binary is made of** (\`bench/bloat.sh\`: code symbol sizes by crate, top 12):"
    echo
    "$BENCH_ROOT/bench/bloat.sh" "$BENCH_PEERBOX" 12 || echo "(nm failed)"
    echo
    if [ -f "$BENCH_ROOT/bench/binary-size.md" ]; then
        echo "**Size per profile change** (not rerun by this command: each variant is a full rebuild):"
        echo
        cat "$BENCH_ROOT/bench/binary-size.md"
    fi
    if [ -f "$BENCH_ROOT/bench/binary-size-notes.md" ]; then
        echo
        cat "$BENCH_ROOT/bench/binary-size-notes.md"
    fi
} >>"$BENCH_OUT"

bench_check "Idle daemon RSS" max 15 MB "$(mb idle_rss)"
growth=$(awk -v a="${KV[rss_at_25]:-0}" -v b="${KV[rss_at_100]:-0}" 'BEGIN { printf "%.1f", (b - a) * 1024 / 1e6 }')
bench_target "RSS growth from 25 % to 100 % of a $MIB MiB download" "flat (≈ 0)" "$growth MB" \
    "$(awk -v g="$growth" 'BEGIN { print (g < 2 && g > -2) ? "met" : "missed: grows with the file" }')"
bench_check "Stripped binary size" max 10 MB "$(bytes_mb stripped_bytes)"
[ "$(v rss_at_100)" != n/a ]
