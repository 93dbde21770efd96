// The swarm benchmark (bench/sections/17-swarm.sh), inside scripts/netns-run.sh: PAGES headless
// Chromium pages of the real web client start downloading the same SIZE_MIB file at once from a
// seeder capped at CAP_MIB MiB/s, once with re-seeding on (the swarm) and once with it off (every
// page from the seeder alone), each on a fresh daemon. Then the cost of a range by its size, for
// the choice of the piece size: on an uncapped daemon one page holds the file and another fetches
// all of it from that page in ranges of 256 KiB, 1 MiB and 4 MiB, two at a time and each hashed
// as the swarm's downloader does a piece. Prints one JSON object on the last line.
// Usage: node swarm-bench.mjs PEERBOX SIZE_MIB CAP_MIB [PAGES]; BENCH_WEB_DIR=web serves the
// web client from that folder instead of the binary's bundle (while working on the page).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, openSync, writeSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const [binArg, sizeArg = '100', capArg = '6', pagesArg = '4'] = process.argv.slice(2);
const BIN = resolve(binArg);
const SIZE = Number(sizeArg) * 1048576;
const CAP = Number(capArg) * 1048576;
const PAGES = Number(pagesArg);
const HOST = '10.77.0.1';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(...a);

const work = mkdtempSync(join(tmpdir(), 'peerbox-swarm-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const share = join(work, 'share');
mkdirSync(share, { recursive: true });
{
  const fd = openSync(join(share, 'holiday.mp4'), 'w');
  for (let off = 0; off < SIZE; off += 4 << 20) writeSync(fd, randomBytes(Math.min(4 << 20, SIZE - off)));
  closeSync(fd);
}

async function daemonUp(tag, cap = CAP) {
  const port = 18000 + Math.floor(Math.random() * 2000);
  const dir = join(work, tag);
  mkdirSync(join(dir, 'incoming'), { recursive: true });
  writeFileSync(join(dir, 'config.toml'), `
[seeder]
drop_box = false
max_upload_bytes_per_sec = ${cap}
[seeder.webrtc]
udp_bind = ["${HOST}"]
[watch]
settle_ms = 200
`);
  const child = spawn(BIN, ['run', '--system-config', '/nonexistent', '--config', join(dir, 'config.toml'),
    '--listen', `${HOST}:${port}`, '--share-dir', share, '--incoming-dir', join(dir, 'incoming'),
    '--state-dir', join(dir, 'state'), ...(process.env.BENCH_WEB_DIR ? ['--web-dir', process.env.BENCH_WEB_DIR] : [])], { env: { ...process.env, RUST_LOG: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://${HOST}:${port}/`;
  for (let i = 0; i < 600; i++) {
    try {
      const cat = await (await fetch(`${base}catalog.json`)).json();
      if (cat.files.length) return { child, base };
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error('daemon did not start');
}

async function metric(base, name) {
  const text = await (await fetch(`${base}metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] || 0);
}

async function run(browser, reseed) {
  const { child, base } = await daemonUp(reseed ? 'swarm' : 'alone');
  const pages = [];
  try {
    for (let i = 0; i < PAGES; i++) {
      const ctx = await browser.newContext({ acceptDownloads: false });
      const p = await ctx.newPage();
      await p.goto(`${base}?room=home${reseed ? '' : '&reseed=0'}`);
      await p.waitForFunction(() => [...(globalThis.peerbox?.state.links.values() || [])]
        .some((l) => l.session.seeder && l.session.version >= 3), undefined, { timeout: 30000 });
      await p.waitForSelector('[data-file="holiday.mp4"] button', { timeout: 30000 });
      pages.push({ p, ctx });
    }
    const before = await metric(base, 'peerbox_swarm_seeder_bytes_total');
    const t0 = Date.now();
    // When the seeder sent its last byte (sampled every 250 ms).
    let seederLast = before;
    let seederDone = 0;
    const sampler = setInterval(async () => {
      const now = await metric(base, 'peerbox_swarm_seeder_bytes_total').catch(() => seederLast);
      if (now > seederLast) {
        seederLast = now;
        seederDone = (Date.now() - t0) / 1000;
      }
    }, 250);
    await Promise.all(pages.map(({ p }) => p.click('[data-file="holiday.mp4"] button')));
    const finish = await Promise.all(pages.map(async ({ p }) => {
      await p.waitForFunction(() => document.querySelector('[data-transfer="holiday.mp4"]')?.dataset.state, undefined, { timeout: 600000 });
      const r = await p.evaluate(() => ({
        text: document.querySelector('[data-transfer="holiday.mp4"]').textContent,
        stats: { ...globalThis.peerbox.swarm.stats, dropped: undefined },
      }));
      return { secs: (Date.now() - t0) / 1000, ok: r.text.includes('Verified'), ...r.stats };
    }));
    clearInterval(sampler);
    const wall = Math.max(...finish.map((f) => f.secs));
    const seederBytes = (await metric(base, 'peerbox_swarm_seeder_bytes_total')) - before;
    const result = {
      reseed,
      wall_secs: wall,
      aggregate_mibps: (PAGES * SIZE) / 1048576 / wall,
      aggregate_over_cap: (PAGES * SIZE) / wall / CAP,
      seeder_bytes: seederBytes,
      seeder_over_size: seederBytes / SIZE,
      seeder_done_secs: seederDone,
      pages: finish,
      ok: finish.every((f) => f.ok),
    };
    log(JSON.stringify(result));
    return result;
  } finally {
    for (const { ctx } of pages) await ctx.close().catch(() => {});
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/** Range sizes (KiB) tried against one page holding the file, for the piece size. */
const RANGE_KIB = [256, 1024, 4096];

async function rangeCost(browser) {
  const { child, base } = await daemonUp('ranges', 0);
  const ctxs = [];
  try {
    const open = async () => {
      const ctx = await browser.newContext({ acceptDownloads: false });
      ctxs.push(ctx);
      const p = await ctx.newPage();
      await p.goto(`${base}?room=home`);
      await p.waitForFunction(() => [...(globalThis.peerbox?.state.links.values() || [])]
        .some((l) => l.session.seeder && l.session.version >= 3), undefined, { timeout: 30000 });
      await p.waitForSelector('[data-file="holiday.mp4"] button', { timeout: 30000 });
      return p;
    };
    // The holder: alone in the room, one stream from the seeder, then holds the verified file.
    const holder = await open();
    await holder.click('[data-file="holiday.mp4"] button');
    await holder.waitForFunction(() => document.querySelector('[data-transfer="holiday.mp4"]')?.dataset.state, undefined, { timeout: 600000 });
    const name = await holder.evaluate(() => globalThis.peerbox.sig.name);
    const hash = (await (await fetch(`${base}catalog.json`)).json()).files[0].hash;
    const fetcher = await open();
    const runs = await fetcher.evaluate(async ([peerName, fileHash, size, kibs]) => {
      const { Blake3 } = await import('/js/hash.js');
      let s = null;
      for (let i = 0; i < 600 && !(s = globalThis.peerbox.swarm.peer(peerName)); i++) await new Promise((r) => setTimeout(r, 100));
      if (!s) {
        const e = globalThis.peerbox.state.links.get(peerName);
        const roster = globalThis.peerbox.state.roster.map((r) => `${r.name}:${r.kind}`);
        throw new Error(`no link to the holder ${peerName}: ${JSON.stringify({ roster, link: !!e, ready: e?.session.ready, version: e?.session.version, channel: e?.session.channel?.readyState })}`);
      }
      const out = [];
      for (const kib of kibs) {
        const len = kib * 1024;
        const t0 = performance.now();
        let next = 0;
        let ranges = 0;
        await new Promise((resolve, reject) => {
          let inflight = 0;
          const launch = () => {
            if (next >= size && inflight === 0) return resolve();
            while (inflight < 2 && next < size) {
              const off = next;
              const l = Math.min(len, size - off);
              next += l;
              inflight += 1;
              ranges += 1;
              const h = new Blake3();
              s.requestRange(fileHash, off, l, {
                onChunk: (_at, bytes) => h.update(bytes),
                onEnd: async () => { await h.hex(); inflight -= 1; launch(); },
                onFail: (why) => reject(new Error(`range at ${off}: ${why}`)),
              });
            }
          };
          launch();
        });
        out.push({ kib, ranges, secs: (performance.now() - t0) / 1000 });
      }
      return out;
    }, [name, hash, SIZE, RANGE_KIB]);
    for (const r of runs) r.mibps = SIZE / 1048576 / r.secs;
    // Time = bytes / rate + ranges x overhead: the overhead per range from the smallest and the
    // largest range size (same bytes, different number of ranges).
    const [small, , large] = runs;
    const perRangeMs = ((small.secs - large.secs) / (small.ranges - large.ranges)) * 1000;
    const result = { runs, per_range_ms: perRangeMs };
    log(JSON.stringify(result));
    return result;
  } finally {
    for (const ctx of ctxs) await ctx.close().catch(() => {});
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
try {
  const swarm = await run(browser, true);
  const alone = await run(browser, false);
  const ranges = process.env.BENCH_SWARM_RANGES === '0' ? null : await rangeCost(browser);
  console.log(JSON.stringify({ size_mib: SIZE / 1048576, cap_mibps: CAP / 1048576, pages: PAGES, swarm, alone, ranges }));
} finally {
  await browser.close();
}
