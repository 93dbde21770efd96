#!/usr/bin/env bash
# Item 12: large shares. The catalog with 10,000, 100,000 and 300,000 files: first hashing,
# idle CPU once settled, RSS per file, five pages, a drop until a page hears of it, cold start
# with the hash cache; and how each figure grows from the smallest to the largest size.
set -euo pipefail
source "$BENCH_ROOT/bench/lib.sh"

IDLE=${BENCH_LARGE_IDLE_SECS:-60}
SIZES=${BENCH_LARGE_SIZES:-10000 100000 300000}
kv="$BENCH_DIR/12-large-shares.kv"
# shellcheck disable=SC2086
(cd "$BENCH_DIR" && "$BENCH_EXAMPLES/bench_large_share" --daemon "$BENCH_PEERBOX" "$IDLE" $SIZES) | tee "$kv"
bench_load_kv "$kv"
v() { echo "${KV[$1]:-n/a}"; }
read -r -a sz <<<"$SIZES"
lo=${sz[0]} mid=${sz[1]:-${sz[0]}} hi=${sz[-1]}
# Growth exponent k in figure ~ files^k, from the smallest to the largest size.
exp() {
    awk -v a="${KV[${1}_$lo]:-}" -v b="${KV[${1}_$hi]:-}" -v n0="$lo" -v n1="$hi" 'BEGIN {
        if (a == "" || b == "" || a <= 0 || b <= 0 || n1 == n0) { print "n/a"; exit }
        printf "%.2f", log(b / a) / log(n1 / n0) }'
}
pct() { awk -v c="${KV[${2:-idle_cpu_secs}_$1]:-}" -v s="$IDLE" 'BEGIN { if (c == "") print "n/a"; else printf "%.3f", 100 * c / s }'; }
mb() { [ -n "${KV[$1]:-}" ] && bench_kib_mb "${KV[$1]}" || echo n/a; }
kb_file() { awk -v b="${KV[rss_bytes_per_file_$1]:-}" 'BEGIN { if (b == "") print "n/a"; else printf "%.2f", b / 1000 }'; }
pages_mb() { awk -v k="${KV[${2:-five_pages_kib}_$1]:-}" 'BEGIN { if (k == "") print "n/a"; else printf "%.1f", k * 1024 / 1e6 }'; }
row() { # label key-prefix formatter [per-file: the figure is divided by the file count]
    local out="| $1 |" k
    for n in "${sz[@]}"; do out+=" $($3 "$n" "$2") |"; done
    k=$(exp "$2")
    [ -n "${4:-}" ] && [ "$k" != n/a ] && k=$(awk -v k="$k" 'BEGIN { printf "%.2f", k - 1 }')
    echo "$out $k |"
}
raw() { v "${2}_$1"; }
cpu() { echo "$(v "${2}_$1") s ($(pct "$1" "$2") %)"; }
per_file() { awk -v k="${KV[daemon_rss_kib_$1]:-}" -v n="$1" 'BEGIN { if (k == "") print "n/a"; else printf "%.2f KB", k * 1024 / n / 1000 }'; }
rssf() { echo "$(kb_file "$1") KB"; }
pages() { echo "$(pages_mb "$1" "$2") MB"; }
total() { echo "$(mb "${2}_$1") MB"; }
secs() { echo "$(v "${2}_$1") s"; }

{
    echo "## 12. Large shares"
    echo
    printf '| files |'; for n in "${sz[@]}"; do printf ' %s |' "$n"; done; echo " growth exponent ($lo → $hi) |"
    printf '|---|'; for _ in "${sz[@]}"; do printf -- '---|'; done; echo '---|'
    row "First hashing, until every file is offered" first_hashing_secs secs
    row "Idle CPU once settled (catalog alone), CPU s over $IDLE s (% of one core)" idle_cpu_secs cpu
    row "File-system events while idle" idle_events raw
    row "RSS of the process" rss_kib total
    row "**RSS per file** (RSS after settling less before the catalog)" rss_bytes_per_file rssf
    row "**RSS added by five pages** (v2 sessions holding the whole list)" five_pages_kib pages
    row "The whole list on the wire (one page)" catalog_wire_bytes raw
    row "**Drop → delta sent to a page** (settle time $(v settle_ms) ms included)" drop_to_page_secs secs
    row "**Cold start, hash cache present**, until every file is offered" cold_start_secs secs
    row "Files hashed again at that cold start" cold_start_hashed raw
    row "**Whole daemon**: start with the hash cache until \`/metrics\` shows every file offered" daemon_start_secs secs
    row "**Whole daemon: idle CPU once settled**, CPU s over $IDLE s (% of one core)" daemon_idle_cpu_secs cpu
    row "Whole daemon: RSS" daemon_rss_kib total
    row "Whole daemon: RSS / files (everything it holds, per file)" daemon_rss_kib per_file per-file
    row "**Whole daemon: RSS added by five real pages** (WebRTC clients of the seeder holding the whole list)" daemon_five_pages_kib pages
    row "**Whole daemon: drop → listed in a real page** (settle time $(v settle_ms) ms included)" daemon_drop_to_page_secs secs
    cat <<MD

Exponent k: the figure grows as files^k between $lo and $hi files (1 = proportional, 0 =
constant); figures at or near zero (idle CPU) have no meaningful exponent.

**How it was measured.** \`examples/bench_large_share.rs\` writes the files (a few bytes each,
1,000 per folder, \`albumNNNN/IMG_NNNNNN.jpg\`) into a temp dir and runs the real
\`peerbox::watch::Catalog\` in its own process with the default settings (\`watch.settle_ms =
$(v settle_ms)\`, \`hash_concurrency = 2\`, inotify) except \`watch.max_files = 1000000\`, so
everything it measures is the catalog's: idle CPU is the process's utime + stime from
/proc/self/stat over $IDLE s once every file was offered and the hash cache written (nothing
else runs in it); RSS is VmRSS. The five pages are five version-2
\`peerbox::seeder::session::Session\`s (the sans-IO protocol a page speaks with the seeder's
links), each sent \`hello\` and drained of the whole list, held open: the RSS they add is what
five open pages cost the catalog and protocol state (the WebRTC transport's own buffers per
connection are not in it). The drop is a file written into a new folder, timed until the
first page's session produces the \`catalog_delta\` naming it (the settle time is part of it:
a file is offered only after its size and mtime stayed the same for \`settle_ms\`). Cold start
runs the catalog again on the same state directory and times \`Catalog::start\` until it
offers every file. Then the release daemon (\`peerbox run\`, seeder on, \`watch.max_files =
1000000\`, log level warn) starts on the same share and state directory: its start is timed from
spawning the process until \`/metrics\` shows every file offered (the hash cache present), its
idle CPU is its utime + stime over $IDLE s, 4 s after that, with no client connected. Then
five real pages connect: \`peerbox::client\` WebRTC connections to the seeder over loopback
(signaling, ICE, DTLS, SCTP, DataChannel, \`hello\` version 2), each until its catalog holds
every file; the daemon's VmRSS 2 s later, less its idle RSS, is what five open pages cost it
(transport buffers included). A file is then written into a new folder and timed until the
first page's catalog (applied from the \`catalog_delta\` on the wire) lists it.
MD
} >"$BENCH_OUT"

bench_check "Idle CPU after settling, $mid files, whole daemon (CPU s over $IDLE s, % of a core)" max 1 "%" "$(pct "$mid" daemon_idle_cpu_secs)"
bench_check "RSS per catalogued file, $mid files" max 1 KB "$(kb_file "$mid")"
bench_check "RSS added by five open pages (real WebRTC clients), $mid files, whole daemon" max 5 MB "$(pages_mb "$mid" daemon_five_pages_kib)"
drop_after=$(awk -v d="${KV[daemon_drop_to_page_secs_$mid]:-}" -v s="${KV[settle_ms]:-1000}" 'BEGIN { if (d == "") print "n/a"; else printf "%.2f", d - s / 1000 }')
bench_check "Drop → open page (real client), $mid files, beyond the settle time" max 2 s "$drop_after"
bench_check "Cold start with the hash cache, $mid files, whole daemon" max 3 s "$(v "daemon_start_secs_$mid")"
[ "$(v "cold_start_secs_$hi")" != n/a ]
