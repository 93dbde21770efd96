#!/usr/bin/env bash
# Cross-builds the Raspberry Pi packages: arm64 (aarch64, Pi 3/4/5 on a 64-bit OS) and armhf
# (armv7, 32-bit Raspberry Pi OS). Uses Debian's cross compilers; linkers are set in
# .cargo/config.toml. Packages land in target/debian/.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=()
command -v aarch64-linux-gnu-gcc >/dev/null || pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v arm-linux-gnueabihf-gcc >/dev/null || pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
if [ ${#pkgs[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}"
fi
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked

for target in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    cargo deb --locked --target "$target"
done
ls -l target/debian/*.deb 2>/dev/null || ls -l target/*/debian/*.deb
