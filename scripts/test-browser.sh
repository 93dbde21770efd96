#!/usr/bin/env bash
# The web client against the real daemon binary, inside a private network namespace
# (scripts/netns-run.sh) so browsers gather ICE candidates: Debian's Chromium (playwright-core)
# and Firefox ESR (puppeteer-core, WebDriver BiDi), with default mDNS-hidden candidates as phones
# use, and Chromium again with real IP candidates for the transfer tests. tests/web/run.mjs lists
# the tests: 10 consecutive 50 MiB downloads with no stall, UI download and upload verified by
# hash, browser to browser, chat, restart and resume, HTTPS with OPFS and the service worker,
# and a 375 px screenshot in target/test-artifacts/; then tests/web/relay.mjs in the client-
# isolation layout of scripts/netns-relay.sh (TURN relay between two browsers).
set -euo pipefail
cd "$(dirname "$0")/.."

# Installed when any dependency of package.json is missing (a new one came with a merge).
missing=$(cd tests/web && node -e 'const fs = require("fs");
  console.log(Object.keys(require("./package.json").dependencies).filter((d) => !fs.existsSync(`node_modules/${d}`)).join(" "))')
if [ -n "$missing" ]; then
    (cd tests/web && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
# The lying peer of the swarm suite is a Rust client (examples/lying_peer.rs).
cargo build --locked --bin peerbox --example lying_peer
scripts/netns-run.sh bash -c "cd tests/web && node run.mjs '$PWD/target/debug/peerbox'"
# Client isolation: two browsers that reach the daemon but not each other, through its relay.
if [ -z "${WEBTEST_GREP:-}" ] || [[ relay == *"${WEBTEST_GREP}"* ]]; then
    scripts/netns-relay.sh bash -c "cd tests/web && node relay.mjs '$PWD/target/debug/peerbox'"
fi
