#!/usr/bin/env bash
# Item 16: the phone experience. Lighthouse (npm lighthouse 11, mobile profile, Debian's
# Chromium) on the page the release daemon serves, over http and HTTPS, with the PWA
# installability audits over HTTPS; the page's first-load bytes (gzip as served, BLAKE3 code
# included); and how soon the file list shows after opening the page, in the browser tests'
# namespace.
set -euo pipefail
source "$BENCH_ROOT/bench/lib.sh"

lh="$BENCH_DIR/16-lighthouse.txt"
cd "$BENCH_ROOT/tests/web"
[ -d node_modules/lighthouse ] || PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null
"$BENCH_ROOT/scripts/netns-run.sh" node lighthouse.mjs "$BENCH_PEERBOX" | tee "$lh"
rm -f "$BENCH_DIR/phone-figures.tsv"
WEBTEST_ARTIFACTS="$BENCH_DIR" WEBTEST_BROWSERS=chromium WEBTEST_GREP='file list shows soon' \
    "$BENCH_ROOT/scripts/netns-run.sh" node run.mjs "$BENCH_PEERBOX" | tee "$BENCH_DIR/16-filelist.txt"
cd "$BENCH_ROOT"

v() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$lh"; }
shown=$(awk -F'\t' '$1 == "files_shown_ms" { print $3; exit }' "$BENCH_DIR/phone-figures.tsv" 2>/dev/null || true)
runs=$(awk -F'\t' '$1 == "files_shown_ms" { print $4; exit }' "$BENCH_DIR/phone-figures.tsv" 2>/dev/null || true)
gz=$(v first_load_gzip_bytes)
kb=$(awk -v b="${gz:-0}" 'BEGIN { printf "%.1f", b / 1000 }')

bench_check "Lighthouse performance (mobile, https)" min 95 "" "$(v https_performance)"
bench_check "Lighthouse accessibility (mobile, https)" min 95 "" "$(v https_accessibility)"
bench_check "Lighthouse best practices (mobile, https)" min 95 "" "$(v https_best_practices)"
inst=$(v https_installable)
bench_target "Installable over HTTPS (Lighthouse installable-manifest)" "passes" "$inst" \
    "$([ "$inst" = yes ] && echo met || echo missed)"
bench_check "Page first load, gzip (BLAKE3 code included)" max 100 KB "$kb"
bench_check "File list shown after opening the page (median)" max 300 ms "${shown:-n/a}"

cat >"$BENCH_OUT" <<MD
## 16. Phone experience: Lighthouse, first load, time to the file list

| Lighthouse, mobile profile | http | https |
|---|---|---|
| Performance | $(v http_performance) | **$(v https_performance)** |
| Accessibility | $(v http_accessibility) | **$(v https_accessibility)** |
| Best practices | $(v http_best_practices) | **$(v https_best_practices)** |
| First contentful paint (simulated) | $(v http_fcp_ms) ms | $(v https_fcp_ms) ms |
| Largest contentful paint (simulated) | $(v http_lcp_ms) ms | $(v https_lcp_ms) ms |
| Cumulative layout shift | $(v http_cls) | $(v https_cls) |
| Total bytes transferred (Lighthouse, headers included) | $(v http_total_bytes) B | $(v https_total_bytes) B |
| Audits below full score | $(v http_failed_audits) | $(v https_failed_audits) |
| PWA: installable (\`installable-manifest\`) | | $(v https_installable) |
| PWA audits below full score | | $(v https_pwa_failed) |

| Figure | Measured |
|---|---|
| Page first load, gzip as served (HTML, CSS, icon, manifest, every module app.js imports statically, client.json, catalog.json, hash worker + BLAKE3) | **$kb KB** ($gz B) |
| File list shown after opening the page, median of 7 loads | **${shown:-n/a} ms** (runs: ${runs:-n/a}) |

\`is-on-https\` is the one best-practices audit plain http cannot pass; the https column is the
one the targets use. What loads later, on first use: the viewer (\`preview.js\`), shared files
(\`share.js\`), dropped folders (\`folders.js\`), tus-js-client (HTTP uploads).

**How it was measured.** \`tests/web/lighthouse.mjs\` in the test namespace
(\`scripts/netns-run.sh\`) starts the release daemon with HTTPS on (self-signed; its key is
pinned with \`--ignore-certificate-errors-spki-list\`, so Chromium treats the origin as secure),
a share of six files in three folders, and runs the Lighthouse CLI (npm \`lighthouse\` 11.7.1,
the last with the PWA category; default mobile emulation and simulated throttling) against
\`http://10.77.0.1:PORT/\` and \`https://...\`. First-load bytes: \`curl --compressed\` of each file the
page loads first (\`size_download\`, the gzip body), plus the hash worker and its BLAKE3 build.
File list: \`tests/web/suites/phone.mjs\` ("file list shows soon after opening the page") loads
the page 7 times in headless Chromium against the release daemon and reads the
\`peerbox-files-shown\` performance mark (ms from navigation start to the first render of the
file list, which comes from \`/catalog.json\` before the seeder's DataChannel opens).
MD
