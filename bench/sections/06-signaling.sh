#!/usr/bin/env bash
set -euo pipefail
source "$BENCH_ROOT/bench/lib.sh"
echo "not written yet" >&2
exit 1
