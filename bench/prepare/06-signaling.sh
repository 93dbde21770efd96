#!/usr/bin/env bash
# The baseline server, installed once from crates.io (untimed; a cold install takes minutes).
set -euo pipefail
if command -v matchbox_server >/dev/null || [ -x "$HOME/.cargo/bin/matchbox_server" ]; then
    echo "matchbox_server present"
    exit 0
fi
t0=$(date +%s)
cargo install matchbox_server --locked
echo "installed matchbox_server in $(($(date +%s) - t0))s" | tee "$BENCH_DIR/06-signaling.install"
