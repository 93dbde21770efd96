#!/usr/bin/env bash
# The aarch64 release build and the instruction-counting QEMU plugin for section 12 (untimed):
# Debian's qemu-user (dynamic; the static one cannot load plugins), the aarch64 cross compiler,
# then `cargo build --release --target aarch64-unknown-linux-gnu` (about 12 minutes cold on 2
# cores) and bench/pi/insn-count.c.
set -euo pipefail
ROOT=${BENCH_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH_DIR=${BENCH_DIR:-$CARGO_TARGET_DIR/bench}
mkdir -p "$BENCH_DIR"
pkgs=()
command -v qemu-aarch64 >/dev/null || pkgs+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
if [ ${#pkgs[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}"
fi
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
nice -n 5 cargo build --release --locked --target aarch64-unknown-linux-gnu --bin peerbox
gcc -O2 -shared -fPIC -o "$BENCH_DIR/insn-count.so" bench/pi/insn-count.c
