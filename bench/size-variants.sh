#!/usr/bin/env bash
# Builds the release binary under several profile variants and records the stripped size of
# each in bench/binary-size.md. Too slow for the 10-minute bench (a full rebuild per variant),
# so it is run by hand when the profile or dependencies change; section 7 includes its table.
#   bench/size-variants.sh [variant...]      # variants: base cgu1 fat small small-z
#   bench/size-variants.sh --table           # rewrite bench/binary-size.md from the rows kept
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${SIZE_TARGET_DIR:-$ROOT/target/size}"
out="$ROOT/bench/binary-size.md"
# One row per variant, kept across runs so variants can be measured one at a time.
rows_file="$ROOT/bench/binary-size.tsv"
touch "$rows_file"
# Cargo.toml's profile (since a5cfd73) is "small"; the others undo parts of it to show what each
# part is worth. "base" is the profile before it.
old_levels() {
    echo "--config" "profile.release.opt-level=3" "--config" 'profile.release.package."*".opt-level=3'
}
flags() {
    case "$1" in
        base) old_levels; echo "--config" 'profile.release.lto="thin"' "--config" "profile.release.codegen-units=4" ;;
        cgu1) old_levels; echo "--config" 'profile.release.lto="thin"' ;;
        fat) old_levels ;;
        small) ;;
        # Cargo.toml's per-crate entries keep the hot path at opt-level 3; they beat "*".
        small-z) echo "--config" 'profile.release.opt-level="z"' "--config" 'profile.release.package."*".opt-level="z"' ;;
        *) echo "unknown variant $1" >&2; exit 2 ;;
    esac
}

describe() {
    case "$1" in
        base) echo 'before a5cfd73: `lto = "thin"`, `codegen-units = 4`, opt-level 3' ;;
        cgu1) echo 'base with `codegen-units = 1`' ;;
        fat) echo 'base with `codegen-units = 1`, `lto = "fat"`' ;;
        small) echo '**Cargo.toml**: fat + `opt-level = "s"` for every crate but the hot path' ;;
        small-z) echo 'fat + `opt-level = "z"` for every crate but the hot path' ;;
    esac
}

variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(base cgu1 fat small small-z)
[ "${variants[0]}" = --table ] && variants=() # only rewrite the table
for v in "${variants[@]+"${variants[@]}"}"; do
    # shellcheck disable=SC2046
    args=($(flags "$v"))
    t0=$(date +%s)
    echo "== $v: cargo build --release ${args[*]}" >&2
    cargo build --release --bin peerbox "${args[@]}" >&2
    strip -o "$CARGO_TARGET_DIR/peerbox-$v" "$CARGO_TARGET_DIR/release/peerbox"
    size=$(stat -c %s "$CARGO_TARGET_DIR/peerbox-$v")
    secs=$(($(date +%s) - t0))
    grep -v "^$v	" "$rows_file" >"$rows_file.new" || true
    printf '%s\t%s\t%s\t%s\t%s\n' "$v" "$size" "$secs" "$(date -u +%Y-%m-%d)" \
        "$(git rev-parse --short HEAD)" >>"$rows_file.new"
    mv "$rows_file.new" "$rows_file"
    echo "   $v: $size bytes stripped" >&2
done
{
    echo "Stripped size of \`peerbox\` per release-profile variant (\`bench/size-variants.sh\`,"
    echo "$(rustc --version), $(uname -m); MB = 10⁶ bytes; build time on a shared 2-core machine)."
    echo
    echo "| Variant | Profile | Stripped MB | Build s | Measured |"
    echo "|---|---|---|---|---|"
    for v in base cgu1 fat small small-z; do
        row=$(grep "^$v	" "$rows_file" || true)
        if [ -z "$row" ]; then
            echo "| $v | $(describe "$v") | not measured | | |"
        else
            IFS=$'\t' read -r _ size secs day commit <<<"$row"
            echo "| $v | $(describe "$v") | $(awk -v b="$size" 'BEGIN { printf "%.2f", b / 1e6 }') | $secs | $day, $commit |"
        fi
    done
} >"$out"
cat "$out"
