#!/usr/bin/env bash
# The benchmark command: builds release binaries, runs each section, assembles bench/REPORT.md.
#
#   scripts/bench.sh                      # every section
#   scripts/bench.sh signaling catalog    # only these (by name or number: 06, 6, signaling)
#   BENCH_SECTIONS="memory" scripts/bench.sh
#
# The contract a section follows is in docs/benchmarks.md. A section that is not run or fails
# still gets a fragment saying so, so the report never silently loses a figure.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export BENCH_DIR="$CARGO_TARGET_DIR/bench"
export BENCH_ROOT="$ROOT"
export BENCH_PEERBOX="$CARGO_TARGET_DIR/release/peerbox"
export BENCH_EXAMPLES="$CARGO_TARGET_DIR/release/examples"
mkdir -p "$BENCH_DIR"
# shellcheck source=../bench/lib.sh
source "$ROOT/bench/lib.sh"

selected=("$@")
if [ ${#selected[@]} -eq 0 ] && [ -n "${BENCH_SECTIONS:-}" ]; then
    read -r -a selected <<<"${BENCH_SECTIONS//,/ }"
fi

# A section is chosen by its full stem (06-signaling), its name (signaling) or its number (06, 6).
is_selected() {
    local stem="$1" num="${1%%-*}" name="${1#*-}" want
    [ ${#selected[@]} -eq 0 ] && return 0
    for want in "${selected[@]}"; do
        case "$want" in
            "$stem" | "$name" | "$num" | "$((10#$num))") return 0 ;;
        esac
    done
    return 1
}

sections=()
for script in "$ROOT"/bench/sections/[0-9][0-9]-*.sh; do
    [ -e "$script" ] && sections+=("$(basename "$script" .sh)")
done

any=0
for stem in "${sections[@]}"; do is_selected "$stem" && any=1; done
if [ ${#selected[@]} -gt 0 ] && [ $any -eq 0 ]; then
    echo "no section matches: ${selected[*]} (have: ${sections[*]})" >&2
    exit 2
fi

run_start=$(date +%s)
export BENCH_RUN_ID="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

echo "== build (release: peerbox, examples, criterion benches)" >&2
build_start=$(date +%s)
if [ -n "${BENCH_NO_BUILD:-}" ]; then
    echo "   skipped (BENCH_NO_BUILD): using the binaries already in $CARGO_TARGET_DIR/release" >&2
elif ! { cargo build --release --bin peerbox --examples && cargo bench --no-run; } >"$BENCH_DIR/build.log" 2>&1; then
    tail -30 "$BENCH_DIR/build.log" >&2
    echo "release build failed, see $BENCH_DIR/build.log" >&2
    exit 1
fi
export BENCH_BUILD_SECS=$(($(date +%s) - build_start))

# Untimed preparation (installing a baseline tool, say): bench/prepare/NN-name.sh, optional.
prepare_start=$(date +%s)
for stem in "${sections[@]}"; do
    is_selected "$stem" || continue
    [ -f "$ROOT/bench/prepare/$stem.sh" ] || continue
    echo "== prepare $stem" >&2
    bash "$ROOT/bench/prepare/$stem.sh" >"$BENCH_DIR/$stem.prepare.log" 2>&1 ||
        echo "   preparation failed, see $BENCH_DIR/$stem.prepare.log" >&2
done
export BENCH_PREPARE_SECS=$(($(date +%s) - prepare_start))

failed=0
sections_start=$(date +%s)
for stem in "${sections[@]}"; do
    is_selected "$stem" || continue
    frag="$BENCH_DIR/$stem.md"
    rm -f "$frag" "$BENCH_DIR/$stem.targets" "$BENCH_DIR/$stem.status"
    echo "== section $stem" >&2
    t0=$(date +%s)
    # A section may ask for more time with a `# bench-timeout: SECONDS` line.
    limit=$(sed -n 's/^# bench-timeout: \([0-9][0-9]*\)$/\1/p' "$ROOT/bench/sections/$stem.sh" | head -n 1)
    BENCH_OUT="$frag" BENCH_TARGETS="$BENCH_DIR/$stem.targets" BENCH_SECTION="$stem" \
        timeout --kill-after=10 "${BENCH_SECTION_TIMEOUT:-${limit:-300}}" \
        bash "$ROOT/bench/sections/$stem.sh" >"$BENCH_DIR/$stem.log" 2>&1
    rc=$?
    secs=$(($(date +%s) - t0))
    printf '%s\t%s\t%s\n' "$rc" "$secs" "$BENCH_RUN_ID" >"$BENCH_DIR/$stem.status"
    if [ $rc -ne 0 ]; then
        failed=1
        echo "   failed (exit $rc) after ${secs}s, log: $BENCH_DIR/$stem.log" >&2
        tail -5 "$BENCH_DIR/$stem.log" >&2
    else
        echo "   done in ${secs}s" >&2
    fi
done
export BENCH_SECTIONS_SECS=$(($(date +%s) - sections_start))
export BENCH_TOTAL_SECS=$(($(date +%s) - run_start))

bench_assemble "${sections[@]}" >"$ROOT/bench/REPORT.md"
echo "== wrote bench/REPORT.md: sections ${BENCH_SECTIONS_SECS}s (build ${BENCH_BUILD_SECS}s, preparation ${BENCH_PREPARE_SECS}s)" >&2
exit $failed
