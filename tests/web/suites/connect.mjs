// Connectivity: HTTP fallback when UDP between browser and daemon is dropped (nftables in the
// test namespace), the direct HTTP download for large files on plain http, direct (not
// relayed) candidate pairs when nothing is blocked, and tus-js-client in Node against /uploads.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { BASE, big, dirs, ready, sha, sleep, startDaemon, stopDaemon, work } from '../harness.mjs';

const require = createRequire(import.meta.url);
const MiB = 1 << 20;
const hundred = randomBytes(100 * MiB);
writeFileSync(join(dirs.share, 'hundred.bin'), hundred);

const nft = (...args) => execFileSync('nft', args, { stdio: 'pipe' });
/** Drops every UDP datagram in the test namespace (WebRTC to the seeder cannot connect). */
function dropUdp() {
  nft('add', 'table', 'inet', 'pbudp');
  nft('add', 'chain', 'inet', 'pbudp', 'out', '{ type filter hook output priority 0; }');
  nft('add', 'rule', 'inet', 'pbudp', 'out', 'meta', 'l4proto', 'udp', 'drop');
}
function allowUdp() {
  try { nft('delete', 'table', 'inet', 'pbudp'); } catch { /* not there */ }
}
/** Limits loopback (where browser <-> daemon traffic flows) so a restart lands mid-transfer. */
function throttle(on) {
  const args = on ? ['qdisc', 'replace', 'dev', 'lo', 'root', 'tbf', 'rate', '60mbit', 'burst', '256kb', 'latency', '100ms']
    : ['qdisc', 'del', 'dev', 'lo', 'root'];
  try { execFileSync('tc', args, { stdio: 'pipe' }); } catch (e) { if (on) throw e; }
}

const rowState = (p, name, ms = 120000) => p.waitFor((n) => document.querySelector(`[data-transfer="${n}"]`)?.dataset.state, name, ms)
  .then(() => p.eval((n) => {
    const r = document.querySelector(`[data-transfer="${n}"]`);
    return { state: r.dataset.state, text: r.textContent, path: r.dataset.path };
  }, name));

async function httpPage(b) {
  const p = await b.page();
  await ready(p); // the seeder is in `home`
  await p.waitFor(() => globalThis.peerbox.http.on === true, undefined, 40000);
  return p;
}

/** Firefox saves into harness's ff-downloads folder; the newest file named `name`. */
async function firefoxSaved(name, size) {
  const dir = join(work, 'ff-downloads');
  for (let i = 0; i < 600; i++) {
    const f = existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(name.split('.')[0]) && !n.endsWith('.part')) : [];
    for (const n of f) if (statSync(join(dir, n)).size === size) return readFileSync(join(dir, n));
    await sleep(100);
  }
  throw new Error(`firefox never saved ${name}`);
}

export const tests = {
  // The DataChannel rates for the same sizes, next to the HTTP ones (bench section 11 only).
  async 'DataChannel baseline: 100 MiB download and upload rates'(b) {
    if (!process.env.BENCH_CONNECT) return 'skip';
    const p = await b.page();
    await ready(p);
    await p.waitFor(() => !!document.querySelector('[data-file="hundred.bin"] button'), undefined, 30000);
    await p.eval(() => document.querySelectorAll('[data-transfer="hundred.bin"]').forEach((r) => r.remove()));
    let t0 = Date.now();
    await p.click('[data-file="hundred.bin"] button');
    const down = await rowState(p, 'hundred.bin', 240000);
    const downSecs = (Date.now() - t0) / 1000;
    const name = `up-dc-${b.name}.bin`;
    const src = join(work, name);
    writeFileSync(src, randomBytes(100 * MiB));
    await p.eval(() => { document.getElementById('send-to').value = 'peerbox'; });
    t0 = Date.now();
    await p.setFiles('#file-input', [src]);
    const up = await rowState(p, name, 240000);
    const upSecs = (Date.now() - t0) / 1000;
    if (down.path !== 'WebRTC' || up.path !== 'WebRTC' || !down.text.includes('Verified') || !up.text.includes('Saved as')) {
      throw new Error(`baseline: ${JSON.stringify([down, up])}`);
    }
    console.log(`  WebRTC: 100 MiB down ${(104.8576 / downSecs).toFixed(1)} MB/s, up ${(104.8576 / upSecs).toFixed(1)} MB/s (incl. hashing)`);
    await p.close();
  },

  async 'UDP dropped: 100 MiB download and upload fall back to HTTP, verified'(b) {
    dropUdp();
    try {
      const p = await httpPage(b);
      await p.waitFor(() => !!document.querySelector('[data-file="hundred.bin"] button'), undefined, 30000);
      const saved = b.name.startsWith('chromium') ? p.nextDownload() : null;
      let t0 = Date.now();
      await p.click('[data-file="hundred.bin"] button');
      const down = await rowState(p, 'hundred.bin');
      const downSecs = (Date.now() - t0) / 1000;
      if (down.state !== 'done' || !down.text.includes('Verified') || down.path !== 'HTTP') throw new Error(`download: ${JSON.stringify(down)}`);
      if (saved && sha(await saved) !== sha(hundred)) throw new Error('saved file differs');
      const name = `up-http-${b.name}.bin`;
      const src = join(work, name);
      const payload = randomBytes(100 * MiB);
      writeFileSync(src, payload);
      await p.eval(() => { document.getElementById('send-to').value = 'peerbox'; });
      t0 = Date.now();
      await p.setFiles('#file-input', [src]);
      const up = await rowState(p, name);
      const upSecs = (Date.now() - t0) / 1000;
      if (!up.text.includes('Saved as') || up.path !== 'HTTP') throw new Error(`upload: ${JSON.stringify(up)}`);
      if (sha(readFileSync(join(dirs.incoming, name))) !== sha(payload)) throw new Error('incoming file differs');
      console.log(`  HTTP: 100 MiB down ${(104.8576 / downSecs).toFixed(1)} MB/s, up ${(104.8576 / upSecs).toFixed(1)} MB/s (incl. hashing)`);
      await p.close();
    } finally {
      allowUdp();
    }
  },

  async 'UDP dropped: HTTP download and upload resume after a daemon restart'(b) {
    dropUdp();
    throttle(true);
    try {
      const p = await httpPage(b);
      await p.waitFor(() => !!document.querySelector('[data-file="fifty.bin"] button'), undefined, 30000);
      await p.eval(() => document.querySelectorAll('[data-transfer="fifty.bin"]').forEach((r) => r.remove()));
      await p.click('[data-file="fifty.bin"] button');
      const name = `up-restart-${b.name}.bin`;
      const src = join(work, name);
      const payload = randomBytes(48 * MiB);
      writeFileSync(src, payload);
      await p.eval(() => { document.getElementById('send-to').value = 'peerbox'; });
      await p.setFiles('#file-input', [src]);
      await p.waitFor((n) => Number(document.querySelector('[data-transfer="fifty.bin"]')?.dataset.done) > 4 * (1 << 20)
        && Number(document.querySelector(`[data-transfer="${n}"]`)?.dataset.done) > 4 * (1 << 20), name, 60000);
      await stopDaemon();
      if (existsSync(join(dirs.incoming, name))) throw new Error('a partial upload appeared under its final name');
      await startDaemon();
      const down = await rowState(p, 'fifty.bin', 180000);
      const up = await rowState(p, name, 180000);
      const stats = await p.eval(() => ({ ...globalThis.peerbox.httpResumes }));
      if (!down.text.includes('Verified')) throw new Error(`download: ${down.text}`);
      if (!up.text.includes('Saved as')) throw new Error(`upload: ${up.text}`);
      if (stats.downloads < 1 || stats.uploads < 1) throw new Error(`no resume: ${JSON.stringify(stats)}`);
      if (sha(readFileSync(join(dirs.incoming, name))) !== sha(payload)) throw new Error('incoming file differs');
      await p.close();
    } finally {
      throttle(false);
      allowUdp();
    }
  },

  async 'large file on plain http: the direct download is offered and saves the same bytes'(b) {
    const p = await b.page();
    await p.goto(`${BASE}?memory_limit_mb=8`);
    await p.waitFor(() => globalThis.peerbox?.sig?.online === true);
    await p.waitFor(() => !!document.querySelector('[data-file="twenty.bin"] button'), undefined, 30000);
    const saved = b.name.startsWith('chromium') ? p.nextDownload() : null;
    await p.click('[data-file="twenty.bin"] button');
    await p.waitFor(() => document.getElementById('large-dialog').open);
    const text = await p.eval(() => document.getElementById('large-dialog').textContent);
    if (!text.includes('not hash-checked in the page')) throw new Error(`dialog says: ${text}`);
    await p.click('#large-direct');
    const bytes = saved ? await saved : await firefoxSaved('twenty.bin', big.length);
    if (sha(bytes) !== sha(big)) throw new Error('directly downloaded file differs');
    await p.close();
  },

  async 'nothing blocked: the seeder link is direct, not relayed, though a relay is offered'(b) {
    const p = await b.page();
    await ready(p);
    const pair = await p.eval(async () => {
      const ice = globalThis.peerbox.sig.welcome.ice_servers;
      for (let i = 0; i < 200; i++) {
        const e = [...globalThis.peerbox.state.links.values()][0];
        if (e?.link.pc.connectionState === 'connected') {
          const stats = await e.link.pc.getStats();
          let sel = null;
          stats.forEach((s) => { if (s.type === 'candidate-pair' && s.state === 'succeeded' && (s.nominated || s.selected)) sel = s; });
          if (!sel) stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) sel = stats.get(s.selectedCandidatePairId); });
          if (sel) {
            return { ice: ice.map((s) => s.urls[0]), local: stats.get(sel.localCandidateId).candidateType, remote: stats.get(sel.remoteCandidateId).candidateType };
          }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return null;
    });
    if (!pair) throw new Error('the seeder link never connected');
    if (!pair.ice.some((u) => u.startsWith('turn:'))) throw new Error(`no relay offered: ${JSON.stringify(pair.ice)}`);
    if (pair.local === 'relay' || pair.remote === 'relay') throw new Error(`relayed: ${JSON.stringify(pair)}`);
    await p.close();
  },

  async 'tus-js-client in Node uploads a file and resumes it'(b) {
    if (b.name !== 'chromium') return 'skip'; // no browser involved; once is enough
    const tus = require('tus-js-client');
    const payload = randomBytes(12 * MiB);
    const name = 'tus-node.bin';
    const upload = (opts) => new Promise((resolve, reject) => {
      const u = new tus.Upload(payload, {
        endpoint: `${BASE}uploads`, chunkSize: 4 * MiB, retryDelays: [0, 500, 1000],
        metadata: { filename: name }, ...opts, onSuccess: () => resolve(u), onError: reject,
      });
      opts.start(u);
    });
    // First run: stop after the first 4 MiB PATCH.
    let url = null;
    await new Promise((resolve, reject) => {
      const u = new tus.Upload(payload, {
        endpoint: `${BASE}uploads`, chunkSize: 4 * MiB, metadata: { filename: name },
        onChunkComplete: (size, sent) => { if (sent >= 4 * MiB) { url = u.url; u.abort().then(resolve); } },
        onError: reject, onSuccess: () => reject(new Error('finished too early')),
      });
      u.start();
    });
    const head = await fetch(new URL(url, BASE), { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
    const offset = Number(head.headers.get('upload-offset'));
    if (offset < 4 * MiB) throw new Error(`server holds ${offset} bytes`);
    // Second run resumes from the server's offset at the same URL.
    let firstOffset = -1;
    await upload({ uploadUrl: new URL(url, BASE).href, onProgress: (sent) => { if (firstOffset < 0) firstOffset = sent; }, start: (u) => u.start() });
    if (firstOffset < offset) throw new Error(`restarted from ${firstOffset}, not ${offset}`);
    if (sha(readFileSync(join(dirs.incoming, name))) !== sha(payload)) throw new Error('incoming file differs');
  },
};
