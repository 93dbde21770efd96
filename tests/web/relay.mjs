// Client isolation (scripts/netns-relay.sh): two Chromium "phones" in namespaces that reach the
// daemon but not each other send 50 MiB browser to browser. It must go through the daemon's
// TURN relay (the selected candidate pair is relayed), arrive verified, and the daemon's CPU time
// per MiB relayed is reported. Usage: node relay.mjs PEERBOX_BINARY
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { sha, sleep, CHROMIUM_ARGS, wrapPlaywright, waitHealthy } from './harness.mjs';

const BIN = resolve(process.argv[2]);
const HOST = '10.78.0.1';
const PORT = 18000 + Math.floor(Math.random() * 2000);
const BASE = `http://${HOST}:${PORT}/`;
const work = mkdtempSync(join(tmpdir(), 'peerbox-relay-'));
for (const d of ['share', 'incoming', 'state']) mkdirSync(join(work, d));
let log = '';
const daemon = spawn(BIN, ['run', '--system-config', '/nonexistent', '--listen', `${HOST}:${PORT}`,
  '--share-dir', join(work, 'share'), '--incoming-dir', join(work, 'incoming'), '--state-dir', join(work, 'state')],
{ env: { ...process.env, RUST_LOG: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
daemon.stderr.on('data', (d) => { log += d; });
const cpu = () => {
  const f = readFileSync(`/proc/${daemon.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, seconds (USER_HZ 100)
};
const metric = async (name) => {
  const text = await (await fetch(`${BASE}metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.split(' ').pop()), 0);
};

async function phone(ns) {
  const wrapper = join(work, `chromium-${ns}`);
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} /usr/bin/chromium "$@"\n`);
  chmodSync(wrapper, 0o755);
  const browser = await chromium.launch({ executablePath: wrapper, args: CHROMIUM_ARGS, headless: true });
  const ctx = await browser.newContext({ acceptDownloads: true });
  const page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.log(`  [${ns} console] ${m.text()}`); });
  return { browser, p: wrapPlaywright(page) };
}

let failed = 0;
let a = null;
let b = null;
try {
  await waitHealthy(`${BASE}healthz`);
  a = await phone('a');
  b = await phone('b');
  const room = 'relay';
  for (const x of [a, b]) {
    await x.p.goto(`${BASE}?room=${room}`);
    await x.p.waitFor(() => globalThis.peerbox?.sig?.online === true, undefined, 30000);
  }
  const bName = await b.p.eval(() => document.getElementById('my-name').textContent);
  b.p.acceptDialogs();
  await a.p.waitFor((n) => [...document.querySelectorAll('#send-to option')].some((o) => o.value === n), bName);
  const payload = randomBytes(50 << 20);
  const src = join(work, 'relayed.bin');
  writeFileSync(src, payload);
  const saved = b.p.nextDownload();
  const cpu0 = cpu();
  const bytes0 = await metric('peerbox_turn_relayed_bytes_total');
  const t0 = Date.now();
  await a.p.eval((n) => { document.getElementById('send-to').value = n; }, bName);
  await a.p.setFiles('#file-input', [src]);
  const state = (p) => p.waitFor(() => document.querySelector('[data-transfer="relayed.bin"]')?.dataset.state, undefined, 240000)
    .then(() => p.eval(() => document.querySelector('[data-transfer="relayed.bin"]').textContent));
  const [sent, got] = await Promise.all([state(a.p), state(b.p)]);
  const secs = (Date.now() - t0) / 1000;
  const cpuUsed = cpu() - cpu0;
  const relayed = (await metric('peerbox_turn_relayed_bytes_total')) - bytes0;
  if (!got.includes('Verified') || !sent.includes('Delivered')) throw new Error(`rows: ${sent} / ${got}`);
  if (sha(await saved) !== sha(payload)) throw new Error('received file differs');
  const pair = await a.p.eval(async (n) => {
    const stats = await globalThis.peerbox.state.links.get(n).link.pc.getStats();
    let sel = null;
    stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) sel = stats.get(s.selectedCandidatePairId); });
    return sel && [stats.get(sel.localCandidateId).candidateType, stats.get(sel.remoteCandidateId).candidateType];
  }, bName);
  if (!pair || !pair.includes('relay')) throw new Error(`not relayed: ${JSON.stringify(pair)}`);
  if (relayed < 50 << 20) throw new Error(`the relay counted only ${relayed} bytes`);
  const mib = relayed / (1 << 20);
  console.log(`  relay: 50 MiB in ${secs.toFixed(1)} s (${(52.4288 / secs).toFixed(1)} MB/s incl. hashing), pair ${pair.join('/')}, `
    + `${mib.toFixed(0)} MiB relayed (both legs), daemon CPU ${cpuUsed.toFixed(2)} s = ${(1000 * cpuUsed / mib).toFixed(1)} ms per MiB relayed`);
  const refused = (await fetch(`${BASE}metrics`).then((r) => r.text())).split('\n')
    .filter((l) => l.startsWith('peerbox_turn_refused_total') && !l.endsWith(' 0'));
  if (refused.length) console.log(`  relay refusals: ${refused.join('; ')}`);
  console.log('ok   relay: 50 MiB between isolated browsers through the TURN relay, verified');
  // Closing through the harness checks both pages' control messages against the schema (wire.mjs).
  await a.p.close();
  await b.p.close();
  await a.browser.close();
  await b.browser.close();
} catch (err) {
  failed = 1;
  console.log(`FAIL relay: ${err.stack || err}\ndaemon log:\n${log.split('\n').slice(-30).join('\n')}`);
  // Where it stood: each page's transfer rows and links, and the relay's counters.
  const where = (x) => x?.p.eval(() => ({
    rows: [...document.querySelectorAll('[data-transfer]')].map((r) => r.textContent),
    links: [...globalThis.peerbox.state.links.entries()].map(([n, l]) => [n, l.link?.pc?.connectionState,
      l.link?.pc?.iceConnectionState, l.link?.channels?.peerbox?.readyState, l.session?.ready, l.link?.pc?.sctp?.state]),
  })).catch((e) => String(e));
  console.log(`  page a: ${JSON.stringify(await where(a))}\n  page b: ${JSON.stringify(await where(b))}`);
  const metrics = await fetch(`${BASE}metrics`).then((r) => r.text()).catch((e) => String(e));
  console.log(`  relay counters: ${metrics.split('\n').filter((l) => l.startsWith('peerbox_turn')).join('; ')}`);
} finally {
  daemon.kill('SIGTERM');
}
console.log(`relay: ${1 - failed} passed, ${failed} failed`);
process.exit(failed);
