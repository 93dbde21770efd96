// The WebRTC stack comparison (bench item 9), inside scripts/netns-run.sh: the same bench page
// (examples/peer_bench.html) against examples/peer_bench (the seeder's str0m transport) and
// examples/peer_bench_webrtc_rs (the same server on webrtc-rs), both directions, RUNS times,
// alternating stacks run by run so both see the same machine load. Per run: MB/s, the server's
// CPU time (utime+stime from /proc/PID/stat) and its peak RSS (VmHWM, reset before each run
// through /proc/PID/clear_refs). Prints one JSON object on the last line of stdout.
// Usage: [PEER_MAX_BUFFERED=BYTES] node stack-bench.mjs STR0M_BIN WEBRTC_RS_BIN RUNS SIZE_MIB
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [str0mBin, webrtcRsBin, runsArg = '3', sizeArg = '100'] = process.argv.slice(2);
const RUNS = Number(runsArg);
const SIZE = Number(sizeArg) * 1048576;
const STALL_MS = 15000;
const log = (...a) => console.error(...a);

function start(bin) {
  // PEER_MAX_BUFFERED gives both servers the same send window (default: each stack's own).
  const window = process.env.PEER_MAX_BUFFERED ? [process.env.PEER_MAX_BUFFERED] : [];
  const child = spawn(bin, ['10.77.0.1', ...window], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      const m = String(d).match(/listening on (\S+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (c) => reject(new Error(`${bin} exited ${c}`)));
  });
  return { child, url };
}
const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const status = (pid, key) => Number((readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${key}:\\s+(\\d+)`)) || [])[1] || 0);
const resetPeak = (pid) => { try { writeFileSync(`/proc/${pid}/clear_refs`, '5'); return true; } catch { return false; } };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : null; };

const stacks = { str0m: start(str0mBin), 'webrtc-rs': start(webrtcRsBin) };
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
const result = { runs: RUNS, size_mib: SIZE / 1048576, peak_reset: true, results: {} };
let failed = 0;
try {
  const pages = {};
  for (const [name, s] of Object.entries(stacks)) {
    pages[name] = await browser.newPage();
    await pages[name].goto(await s.url);
  }
  for (let i = 0; i < RUNS; i++) {
    for (const dir of ['download', 'upload']) {
      for (const name of Object.keys(stacks)) {
        const pid = stacks[name].child.pid;
        result.peak_reset = resetPeak(pid) && result.peak_reset;
        const cpu0 = cpuOf(pid);
        const r = await pages[name].evaluate(([d, s, t]) => window[d](s, t), [dir, SIZE, STALL_MS]);
        r.cpuSecs = cpuOf(pid) - cpu0;
        r.peakKib = status(pid, 'VmHWM');
        r.mbps = r.ok ? r.bytes / 1e6 / (r.ms / 1000) : 0;
        if (!r.ok) failed += 1;
        ((result.results[name] ||= {})[dir] ||= []).push(r);
        log(`run ${i + 1} ${dir} ${name}: ${r.ok ? 'ok' : `FAIL (${r.why})`} ${r.mbps.toFixed(1)} MB/s, ` +
          `server CPU ${r.cpuSecs.toFixed(2)} s, peak RSS ${(r.peakKib / 1024).toFixed(1)} MiB`);
      }
    }
  }
  result.summary = {};
  for (const [name, dirs] of Object.entries(result.results)) {
    for (const [dir, rs] of Object.entries(dirs)) {
      (result.summary[name] ||= {})[dir] = {
        median_mbps: median(rs.map((r) => r.mbps)),
        all_mbps: rs.map((r) => r.mbps),
        median_cpu_secs: median(rs.map((r) => r.cpuSecs)),
        max_peak_kib: Math.max(...rs.map((r) => r.peakKib)),
        failed: rs.filter((r) => !r.ok).map((r) => r.why),
      };
    }
  }
} finally {
  await browser.close();
  for (const s of Object.values(stacks)) s.child.kill();
}
result.failed = failed;
console.log(JSON.stringify(result));
