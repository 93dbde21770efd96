#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (docs/hardening.md, "Fuzzing").
# Usage: scripts/fuzz.sh [seconds-per-target, default 60] [target...]
# Exits non-zero if any target crashed and prints where the crashing input was saved.
set -uo pipefail
secs=${1:-60}
shift $(($# > 0 ? 1 : 0))
cd "$(dirname "$0")/../fuzz" || exit 2

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(signal_parse transfer_message frame_decode incoming_name)
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi
# cargo-fuzz passes nightly-only flags (-Zsanitizer); this unlocks them on a stable toolchain.
export RUSTC_BOOTSTRAP=1

cargo fuzz build --target-dir target || exit 2

crashed=()
for t in "${targets[@]}"; do
    echo "=== fuzz $t for ${secs}s"
    # New inputs go to scratch/ (ignored by git); corpus/ holds the curated seeds, read only.
    mkdir -p "scratch/$t" "artifacts/$t"
    before=$(ls "artifacts/$t" | wc -l)
    if cargo fuzz run --target-dir target "$t" "scratch/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"scratch/$t.log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units)' "scratch/$t.log"
        echo "=== fuzz $t: ok"
    else
        tail -n 40 "scratch/$t.log"
        echo "=== fuzz $t: CRASHED; input(s):"
        ls -t "artifacts/$t" | head -n $(($(ls "artifacts/$t" | wc -l) - before)) |
            sed "s|^|    $PWD/artifacts/$t/|"
        crashed+=("$t")
    fi
done

if [ ${#crashed[@]} -gt 0 ]; then
    echo "crashed: ${crashed[*]} (reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET INPUT)"
    exit 1
fi
echo "all ${#targets[@]} targets ran ${secs}s without a crash"
