// Benchmarks the real daemon's seeder against a headless browser, inside scripts/netns-run.sh.
//   download: RUNS x (seeder -> browser of a SIZE_MIB shared file, then Chromium -> Chromium
//             of the same byte count between two pages), alternated so both see the same load;
//             with PERF_DATA set, one more seeder download under `perf record -g`.
//   series:   RUNS x seeder -> browser only (the no-stall series): per run MB/s, the longest
//             pause between two frames, the namespace's UDP receive-buffer drops.
//   upload:   RUNS x browser -> seeder into the incoming folder; with STRACE_OUT set, one more
//             under `strace -c -w -f -e trace=fsync,fdatasync` (time spent in fsync).
//   small:    one connection, RUNS downloads of a 1 MiB file, each from request to last byte.
// Environment: BENCH_BROWSER=chromium|firefox (default chromium; c2c needs chromium);
// BASELINE_BIN=another peerbox binary, started next to the first and alternated with it run by
// run (series, upload; its figures go under `baseline`); DAEMON_ENV_JSON={"PEERBOX_X": "y"}.
// The page code is bench-page.js (docs/protocol.md spoken directly, no UI). Prints one JSON
// object on the last line of stdout. Usage: node seeder-bench.mjs PEERBOX MODE RUNS SIZE_MIB
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, writeSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';

const [binArg, mode = 'download', runsArg = '3', sizeArg = '200'] = process.argv.slice(2);
const BIN = resolve(binArg);
const BASELINE = process.env.BASELINE_BIN ? resolve(process.env.BASELINE_BIN) : null;
const BROWSER = process.env.BENCH_BROWSER || 'chromium';
const RUNS = Number(runsArg);
const SIZE = Number(sizeArg) * 1048576;
const HOST = '10.77.0.1';
const PORT = 18000 + Math.floor(Math.random() * 2000);
const HERE = dirname(fileURLToPath(import.meta.url));
const PAGE_JS = readFileSync(join(HERE, 'bench-page.js'), 'utf8');
// BENCH_MESSAGE_BYTES: the message size the pages send (Chromium -> Chromium and uploads).
const PRELUDE = process.env.BENCH_MESSAGE_BYTES ? `window.BENCH_MESSAGE_BYTES = ${Number(process.env.BENCH_MESSAGE_BYTES)};\n` : '';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(...a);

const work = process.env.BENCH_WORK || mkdtempSync(join(tmpdir(), 'peerbox-bench-'));
const share = join(work, 'share');
mkdirSync(share, { recursive: true });

// The bench files: byte i = (i * 7) % 251, the pattern bench-page.js generates and checks.
function patternFile(path, size) {
  const block = Buffer.alloc(251 * 16384);
  for (let i = 0; i < block.length; i++) block[i] = (i * 7) % 251;
  const fd = openSync(path, 'w');
  for (let off = 0; off < size; off += block.length) writeSync(fd, block, 0, Math.min(block.length, size - off));
  closeSync(fd);
}
patternFile(join(share, 'bench.bin'), SIZE);
patternFile(join(share, 'small.bin'), 1 << 20);
writeFileSync(join(work, 'config.toml'), `
[seeder]
drop_box = false
[seeder.webrtc]
udp_bind = ["${HOST}"]
[watch]
settle_ms = 200
`);

const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks of 10 ms
};
// UDP datagrams dropped because a socket's receive buffer was full, in this namespace.
const rcvbufErrors = () => {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values[names.indexOf('RcvbufErrors')]);
};

function startDaemon(bin, port, name) {
  const dirs = { incoming: join(work, `incoming-${name}`), state: join(work, `state-${name}`) };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const json = name === 'baseline' && process.env.BASELINE_ENV_JSON ? process.env.BASELINE_ENV_JSON : process.env.DAEMON_ENV_JSON;
  const extra = json ? JSON.parse(json) : {};
  const child = spawn(bin, ['run', '--system-config', '/nonexistent', '--config', join(work, 'config.toml'),
    '--listen', `${HOST}:${port}`, '--share-dir', share, '--incoming-dir', dirs.incoming,
    '--state-dir', dirs.state], { env: { ...process.env, RUST_LOG: 'warn', ...extra }, stdio: ['ignore', 'ignore', 'inherit'] });
  return { child, base: `http://${HOST}:${port}`, incoming: dirs.incoming, name };
}

async function waitReady(d) {
  for (let i = 0; i < 600; i++) {
    try {
      const res = await fetch(`${d.base}/files/probe`);
      if (res.status === 404) return; // up (the runs wait for the file to be hashed)
    } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error(`daemon ${d.name} did not start`);
}

// Attaches a profiler/tracer to the daemon for one run; resolves its exit when stopped.
function attach(cmd, args) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((r) => p.once('exit', (code) => r({ code, err })));
  return { stop: async () => { p.kill('SIGINT'); return await exited; } };
}

async function openBrowser() {
  if (BROWSER === 'firefox') {
    const b = await puppeteer.launch({ browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true });
    return {
      close: () => b.close(),
      page: async (base) => {
        const p = await (await b.createBrowserContext()).newPage();
        await p.goto(`${base}/healthz`);
        await p.evaluate(PRELUDE + PAGE_JS);
        return { evaluate: (fn, arg) => p.evaluate(fn, arg), close: () => p.close() };
      },
    };
  }
  const b = await chromium.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const ctx = await b.newContext();
  return {
    close: () => b.close(),
    page: async (base) => {
      const p = await ctx.newPage();
      await p.goto(`${base}/healthz`);
      await p.evaluate(PRELUDE + PAGE_JS);
      return { evaluate: (fn, arg) => p.evaluate(fn, arg), close: () => p.close() };
    },
  };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : null; };
const mbps = (r) => r.bytes / 1e6 / (r.ms / 1000);

// Retries while the file is not in the catalog yet (still hashing).
async function whenListed(fn) {
  for (let tries = 0; ; tries++) {
    try {
      return await fn();
    } catch (e) {
      if (tries > 60 || !String(e).includes('not in the catalog')) throw e;
      await sleep(500);
    }
  }
}

const result = { mode, browser: BROWSER, runs: RUNS, size_mib: SIZE / 1048576, seeder: [], baseline: [], c2c: [], upload: [], small: [] };
const daemons = [startDaemon(BIN, PORT, 'seeder')];
if (BASELINE) daemons.push(startDaemon(BASELINE, PORT + 1, 'baseline'));
let browser;
try {
  for (const d of daemons) await waitReady(d);
  browser = await openBrowser();
  for (const d of daemons) d.page = await browser.page(d.base);
  const a = daemons[0].page;
  const download = async (d) => {
    const cpu0 = cpuOf(d.child.pid);
    const drops0 = rcvbufErrors();
    const s = await whenListed(() => d.page.evaluate(() => window.seederDownload('bench.bin')));
    s.cpuSecs = cpuOf(d.child.pid) - cpu0;
    s.rcvbufErrors = rcvbufErrors() - drops0;
    s.stalled = s.maxGapMs >= 5000;
    return s;
  };
  const upload = async (d, i) => {
    const cpu0 = cpuOf(d.child.pid);
    const drops0 = rcvbufErrors();
    const u = await whenListed(() => d.page.evaluate(([n]) => window.seederUpload(n, 'bench.bin'), [`up-${i}.bin`]));
    u.cpuSecs = cpuOf(d.child.pid) - cpu0;
    u.rcvbufErrors = rcvbufErrors() - drops0;
    u.stalled = u.maxGapMs >= 5000;
    for (const f of readdirSync(d.incoming)) if (f.startsWith('up-')) rmSync(join(d.incoming, f));
    return u;
  };
  // The daemons of run `i`, in an order that flips every run: the second of an alternated pair
  // ran faster, whichever binary it was.
  const inTurn = (i) => (i % 2 ? [...daemons].reverse() : daemons);
  const say = (what, r) => log(`${what} ${mbps(r).toFixed(1)} MB/s ${r.ok ? 'ok' : 'BAD'}, longest pause ${Math.round(r.maxGapMs)} ms, `
    + `rcvbuf drops ${r.rcvbufErrors}, daemon CPU ${r.cpuSecs.toFixed(2)} s`);
  if (mode === 'download' || mode === 'series') {
    let c2cPages = null;
    for (let i = 0; i < RUNS; i++) {
      for (const d of inTurn(i)) {
        const s = await download(d);
        (d.name === 'seeder' ? result.seeder : result.baseline).push(s);
        say(`run ${i + 1}: ${d.name} -> ${BROWSER}`, s);
      }
      if (mode === 'download') {
        c2cPages ||= [await browser.page(daemons[0].base), await browser.page(daemons[0].base)];
        const [x, y] = c2cPages;
        const offer = await x.evaluate(() => window.c2cOffer());
        const answer = await y.evaluate((sdp) => window.c2cAnswer(sdp), offer);
        await x.evaluate((sdp) => window.c2cAccept(sdp), answer);
        const [c] = await Promise.all([y.evaluate((n) => window.c2cReceive(n), SIZE), x.evaluate((n) => window.c2cSend(n), SIZE)]);
        await x.evaluate(() => window.c2cClose());
        result.c2c.push(c);
        log(`run ${i + 1}: ${BROWSER} -> ${BROWSER} ${mbps(c).toFixed(1)} MB/s ${c.ok ? 'ok' : 'BAD'}, longest pause ${Math.round(c.maxGapMs)} ms`);
      }
    }
    if (process.env.PERF_DATA) {
      const perf = attach('perf', ['record', '-g', '-F', '499', '-o', process.env.PERF_DATA, '-p', String(daemons[0].child.pid)]);
      await sleep(300);
      const s = await download(daemons[0]);
      const r = await perf.stop();
      result.perf = { mbps: mbps(s), code: r.code, err: r.err.slice(-300) };
      log(`profiled run: ${mbps(s).toFixed(1)} MB/s (perf exit ${r.code})`);
    }
  } else if (mode === 'upload') {
    for (let i = 0; i < RUNS; i++) {
      for (const d of inTurn(i)) {
        const u = await upload(d, i);
        (d.name === 'seeder' ? result.upload : result.baseline).push(u);
        say(`run ${i + 1}: ${BROWSER} -> ${d.name} (send ${(u.sendMs / 1000).toFixed(1)} s)`, u);
      }
    }
    if (process.env.STRACE_OUT) {
      const st = attach('strace', ['-c', '-w', '-f', '-e', 'trace=fsync,fdatasync', '-o', process.env.STRACE_OUT, '-p', String(daemons[0].child.pid)]);
      await sleep(300);
      const u = await upload(daemons[0], RUNS);
      await sleep(200);
      const r = await st.stop();
      result.traced = { ms: u.ms, mbps: mbps(u), code: r.code };
      log(`traced run: ${mbps(u).toFixed(1)} MB/s (strace exit ${r.code})`);
    }
  } else if (mode === 'small') {
    for (const d of daemons) {
      const r = await whenListed(() => d.page.evaluate(([n]) => window.seederSmall('small.bin', n), [RUNS]));
      (d.name === 'seeder' ? result.small : result.baseline).push(...r.runs);
      const ms = r.runs.map((x) => x.ms).sort((p, q) => p - q);
      log(`${d.name}: ${RUNS} x 1 MiB into ${BROWSER}, request to last byte p50 ${median(ms).toFixed(1)} ms, max ${ms[ms.length - 1].toFixed(1)} ms`);
    }
  }
  const pick = (xs) => xs.length ? { median_mbps: median(xs.map(mbps)), all_mbps: xs.map(mbps), ok: xs.every((x) => x.ok) } : null;
  result.summary = { seeder: pick(result.seeder), baseline: pick(result.baseline), c2c: pick(result.c2c), upload: pick(result.upload) };
  result.daemon_peak_rss_kib = Number((readFileSync(`/proc/${daemons[0].child.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/) || [])[1] || 0);
} finally {
  if (browser) await browser.close();
  for (const d of daemons) d.child.kill('SIGTERM');
  if (!process.env.BENCH_WORK) rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
