#!/usr/bin/env bash
# Debian package checks: build the .deb, inspect its files, conffiles, control fields and
# maintainer scripts, run the packaged binary with the packaged config against temp folders,
# verify the systemd unit, and smoke-test the arm64 build under qemu-user.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# smoke RUNNER... : start the binary (optionally under qemu) with the packaged config, check it
# serves /healthz and the page and logs, then stop it with SIGTERM and expect exit 0.
smoke() {
    local port log
    port=$(free_port)
    log="$work/smoke-$port.log"
    "$@" run --config "$root/etc/peerbox/config.toml" --system-config /nonexistent \
        --listen "127.0.0.1:$port" --share-dir "$work/share" --incoming-dir "$work/incoming" \
        --state-dir "$work/state" >"$log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 1 300); do
        curl -fsS "http://127.0.0.1:$port/healthz" >"$work/health.json" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { cat "$log"; fail "daemon exited early"; }
        sleep 0.1
    done
    grep -q '"status":"ok"' "$work/health.json" || { cat "$log"; fail "no healthz from $*"; }
    # Into a file first: `grep -q` stops reading at the first match, and with pipefail curl's
    # failed write (exit 23) would fail a page that was served.
    curl -fsS "http://127.0.0.1:$port/" -o "$work/page.html" && grep -q '<title>peerbox' "$work/page.html" ||
        fail "page not served by $*"
    grep -q 'listening' "$log" || { cat "$log"; fail "no log line from $*"; }
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$log"; fail "exit status $rc after SIGTERM from $*"; }
    echo "smoke ok: $* (healthz, page, log, SIGTERM exit 0)"
}

echo "--- building the native .deb"
cargo deb --locked --output "$work/" >/dev/null
deb=$(ls "$work"/peerbox_*.deb)
echo "built $(basename "$deb")"
arch=$(dpkg --print-architecture)
[[ "$(basename "$deb")" == peerbox_*_"$arch".deb ]] || fail "unexpected name $(basename "$deb")"

echo "--- file list"
dpkg-deb -c "$deb" >"$work/files.txt"
for f in ./usr/bin/peerbox ./etc/peerbox/config.toml ./usr/lib/systemd/system/peerbox.service \
    ./etc/avahi/services/peerbox.service ./usr/lib/sysctl.d/60-peerbox.conf \
    ./usr/share/doc/peerbox/README.md ./usr/share/doc/peerbox/config.toml; do
    grep -q " $f\$" "$work/files.txt" || fail "missing $f"
done
grep -q 'rwxr-xr-x.* ./usr/bin/peerbox$' "$work/files.txt" || fail "binary not executable"

echo "--- control fields, conffiles, maintainer scripts"
for field in Package Version Architecture Maintainer Depends Description Section; do
    [ -n "$(dpkg-deb -f "$deb" "$field")" ] || fail "control field $field empty"
done
[ "$(dpkg-deb -f "$deb" Package)" = peerbox ] || fail "package name"
dpkg-deb -f "$deb" Depends | grep -q adduser || fail "Depends lacks adduser"
mkdir -p "$work/ctrl"
dpkg-deb -e "$deb" "$work/ctrl"
grep -qx /etc/peerbox/config.toml "$work/ctrl/conffiles" || fail "config.toml is not a conffile"
for s in postinst prerm postrm; do
    [ -x "$work/ctrl/$s" ] || fail "maintainer script $s missing"
    sh -n "$work/ctrl/$s" || fail "$s has a syntax error"
done
grep -q 'adduser --system' "$work/ctrl/postinst" || fail "postinst creates no system user"
grep -q 'sysctl -q -p /usr/lib/sysctl.d/60-peerbox.conf' "$work/ctrl/postinst" || fail "postinst does not apply the socket buffer ceilings"
grep -q 'purge' "$work/ctrl/postrm" || fail "postrm has no purge branch"
grep -qx /etc/avahi/services/peerbox.service "$work/ctrl/conffiles" || fail "avahi service is not a conffile"

echo "--- purge keeps users' files"
# The packaged postrm against a stand-in /var/lib/peerbox holding users' files.
var="$work/var-peerbox"
mkdir -p "$var/share/photos" "$var/incoming/.peerbox-partial" "$var/state"
echo dropped >"$var/share/photos/a.jpg"
echo received >"$var/incoming/b.bin"
echo partial >"$var/incoming/.peerbox-partial/0123.part"
echo key >"$var/state/signal.key"
out=$(PEERBOX_VAR_DIR="$var" sh "$work/ctrl/postrm" purge)
[ -f "$var/share/photos/a.jpg" ] && [ -f "$var/incoming/b.bin" ] || fail "purge deleted users' files"
[ ! -e "$var/state" ] && [ ! -e "$var/incoming/.peerbox-partial" ] || fail "purge left the package's state"
echo "$out" | grep -q "kept $var/share" && echo "$out" | grep -q "kept $var/incoming" || fail "purge did not say what it kept: $out"
rm "$var/share/photos/a.jpg" "$var/incoming/b.bin"
rmdir "$var/share/photos"
PEERBOX_VAR_DIR="$var" sh "$work/ctrl/postrm" purge >/dev/null
[ ! -e "$var" ] || fail "purge left empty folders: $(ls -A "$var")"
echo "purge: users' files kept and named, state removed, empty folders removed"

echo "--- packaged binary with the packaged config"
root="$work/root"
dpkg-deb -x "$deb" "$root"
grep -q '/var/lib/peerbox/share' "$root/etc/peerbox/config.toml" || fail "packaged paths"
"$root/usr/bin/peerbox" check-config --config "$root/etc/peerbox/config.toml" \
    --system-config /nonexistent >/dev/null || fail "packaged config invalid"
smoke "$root/usr/bin/peerbox"

echo "--- systemd unit"
unit="$root/usr/lib/systemd/system/peerbox.service"
# ExecStart's /usr/bin/peerbox is absent on a machine without the package installed; check
# everything else, then the same unit with ExecStart pointed at the unpacked binary.
sed "s#/usr/bin/peerbox#$root/usr/bin/peerbox#" "$unit" >"$work/peerbox.service"
out=$(systemd-analyze verify --man=no "$work/peerbox.service" 2>&1 || true)
[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify is not clean"; }
for key in 'Type=notify' 'Restart=on-failure' 'ProtectSystem=strict' 'NoNewPrivileges=yes' \
    'PrivateTmp=yes' 'ProtectHome=yes' 'SystemCallFilter=@system-service' 'MemoryMax=' \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK' 'ReadWritePaths=/var/lib/peerbox'; do
    grep -q "^$key" "$unit" || fail "unit lacks $key"
done
echo "systemd-analyze verify: clean"

echo "--- arm64 build under qemu-user"
cargo build --release --locked --target aarch64-unknown-linux-gnu
arm="target/aarch64-unknown-linux-gnu/release/peerbox"
file "$arm" 2>/dev/null | grep -qi 'aarch64' || readelf -h "$arm" | grep -q AArch64 || fail "not an arm64 binary"
smoke qemu-aarch64-static -L /usr/aarch64-linux-gnu "$arm"
echo "test-package: all checks passed"
