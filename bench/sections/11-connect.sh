#!/usr/bin/env bash
# Item 11: connectivity. 100 MiB download and upload between the daemon and Chromium/Firefox over
# HTTP (UDP dropped, the page's fallback) next to the DataChannel in the same run, and 50 MiB
# between two isolated Chromium pages through the TURN relay with the daemon's CPU per MiB.
set -euo pipefail
source "$BENCH_ROOT/bench/lib.sh"

out="$BENCH_DIR/11-connect.txt"
cd "$BENCH_ROOT/tests/web"
[ -d node_modules/tus-js-client ] || PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null
BENCH_CONNECT=1 WEBTEST_BROWSERS=chromium,firefox WEBTEST_GREP='100 MiB' \
    "$BENCH_ROOT/scripts/netns-run.sh" node run.mjs "$BENCH_PEERBOX" | tee "$out"
"$BENCH_ROOT/scripts/netns-relay.sh" node relay.mjs "$BENCH_PEERBOX" | tee -a "$out"
cd "$BENCH_ROOT"
cat >"$BENCH_OUT" <<MD
## 11. Connectivity: HTTP fallback and the TURN relay

\`\`\`
$(grep -E '^  (HTTP|WebRTC|relay):|^(ok|FAIL)' "$out")
\`\`\`

Lines in run order: each \`HTTP:\`/\`WebRTC:\` line belongs to the \`ok\` line after it (browser
named there). Rates include the page's BLAKE3 hashing (upload: hashing before sending).

**How it was measured.** \`tests/web/suites/connect.mjs\` in the test namespace
(\`scripts/netns-run.sh\`): with nftables dropping all UDP, the page falls back to HTTP and moves
100 MiB each way (download \`GET /files\`, upload tus); with \`BENCH_CONNECT=1\` the same page
sizes over the DataChannel give the baseline. \`tests/web/relay.mjs\` in the client-isolation
layout (\`scripts/netns-relay.sh\`): two Chromium pages in namespaces that reach the daemon but
not each other send 50 MiB; CPU = the daemon's utime+stime from \`/proc/<pid>/stat\` over the
transfer, divided by \`peerbox_turn_relayed_bytes_total\` (both directions) in MiB.
MD
