// Benchmarks the real daemon's seeder against headless Chromium, inside scripts/netns-run.sh.
//   download: RUNS x (seeder -> Chromium of a SIZE_MIB shared file, then Chromium -> Chromium
//             of the same byte count between two pages), alternated so both see the same load;
//             with PERF_DATA set, one more seeder download under `perf record -g`.
//   upload:   RUNS x Chromium -> seeder into the incoming folder; with STRACE_OUT set, one more
//             under `strace -c -w -f -e trace=fsync,fdatasync` (time spent in fsync).
// The page code is bench-page.js (docs/protocol.md spoken directly, no UI). Prints one JSON
// object on the last line of stdout. Usage: node seeder-bench.mjs PEERBOX MODE RUNS SIZE_MIB
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, writeSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [binArg, mode = 'download', runsArg = '3', sizeArg = '200'] = process.argv.slice(2);
const BIN = resolve(binArg);
const RUNS = Number(runsArg);
const SIZE = Number(sizeArg) * 1048576;
const HOST = '10.77.0.1';
const PORT = 18000 + Math.floor(Math.random() * 2000);
const BASE = `http://${HOST}:${PORT}`;
const HERE = dirname(fileURLToPath(import.meta.url));
const PAGE_JS = readFileSync(join(HERE, 'bench-page.js'), 'utf8');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(...a);

const work = process.env.BENCH_WORK || mkdtempSync(join(tmpdir(), 'peerbox-bench-'));
const dirs = { share: join(work, 'share'), incoming: join(work, 'incoming'), state: join(work, 'state') };
for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });

// The bench file: byte i = (i * 7) % 251, the pattern bench-page.js generates and checks.
{
  const block = Buffer.alloc(251 * 16384);
  for (let i = 0; i < block.length; i++) block[i] = (i * 7) % 251;
  const fd = openSync(join(dirs.share, 'bench.bin'), 'w');
  for (let off = 0; off < SIZE; off += block.length) writeSync(fd, block, 0, Math.min(block.length, SIZE - off));
  closeSync(fd);
}
writeFileSync(join(work, 'config.toml'), `
[seeder]
drop_box = false
[seeder.webrtc]
udp_bind = ["${HOST}"]
[watch]
settle_ms = 200
`);

const daemon = spawn(BIN, ['run', '--system-config', '/nonexistent', '--config', join(work, 'config.toml'),
  '--listen', `${HOST}:${PORT}`, '--share-dir', dirs.share, '--incoming-dir', dirs.incoming,
  '--state-dir', dirs.state], { env: { ...process.env, RUST_LOG: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks of 10 ms
};

async function waitReady() {
  for (let i = 0; i < 600; i++) {
    try {
      const res = await fetch(`${BASE}/files/probe`);
      if (res.status === 404) return; // up (the runs wait for the file to be hashed)
    } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error('daemon did not start');
}

// Attaches a profiler/tracer to the daemon for one run; resolves its exit when stopped.
function attach(cmd, args) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((r) => p.once('exit', (code) => r({ code, err })));
  return { stop: async () => { p.kill('SIGINT'); return await exited; } };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : null; };
const mbps = (r) => r.bytes / 1e6 / (r.ms / 1000);

const result = { mode, runs: RUNS, size_mib: SIZE / 1048576, seeder: [], c2c: [], upload: [] };
let browser;
try {
  await waitReady();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const ctx = await browser.newContext({ bypassCSP: true });
  const page = async () => {
    const p = await ctx.newPage();
    await p.goto(`${BASE}/healthz`);
    await p.addScriptTag({ content: PAGE_JS });
    return p;
  };
  const [a, b] = [await page(), await page()];
  const c2cRun = async () => {
    const offer = await a.evaluate(() => window.c2cOffer());
    const answer = await b.evaluate((sdp) => window.c2cAnswer(sdp), offer);
    await a.evaluate((sdp) => window.c2cAccept(sdp), answer);
    const [r] = await Promise.all([b.evaluate((n) => window.c2cReceive(n), SIZE), a.evaluate((n) => window.c2cSend(n), SIZE)]);
    await a.evaluate(() => window.c2cClose());
    return r;
  };
  const seederRun = async () => {
    for (let tries = 0; ; tries++) {
      try {
        return await a.evaluate(() => window.seederDownload('bench.bin'));
      } catch (e) {
        // Not in the catalog yet (still hashing): try again shortly.
        if (tries > 60 || !String(e).includes('not in the catalog')) throw e;
        await sleep(500);
      }
    }
  };
  const uploadRun = async (i) => {
    for (let tries = 0; ; tries++) {
      try {
        const cpu0 = cpuOf(daemon.pid);
        const r = await a.evaluate(([n]) => window.seederUpload(n, 'bench.bin'), [`up-${i}.bin`]);
        r.cpuSecs = cpuOf(daemon.pid) - cpu0;
        for (const f of readdirSync(dirs.incoming)) if (f.startsWith('up-')) rmSync(join(dirs.incoming, f));
        return r;
      } catch (e) {
        if (tries > 60 || !String(e).includes('not in the catalog')) throw e;
        await sleep(500);
      }
    }
  };
  if (mode === 'download') {
    for (let i = 0; i < RUNS; i++) {
      const cpu0 = cpuOf(daemon.pid);
      const s = await seederRun();
      s.cpuSecs = cpuOf(daemon.pid) - cpu0;
      result.seeder.push(s);
      log(`run ${i + 1}: seeder -> chromium ${mbps(s).toFixed(1)} MB/s ${s.ok ? 'ok' : 'BAD'}, daemon CPU ${s.cpuSecs.toFixed(1)} s`);
      const c = await c2cRun();
      result.c2c.push(c);
      log(`run ${i + 1}: chromium -> chromium ${mbps(c).toFixed(1)} MB/s ${c.ok ? 'ok' : 'BAD'}`);
    }
    if (process.env.PERF_DATA) {
      const perf = attach('perf', ['record', '-g', '-F', '499', '-o', process.env.PERF_DATA, '-p', String(daemon.pid)]);
      await sleep(300);
      const s = await seederRun();
      const r = await perf.stop();
      result.perf = { mbps: mbps(s), code: r.code, err: r.err.slice(-300) };
      log(`profiled run: ${mbps(s).toFixed(1)} MB/s (perf exit ${r.code})`);
    }
  } else {
    for (let i = 0; i < RUNS; i++) {
      const u = await uploadRun(i);
      result.upload.push(u);
      log(`run ${i + 1}: chromium -> seeder ${mbps(u).toFixed(1)} MB/s (send ${(u.sendMs / 1000).toFixed(1)} s, total ${(u.ms / 1000).toFixed(1)} s), daemon CPU ${u.cpuSecs.toFixed(1)} s`);
    }
    if (process.env.STRACE_OUT) {
      const st = attach('strace', ['-c', '-w', '-f', '-e', 'trace=fsync,fdatasync', '-o', process.env.STRACE_OUT, '-p', String(daemon.pid)]);
      await sleep(300);
      const u = await uploadRun(RUNS);
      await sleep(200);
      const r = await st.stop();
      result.traced = { ms: u.ms, mbps: mbps(u), code: r.code };
      log(`traced run: ${mbps(u).toFixed(1)} MB/s (strace exit ${r.code})`);
    }
  }
  const pick = (xs) => xs.length ? { median_mbps: median(xs.map(mbps)), all_mbps: xs.map(mbps), ok: xs.every((x) => x.ok) } : null;
  result.summary = { seeder: pick(result.seeder), c2c: pick(result.c2c), upload: pick(result.upload) };
  result.daemon_peak_rss_kib = Number((readFileSync(`/proc/${daemon.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/) || [])[1] || 0);
} finally {
  if (browser) await browser.close();
  daemon.kill('SIGTERM');
  if (!process.env.BENCH_WORK) rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
