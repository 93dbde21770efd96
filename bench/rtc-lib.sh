# Shared set-up of the WebRTC sections (bench/sections/01, 02, 05, 09), sourced by each. It fills
# in what scripts/bench.sh provides (docs/benchmarks.md) when a section is run alone
# (`bash bench/sections/01-seeder-chromium.sh`), so every section runs by itself too.
set -euo pipefail
BENCH_ROOT=${BENCH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$BENCH_ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$BENCH_ROOT/target}
BENCH_DIR=${BENCH_DIR:-$CARGO_TARGET_DIR/bench}
mkdir -p "$BENCH_DIR"
BENCH_SECTION=${BENCH_SECTION:-$(basename "$0" .sh)}
BENCH_OUT=${BENCH_OUT:-$BENCH_DIR/$BENCH_SECTION.md}
BENCH_TARGETS=${BENCH_TARGETS:-$BENCH_DIR/$BENCH_SECTION.targets}
if [ -z "${BENCH_RUN_ID:-}" ]; then
    : >"$BENCH_TARGETS"
fi
if [ -f bench/lib.sh ]; then
    # shellcheck source=/dev/null
    source bench/lib.sh
else
    bench_target() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$BENCH_TARGETS"; }
    bench_check() {
        local verdict sign
        sign=$([ "$2" = max ] && echo "≤" || echo "≥")
        verdict=$(awk -v k="$2" -v l="$3" -v m="$5" -v u="$4" 'BEGIN {
            d = (k == "max") ? m - l : l - m
            if (d <= 0) { printf "met"; exit }
            printf "missed by %.3g %s (%.0f %%)", d, u, 100 * d / l }')
        bench_target "$1" "$sign $3 $4" "$5 $4" "$verdict"
    }
fi

# Sizes and repetitions (the report states what was used).
RTC_MIB=${BENCH_RTC_MIB:-200}
RTC_RUNS=${BENCH_RTC_RUNS:-3}
STACK_MIB=${BENCH_STACK_MIB:-100}

# The release binaries: scripts/bench.sh builds them; alone, build what this section needs.
rtc_build() {
    if [ -z "${BENCH_RUN_ID:-}" ]; then
        nice -n 5 cargo build --release --locked --bin peerbox "$@" >&2
    fi
    RTC_PEERBOX=${BENCH_PEERBOX:-$CARGO_TARGET_DIR/release/peerbox}
    BENCH_EXAMPLES=${BENCH_EXAMPLES:-$CARGO_TARGET_DIR/release/examples}
}

# npm packages that drive Chromium (playwright-core).
rtc_node_deps() {
    if [ ! -d tests/web/node_modules ]; then
        (cd tests/web && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund >&2)
    fi
}

# `perf report` of PERF_DATA grouped into the costs the issue asks about (bench/perf_groups.py).
rtc_profile() {
    perf report -i "$1" --no-children --sort dso,sym --stdio -g none --percent-limit 0 2>/dev/null |
        python3 bench/perf_groups.py
}
