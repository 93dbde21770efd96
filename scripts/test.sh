#!/usr/bin/env bash
# Runs every peerbox test: formatting, lints, unit and integration tests (real sockets, real
# files, real WebRTC peers, headless Chromium and Firefox in a private network namespace), and
# a short soak run that must show no growth, and the Debian package checks with an arm64 smoke
# run under qemu. Installs missing tools first.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh || { echo "stages: 0 passed, 1 failed"; exit 1; }

passed=0
failed=0
stage() { # stage NAME COMMAND...
    local name=$1
    shift
    echo "=== $name"
    local start=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: ok ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1))
        echo "=== $name: FAILED ($((SECONDS - start)) s)"
    fi
}

stage "cargo fmt --check" cargo fmt --check
stage "cargo clippy" cargo clippy --all-targets --locked -- -D warnings
stage "cargo test" cargo test --all-targets --locked
# The tests of our changes to the patched WebRTC crates (patches/README.md), in their own
# package, built into the same target dir.
patched() {
    (cd patches/rtc-sctp && cargo test --locked --lib --target-dir "${CARGO_TARGET_DIR:-../../target}" -- \
        pacer burst_loss pacing retransmission_review test_assoc_abort tlp:: tail_probe window_opened)
}
stage "patched crates" patched
# Churn against the real daemon; fails if RSS, fds or tasks grow. `cargo test` builds the example
# only as a test harness, so build the runnable one here (the dependencies are already built).
soak() {
    cargo build --locked --bin peerbox --example soak &&
        target/debug/examples/soak target/debug/peerbox --secs 30
}
stage "soak (30 s)" soak
for extra in scripts/test-browser.sh scripts/test-package.sh; do
    if [ -x "$extra" ]; then stage "$extra" "$extra"; fi
done

echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
