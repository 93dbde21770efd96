#!/usr/bin/env bash
# Builds the daemon as it was before the transport moved to webrtc-rs (commit 789a993, the str0m
# driver), for section 9's same-run comparison: a clone under /tmp, built into this repository's
# target dir (no second one; cargo keys artifacts by their inputs), the binary copied to
# $BENCH_DIR/peerbox-str0m. Skipped when that binary exists. Several minutes cold.
set -euo pipefail
ROOT=${BENCH_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH_DIR=${BENCH_DIR:-$CARGO_TARGET_DIR/bench}
out="$BENCH_DIR/peerbox-str0m"
[ -x "$out" ] && exit 0
src=/tmp/peerbox-str0m-src
rm -rf "$src"
git clone -q "$ROOT" "$src"
git -C "$src" checkout -q 789a993
(cd "$src" && nice -n 5 cargo build --release --locked --bin peerbox)
mkdir -p "$BENCH_DIR"
cp "$CARGO_TARGET_DIR/release/peerbox" "$out"
rm -rf "$src"
# The shared target dir now holds the old binary: the sections need the current one again.
(cd "$ROOT" && nice -n 5 cargo build --release --locked --bin peerbox)
