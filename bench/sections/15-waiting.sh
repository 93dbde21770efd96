#!/usr/bin/env bash
# Item 15: daemon CPU follows bytes, not time. CPU seconds over WAIT_SECS (10) with a client
# connected and idle, with a download whose receiver stopped reading (window full), and idle
# after the client left: no busy polling means all three are close to zero.
source "$(dirname "$0")/../rtc-lib.sh"
rtc_build --example bench_wait
SECS=${BENCH_WAIT_SECS:-10}
kv="$BENCH_DIR/15-waiting.kv"
"$BENCH_EXAMPLES/bench_wait" "$RTC_PEERBOX" "$SECS" | tee "$kv"
bench_load_kv "$kv"
v() { echo "${KV[$1]:-n/a}"; }
bench_check "Daemon CPU while a download waits on a full window (${SECS} s)" max 0.1 s "$(v waiting_cpu_secs)"
cat >"$BENCH_OUT" <<MD
## 15. CPU while nothing moves

| ${SECS} s of … | daemon CPU (utime + stime) |
|---|---|
| a connected client, no transfer | $(v idle_connected_cpu_secs) s |
| **a download whose receiver stopped reading** (window full) | **$(v waiting_cpu_secs) s** |
| no client (after it left) | $(v idle_cpu_secs) s |

Sending costs CPU per byte (sections 1, 9 and 11 give seconds per GiB); waiting costs none:
the seeder's link sleeps until the transport reports room (buffered-amount-low), and the SCTP
association's only timers then are its retransmission (zero-window probe) and heartbeat timers.

**How it was measured.** \`examples/bench_wait.rs\` starts the release daemon on loopback with a
256 MiB file and connects \`peerbox::client\`. Phase 1: connected, idle. Phase 2: it requests the
file and never reads: the client's transport stops reading past its receive backlog, its SCTP
window closes, the seeder's send buffer fills and the link waits (3 s to settle first). Phase 3:
2 s after the client closed. CPU is read from /proc/PID/stat at the start and end of each phase.
MD
