#!/usr/bin/env bash
# Same-run A/B of two peerbox binaries into and from headless Chromium, alternated in rounds so
# both see the same machine load (not a bench section: a tool for before/after checks).
#
#   bench/ab-chromium.sh OLD_BINARY NEW_BINARY [ROUNDS] > ab.out
#
# Per round and binary: 50 x 1 MiB downloads (one connection), 3 x 100 MiB downloads and
# 2 x 100 MiB uploads, each printing the JSON line of tests/web/seeder-bench.mjs.
set -uo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-2}
for round in $(seq "$rounds"); do
    for b in old new; do
        bin=$old; [ "$b" = new ] && bin=$new
        echo "== round $round $b small"
        scripts/netns-run.sh node tests/web/seeder-bench.mjs "$bin" small 50 1 2>/dev/null | tail -n 1
        echo "== round $round $b series"
        scripts/netns-run.sh env BENCH_BROWSER=chromium node tests/web/seeder-bench.mjs "$bin" series 3 100 2>/dev/null | tail -n 1
        echo "== round $round $b upload"
        scripts/netns-run.sh env BENCH_BROWSER=chromium node tests/web/seeder-bench.mjs "$bin" upload 2 100 2>/dev/null | tail -n 1
    done
done
