// Downloads RUNS x SIZE from examples/peer_bench (the seeder's str0m transport) into headless
// Chromium and reports MB/s, setup time and time to first byte per run. Any stall (no progress
// for STALL_MS) or corrupt byte fails. Run inside scripts/netns-run.sh.
// Usage: node peer-bench.mjs PEER_BENCH_BINARY [runs] [size_mib] [mdns|nomdns]
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const [bin, runsArg, sizeArg, mode] = process.argv.slice(2);
const RUNS = Number(runsArg || 10);
const SIZE = Number(sizeArg || 50) * 1024 * 1024;
const STALL_MS = 10000;
const child = spawn(bin, ['10.77.0.1', ...(process.env.PEER_MAX_BUFFERED ? [process.env.PEER_MAX_BUFFERED] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  child.stdout.on('data', (d) => {
    const m = String(d).match(/listening on (\S+)/);
    if (m) resolve(m[1]);
  });
  child.on('exit', (c) => reject(new Error(`peer_bench exited ${c}`)));
});
let failed = 0;
let passed = 0;
const rates = [];
// The peer must not outlive this script, whatever fails: it would hold the caller's pipes open.
let browser;
try {
  const args = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'];
  if (mode === 'nomdns') args.push('--disable-features=WebRtcHideLocalIpsWithMdns');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args });
  const page = await browser.newPage();
  await page.goto(url);
  for (let i = 0; i < RUNS; i++) {
    const r = await page.evaluate(([s, t]) => window.download(s, t), [SIZE, STALL_MS]);
    const mbps = r.bytes / 1e6 / (r.ms / 1000);
    if (r.ok) {
      passed += 1;
      rates.push(mbps);
    } else {
      failed += 1;
    }
    console.log(`run ${i + 1}: ${r.ok ? 'ok' : `FAIL (${r.why})`} ${(r.bytes / 1048576).toFixed(1)} MiB ` +
      `${mbps.toFixed(1)} MB/s, setup ${r.setupMs.toFixed(0)} ms, first byte ${r.ttfbMs.toFixed(0)} ms`);
  }
} finally {
  await browser?.close().catch(() => {});
  child.kill();
}
rates.sort((a, b) => a - b);
if (rates.length) console.log(`median ${rates[Math.floor(rates.length / 2)].toFixed(1)} MB/s over ${rates.length} runs (${mode || 'mdns'})`);
console.log(`peer: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
