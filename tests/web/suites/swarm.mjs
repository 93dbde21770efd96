// The swarm (transfer protocol version 3): pages download one file from the seeder and from each
// other. One daemon for the whole file, with its upload capped so that pages have something to
// gain from each other (what a Pi on a shared link looks like); each test uses its own file and
// room, so what one page of an earlier test still holds cannot serve a later test.
import { randomBytes } from 'node:crypto';
import { get as httpsGet } from 'node:https';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { BIN, HOST, PORT, work, spawnDaemon, stopDaemon, waitHealthy, ready, sha, sleep } from '../harness.mjs';

const CAP = 3 << 20; // seeder bytes per second
const SIZE = 12 << 20;
// Ports of this suite's daemons (others' suites use PORT + 1..8): plain http, and HTTPS.
const SWARM_PORT = PORT + 11;
const TLS_PORT = PORT + 12;
const base = `http://${HOST}:${SWARM_PORT}/`;
const share = join(work, 'swarm-share');
let daemon = null;
let fileNo = 0;
let swarmLog = '';

async function up() {
  if (daemon) return;
  mkdirSync(share, { recursive: true });
  const incoming = join(work, 'swarm-incoming');
  mkdirSync(incoming, { recursive: true });
  daemon = spawnDaemon(SWARM_PORT, join(work, 'state-swarm'), {
    PEERBOX_SEEDER__MAX_UPLOAD_BYTES_PER_SEC: String(CAP),
  }, share, incoming);
  // This daemon lives through the whole run: its log is kept apart from the shared one, which
  // other suites read for their own daemon's lines.
  daemon.stderr.removeAllListeners('data');
  daemon.stderr.on('data', (d) => { swarmLog = (swarmLog + d).slice(-20000); });
  await waitHealthy(`${base}healthz`);
  process.once('exit', () => daemon?.kill('SIGKILL'));
}

/** A new random file in the share, and its catalog entry once the seeder offers it. */
async function newFile(dir = share, at = base) {
  if (dir === share) await up();
  fileNo += 1;
  const name = `swarm-${fileNo}.bin`;
  const bytes = randomBytes(SIZE);
  writeFileSync(join(dir, name), bytes);
  for (let i = 0; i < 200; i++) {
    const cat = at.startsWith('https:') ? await insecureJson(`${at}catalog.json`) : await (await fetch(`${at}catalog.json`)).json();
    const entry = cat.files.find((f) => f.path === name);
    if (entry) return { name, bytes, entry };
    await sleep(100);
  }
  throw new Error(`${name} never appeared in the catalog`);
}

/** GET over the daemon's self-signed HTTPS (Node's fetch would refuse its certificate). */
function insecureJson(url) {
  return new Promise((resolve, reject) => {
    httpsGet(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (err) { reject(err); } });
    }).on('error', reject);
  });
}

async function metric(name) {
  const text = await (await fetch(`${base}metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] || 0);
}

async function openPage(b, room, query = '', at = base) {
  const p = await b.page();
  await ready(p, `${room}${query}`, at);
  await p.waitFor(() => [...globalThis.peerbox.state.links.values()].some((l) => l.session.seeder && l.session.version >= 3), undefined, 30000);
  return p;
}

async function start(p, name) {
  await p.waitFor((n) => !!document.querySelector(`[data-file="${n}"] button`), name, 30000);
  await p.click(`[data-file="${name}"] button`);
}

async function finished(p, name, ms = 120000) {
  await p.waitFor((n) => document.querySelector(`[data-transfer="${n}"]`)?.dataset.state, name, ms);
  return p.eval((n) => ({
    text: document.querySelector(`[data-transfer="${n}"]`).textContent,
    via: document.querySelector(`[data-transfer="${n}"]`).dataset.path,
    stats: { ...globalThis.peerbox.swarm.stats },
    hash: globalThis.peerbox.swarm.finished.find((d) => d.name === n)?.hash,
    handover: globalThis.peerbox.handover.last,
    me: globalThis.peerbox.sig.name,
  }), name);
}

function verified(r, entry, saved, what) {
  if (!r.text.includes('Verified')) throw new Error(`${what}: ${r.text}\nswarm daemon log:\n${swarmLog.slice(-3000)}`);
  if (r.via !== 'WebRTC (swarm)') throw new Error(`${what} did not use the swarm: ${r.via}`);
  if (r.hash !== entry.hash) throw new Error(`${what}: hash ${r.hash}, catalog ${entry.hash}`);
  return saved;
}

/** A page alone in the room downloads in one stream from the seeder, then holds the file. */
function solo(r, what) {
  if (!r.text.includes('Verified')) throw new Error(`${what}: ${r.text}`);
}

export const tests = {
  async 'swarm: three pages download one file and serve each other; seeder bytes prove it'(b) {
    const { name, bytes, entry } = await newFile();
    const pages = [];
    for (let i = 0; i < 3; i++) pages.push(await openPage(b, 'home'));
    const chromium = b.name.startsWith('chromium');
    const saved = pages.map((p) => (chromium ? p.nextDownload() : null));
    const seeder0 = await metric('peerbox_swarm_seeder_bytes_total');
    const t0 = Date.now();
    await Promise.all(pages.map((p) => start(p, name)));
    const results = await Promise.all(pages.map((p) => finished(p, name)));
    const secs = (Date.now() - t0) / 1000;
    for (const [i, r] of results.entries()) {
      verified(r, entry, null, `page ${i}`);
      if (saved[i] && sha(await saved[i]) !== sha(bytes)) throw new Error(`page ${i}: saved file differs`);
    }
    await sleep(1500); // the last `served` reports
    const seederBytes = (await metric('peerbox_swarm_seeder_bytes_total')) - seeder0;
    const peerBytes = results.reduce((n, r) => n + r.stats.fromPeers, 0);
    console.log(`  ${secs.toFixed(1)} s; seeder sent ${(seederBytes / SIZE).toFixed(2)}x the file, pages got ${(peerBytes / SIZE).toFixed(2)}x from each other`);
    // Three copies went out; the capped seeder sent well under three of them.
    if (seederBytes >= 2.5 * SIZE) throw new Error(`seeder sent ${seederBytes} bytes for 3 x ${SIZE}`);
    if (peerBytes < 0.5 * SIZE) throw new Error(`pages served each other only ${peerBytes} bytes`);
    if ((await metric('peerbox_swarm_peer_bytes_total')) <= 0) throw new Error('no `served` report reached /metrics');
    for (const p of pages) await p.close();
  },

  async 'swarm: a lying page is dropped as a source; the file still verifies'(b) {
    const { name, bytes, entry } = await newFile();
    const liar = await openPage(b, 'home');
    await start(liar, name);
    solo(await finished(liar, name), 'liar');
    // From now on the liar flips a byte in everything it serves.
    await liar.eval(() => { globalThis.peerbox.swarm.hooks.corrupt = (buf) => { const c = buf.slice(); c[0] ^= 0xff; return c; }; });
    const liarName = await liar.eval(() => globalThis.peerbox.sig.name);
    const p = await openPage(b, 'home');
    const saved = b.name.startsWith('chromium') ? p.nextDownload() : null;
    await start(p, name);
    const r = await finished(p, name);
    verified(r, entry, null, 'downloader');
    if (!r.stats.dropped.includes(liarName) || r.stats.badPieces < 1) throw new Error(`the liar was not dropped: ${JSON.stringify(r.stats)}`);
    if (saved && sha(await saved) !== sha(bytes)) throw new Error('saved file differs');
    await liar.close();
    await p.close();
  },

  // The lying peer of the issue in Rust: `examples/lying_peer.rs` (peerbox::client) joins the
  // room, announces every piece of the file and serves each range with its first byte flipped.
  async 'swarm: a lying Rust peer announcing every piece is dropped; the file still verifies'(b) {
    const { name, bytes, entry } = await newFile();
    const liar = spawn(join(dirname(BIN), 'examples', 'lying_peer'), [`${base}?room=home`, join(share, name)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    liar.stdout.on('data', (d) => { out += d; });
    liar.stderr.on('data', (d) => { out += d; });
    try {
      for (let i = 0; i < 300 && !out.includes('ready '); i++) await sleep(100);
      const liarName = out.match(/ready (\S+)/)?.[1];
      if (!liarName) throw new Error(`the lying peer did not start: ${out}`);
      const p = await openPage(b, 'home');
      const saved = b.name.startsWith('chromium') ? p.nextDownload() : null;
      await start(p, name);
      const r = await finished(p, name);
      verified(r, entry, null, 'downloader');
      if (!out.includes('served ')) throw new Error(`the liar was never asked: ${out}`);
      if (!r.stats.dropped.includes(liarName) || r.stats.badPieces < 1) throw new Error(`the liar was not dropped: ${JSON.stringify(r.stats)}`);
      if (saved && sha(await saved) !== sha(bytes)) throw new Error('saved file differs');
      await p.close();
    } finally {
      liar.kill('SIGKILL');
    }
  },

  async 'swarm: a source page closed mid-download; the download completes from the others'(b) {
    const { name, bytes, entry } = await newFile();
    const src = await openPage(b, 'home');
    await start(src, name);
    solo(await finished(src, name), 'source');
    const p = await openPage(b, 'home');
    const saved = b.name.startsWith('chromium') ? p.nextDownload() : null;
    await start(p, name);
    await p.waitFor(() => globalThis.peerbox.swarm.stats.fromPeers >= 2 << 20, undefined, 60000);
    await src.close();
    const r = await finished(p, name);
    verified(r, entry, null, 'downloader');
    if (r.stats.fromPeers >= SIZE) throw new Error('everything came from the closed page');
    if (saved && sha(await saved) !== sha(bytes)) throw new Error('saved file differs');
    await p.close();
  },

  async 'swarm: with re-seeding off a page serves nobody'(b) {
    const { name, entry } = await newFile();
    const off = await openPage(b, 'home', '&reseed=0');
    await start(off, name);
    solo(await finished(off, name), 're-seeding off');
    const p = await openPage(b, 'home');
    await start(p, name);
    const r = await finished(p, name);
    verified(r, entry, null, 'downloader');
    const served = await off.eval(() => globalThis.peerbox.swarm.stats.served);
    if (served !== 0 || r.stats.fromPeers !== 0) throw new Error(`served ${served}, got ${r.stats.fromPeers} from peers`);
    await off.close();
    await p.close();
  },

  async 'swarm over HTTPS: a page serves the pieces it holds from OPFS'(b) {
    const dir = join(work, `swarm-tls-share-${b.name}`);
    const incoming = join(work, `swarm-tls-incoming-${b.name}`);
    mkdirSync(dir, { recursive: true });
    mkdirSync(incoming, { recursive: true });
    const child = spawnDaemon(TLS_PORT, join(work, `state-swarm-tls-${b.name}`), {
      PEERBOX_SERVER__TLS__ENABLED: 'true',
      PEERBOX_SEEDER__MAX_UPLOAD_BYTES_PER_SEC: String(CAP),
    }, dir, incoming);
    try {
      await waitHealthy(`http://${HOST}:${TLS_PORT}/healthz`);
      const at = `https://${HOST}:${TLS_PORT}/`;
      const { name, bytes, entry } = await newFile(dir, at);
      // The source: alone in the room, one stream into OPFS, then holds that file.
      const src = await openPage(b, 'home', '', at);
      const caps = await src.eval(() => globalThis.peerbox.sinks);
      if (!caps.streaming) throw new Error(`no OPFS + service worker on https: ${JSON.stringify(caps)}`);
      await start(src, name);
      solo(await finished(src, name), 'source');
      const kind = await src.eval((h) => globalThis.peerbox.swarm.kindOf(h), entry.hash);
      if (kind !== 'opfs') throw new Error(`the source holds the file in ${kind}, not OPFS`);
      const p = await openPage(b, 'home', '', at);
      const saved = b.name.startsWith('chromium') ? p.nextDownload() : null;
      await start(p, name);
      const r = await finished(p, name);
      verified(r, entry, null, 'downloader');
      if (r.handover !== 'service-worker') throw new Error(`handed over by ${r.handover}, not the service worker`);
      const served = await src.eval(() => globalThis.peerbox.swarm.stats.served);
      console.log(`  source served ${(served / SIZE).toFixed(2)}x the file from OPFS; the downloader got ${(r.stats.fromPeers / SIZE).toFixed(2)}x from peers`);
      if (r.stats.fromPeers < SIZE / 4 || served < r.stats.fromPeers) throw new Error(`served ${served}, got ${r.stats.fromPeers} from peers`);
      // The downloader's pieces moved from memory to its OPFS file, which it now serves.
      const after = await p.eval((h) => globalThis.peerbox.swarm.kindOf(h), entry.hash);
      if (after !== 'opfs') throw new Error(`the downloader holds the file in ${after}, not OPFS`);
      if (saved && sha(await saved) !== sha(bytes)) throw new Error('saved file differs');
      await src.close();
      await p.close();
    } finally {
      await stopDaemon(child);
    }
  },
};
