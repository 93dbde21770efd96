#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine, skipping whatever is already there:
# Debian's Chromium and Firefox ESR (browser tests), qemu-user and cross compilers (arm64 smoke
# run), systemd's analyzer (unit verification), iproute2 and nftables (test network namespaces,
# blocked UDP), coturn's turnutils_uclient (a TURN client that is not ours), cargo-deb.
set -euo pipefail

need_pkgs=()
want() { # want COMMAND-OR-PATH PACKAGE
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -e "$1" ]; then need_pkgs+=("$2"); fi
}
want /usr/bin/chromium chromium
want /usr/bin/firefox-esr firefox-esr
want node nodejs
want npm npm
want qemu-aarch64-static qemu-user-static
want aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
want /usr/aarch64-linux-gnu/lib/libc.so.6 libc6-dev-arm64-cross
want systemd-analyze systemd
want ip iproute2
want unshare util-linux
want dpkg-deb dpkg
want b3sum b3sum
want nft nftables
want tc iproute2
want turnutils_uclient coturn

if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "installing Debian packages: ${need_pkgs[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' || rustup target add aarch64-unknown-linux-gnu
command -v cargo-deb >/dev/null 2>&1 || cargo install cargo-deb --locked

if [ -f tests/web/package.json ] && [ ! -d tests/web/node_modules/tus-js-client ]; then
    (cd tests/web && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
