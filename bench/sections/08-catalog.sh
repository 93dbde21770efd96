#!/usr/bin/env bash
# Item 8: catalog scan + hashing of 10,000 files; hashing throughput against b3sum.
set -euo pipefail
source "$BENCH_ROOT/bench/lib.sh"

MIB=${BENCH_HASH_MIB:-1024} RUNS=${BENCH_HASH_RUNS:-5}
kv="$BENCH_DIR/08-catalog.kv"
(cd "$BENCH_DIR" && "$BENCH_EXAMPLES/bench_catalog" "$MIB" "$RUNS") | tee "$kv"
bench_load_kv "$kv"
v() { echo "${KV[$1]:-n/a}"; }

cat >"$BENCH_OUT" <<MD
## 8. Catalog and hashing

| Catalog of $(v files) files, $(v files_mb) MB | |
|---|---|
| Initial scan (\`Catalog::start\` returns, every file known) | $(v scan_secs) s |
| Scan + all files hashed and offered | $(v catalog_full_secs) s ($(v catalog_mb_s) MB/s) |
| Hashing inside the catalog (scan excluded), median of $(v runs) | $(v catalog_hash_only_mb_s) MB/s, against the bare routine alternating with it: $(v bare_alternating_mb_s) MB/s |

| BLAKE3 throughput, warm cache | peerbox | b3sum (baseline) | ratio |
|---|---|---|---|
| One $MIB MiB file | $(v big_ours_mb_s) MB/s | $(v big_b3sum_mb_s) MB/s | **$(v big_ratio)×** |
| The $(v files) files | $(v many_ours_mb_s) MB/s | $(v many_b3sum_mb_s) MB/s | **$(v many_ratio)×** |
| One $MIB MiB file, previous routine (4 MiB reads + \`update_rayon\`) | $(v big_previous_mb_s) MB/s | | $(v big_previous_ratio)× |

Hashing inside the catalog ran at **$(v catalog_vs_bare)×** the bare routine's throughput on the
same files with as many threads (each a median of $(v runs) runs, the two alternating; the first
catalog run above, scan included, at $(awk -v c="${KV[catalog_mb_s]:-0}" -v o="${KV[bare_alternating_mb_s]:-1}" 'BEGIN { printf "%.2f", c / o }')×). In CPU time, which a busy machine
disturbs less than wall time, the catalog used $(v catalog_cpu_ms) ms for those runs against the
bare routine's $(v bare_cpu_ms) ms: **$(v catalog_vs_bare_cpu)×** the routine's throughput per CPU second. It was 0.18× before issue 18: the
watcher registered \`IN_OPEN\`, so every file the catalog opened to hash came back as an event
to probe, and every directory walk raised events that walked it again; on top, each 50 ms tick
rebuilt and compared the whole entry map. Now the watcher asks for changes only, a change costs
one entry in a persistent map, and \`hash_concurrency\` threads take small batches from one
shared queue until it is empty.

**How it was measured.** \`examples/bench_catalog.rs\` writes $(v files) files into 100
folders of a temp dir (60 % of 1–8 KiB, 30 % of 16–32 KiB, 9 % of 64–128 KiB, 1 % of 1 MiB;
random content), then starts the real \`peerbox::watch::Catalog\` on them with
\`watch.settle_ms = 0\` and the default \`hash_concurrency = $(v hash_concurrency)\`, polling
\`hashes_computed()\` and the snapshot every 5 ms. The files were just written, so they are in
the page cache: this is CPU and syscall cost, not disk speed.
Throughput: each contender once to warm up, then $(v runs) alternating runs each; the median
is shown. peerbox = \`peerbox::watch::hash::hash_file\` in-process (positional reads of 256 KiB
into a per-thread buffer; files over 1 MiB split along BLAKE3's tree into 1 MiB subtrees hashed
on the rayon pool and merged); for many files, $(v hash_concurrency) threads take one file at a
time, as the catalog does. b3sum = \`b3sum --no-names FILE…\` as a child process (mmap and
multithreading for large files, files one after another), its start-up included. Ratio =
b3sum time / our time (above 1 = faster than b3sum). MB = 10⁶ bytes.
MD

bench_check "Hashing a $MIB MiB file vs b3sum" min 0.9 "×" "$(v big_ratio)"
bench_check "Hashing 10,000 files vs b3sum" min 0.9 "×" "$(v many_ratio)"
bench_check "Hashing inside the catalog vs the bare routine (10,000 files, wall time)" min 0.8 "×" "$(v catalog_vs_bare)"
bench_check "Hashing inside the catalog vs the bare routine (10,000 files, CPU time)" min 0.8 "×" "$(v catalog_vs_bare_cpu)"
[ "$(v many_ratio)" != n/a ]
