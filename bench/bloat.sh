#!/usr/bin/env bash
# What a binary's code is made of, by crate: sums the sizes of its text symbols (the release
# profile keeps symbols; only debug info is stripped). A stand-in for `cargo bloat --crates`
# that needs nothing beyond binutils. Usage: bench/bloat.sh BINARY [TOP]
set -euo pipefail
bin="$1" top="${2:-15}"
nm -S -t d --size-sort -C "$bin" 2>/dev/null | awk -v top="$top" '
    $3 ~ /^[tTwW]$/ {
        size = $2 + 0
        $1 = ""; $2 = ""; $3 = ""
        name = substr($0, 4)
        sub(/^(<|_<)/, "", name)
        if (name ~ /^aws_lc_|^bcm_|^OPENSSL_|^EVP_|^BN_|^ec_|^p256_|^x25519_|^ecp_nistz256|^aes_hw_|^gcm_/) crate = "aws-lc (C, via rcgen)"
        else if (name ~ /::/) { crate = name; sub(/::.*/, "", crate); sub(/ as .*/, "", crate); sub(/^&(mut )?/, "", crate) }
        else crate = "(C / libc / other)"
        sum[crate] += size; total += size
    }
    END {
        n = 0
        for (c in sum) order[n++] = c
        for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (sum[order[j]] > sum[order[i]]) { t = order[i]; order[i] = order[j]; order[j] = t }
        printf "| Crate | Code (KB) | Share |\n|---|---|---|\n"
        for (i = 0; i < n && i < top; i++) printf "| %s | %.0f | %.1f %% |\n", order[i], sum[order[i]] / 1e3, 100 * sum[order[i]] / total
        printf "| *all code symbols* | %.0f | 100 %% |\n", total / 1e3
    }'
