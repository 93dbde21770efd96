#!/usr/bin/env bash
# Browser tests inside a private network namespace (scripts/netns-run.sh), with Debian's
# Chromium driven by playwright-core:
#  - the seeder's WebRTC transport (str0m) streams 10 consecutive 50 MiB payloads into headless
#    Chromium with default, mDNS-hidden ICE candidates, as phones use; one stall or corrupt
#    byte fails. Then 3 more with real IP candidates (--disable-features=WebRtcHideLocalIpsWithMdns).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --example peer_bench
bin="$PWD/target/release/examples/peer_bench"
if [ ! -d tests/web/node_modules ]; then
    (cd tests/web && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
scripts/netns-run.sh bash -c "cd tests/web && node peer-bench.mjs '$bin' 10 50 mdns && node peer-bench.mjs '$bin' 3 50 nomdns"
# The web client in Chromium and Firefox ESR against the real daemon binary: download a 20 MiB
# shared file through the UI (hash verified in the page; Chromium's saved file compared too),
# send a file to the seeder and find it in incoming, chat between two pages (shown as text),
# reconnect after a daemon restart, and a 375 px screenshot in target/test-artifacts/.
cargo build --locked --bin peerbox
scripts/netns-run.sh bash -c "cd tests/web && node run.mjs '$PWD/target/debug/peerbox'"
