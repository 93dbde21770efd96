// End-to-end tests of the web client in real browsers against the real daemon binary.
// Run inside a private network namespace (scripts/netns-run.sh) so browsers gather ICE
// candidates; scripts/test-browser.sh does that. Usage: node run.mjs PEERBOX_BINARY
// Tests of one topic live in suites/<topic>.mjs, which export `tests` (name -> async (b) => ...)
// and optionally `ipTests` (names also run in Chromium with real IP candidates).
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  BIN, HOST, PORT, BASE, ARTIFACTS, work, dirs, big, sha, sleep, daemon, daemonLog, DAEMON_ENV,
  spawnDaemon, waitHealthy, startDaemon, stopDaemon, CHROMIUM_ARGS, openChromium, openChromiumIp,
  IP_TESTS, launchChromium, openFirefox, wrapPlaywright, wrapPuppeteer, myName, ready,
  sendBetweenPages,
} from './harness.mjs';
import { only, grep } from './harness.mjs';
import { createHash, randomBytes } from 'node:crypto';

// Every suites/*.mjs adds its tests (and the names Chromium with real IP candidates runs too).
const SUITES = new URL('./suites/', import.meta.url);
const suites = existsSync(SUITES) ? readdirSync(SUITES).filter((f) => f.endsWith('.mjs')).sort() : [];
const suiteTests = {};
for (const f of suites) {
  const mod = await import(new URL(f, SUITES));
  Object.assign(suiteTests, mod.tests);
  IP_TESTS.push(...(mod.ipTests || []));
}

// ---- tests ----------------------------------------------------------------------------------
const tests = {
  async '10 consecutive 50 MiB downloads from the seeder, none stalls'(b) {
    if (b.name !== 'chromium') return 'skip'; // the transfer path is the same; one browser is enough
    const p = await b.page();
    await ready(p);
    await p.waitFor(() => !!document.querySelector('[data-file="fifty.bin"] button'), undefined, 30000);
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      await p.eval(() => document.querySelectorAll('[data-transfer="fifty.bin"]').forEach((r) => r.remove()));
      await p.click('[data-file="fifty.bin"] button');
      await p.waitFor(() => document.querySelector('[data-transfer="fifty.bin"]')?.dataset.state, undefined, 60000);
      const text = await p.eval(() => document.querySelector('[data-transfer="fifty.bin"]').textContent);
      if (!text.includes('Verified')) throw new Error(`run ${i + 1}: ${text}`);
      const secs = (Date.now() - t0) / 1000;
      console.log(`  run ${i + 1}: 50 MiB verified in ${secs.toFixed(1)} s (${(52.4288 / secs).toFixed(1)} MB/s incl. hashing)`);
    }
    await p.close();
  },

  // Which kind of peer the transfer tests below ran against: mDNS-hidden like a phone, or not.
  async 'host candidates: mDNS names by default, addresses when not hidden'(b) {
    if (!b.name.startsWith('chromium')) return 'skip'; // Firefox has its own default; both kinds are covered here
    const p = await b.page();
    await ready(p);
    const cands = await p.eval(async () => {
      const pc = new RTCPeerConnection();
      pc.createDataChannel('probe');
      const found = [];
      const done = new Promise((r) => {
        pc.onicecandidate = (e) => (e.candidate ? found.push(e.candidate.address || '') : r());
      });
      await pc.setLocalDescription(await pc.createOffer());
      await done;
      pc.close();
      return found;
    });
    const mdns = cands.filter((a) => a.endsWith('.local')).length;
    const ip = cands.filter((a) => a.startsWith('10.77.0.')).length;
    const want = b.name === 'chromium' ? mdns > 0 && ip === 0 : ip > 0 && mdns === 0;
    if (!want) throw new Error(`${b.name} gathered ${JSON.stringify(cands)}`);
    await p.close();
  },

  async 'download a 20 MiB shared file through the UI, verified'(b) {
    const p = await b.page();
    await ready(p);
    await p.waitFor(() => !!document.querySelector('[data-file="twenty.bin"] button'), undefined, 30000);
    const saved = b.name.startsWith('chromium') ? p.nextDownload() : null;
    await p.click('[data-file="twenty.bin"] button');
    await p.waitFor(() => document.querySelector('[data-transfer="twenty.bin"]')?.dataset.state, undefined, 60000);
    const state = await p.eval(() => {
      const row = document.querySelector('[data-transfer="twenty.bin"]');
      return { state: row.dataset.state, text: row.textContent };
    });
    if (state.state !== 'done' || !state.text.includes('Verified')) throw new Error(`download: ${state.text}`);
    if (saved) {
      const bytes = await saved;
      if (sha(bytes) !== sha(big)) throw new Error('saved file differs from the shared one');
    }
    await p.close();
  },

  async 'send a file to the seeder; it lands in incoming'(b) {
    const p = await b.page();
    await ready(p);
    await p.waitFor(() => [...document.querySelectorAll('#send-to option')].some((o) => o.value === 'peerbox'));
    const name = `upload-${b.name}.bin`;
    const src = join(work, name);
    const payload = randomBytes(3 << 20);
    writeFileSync(src, payload);
    await p.eval(() => { document.getElementById('send-to').value = 'peerbox'; });
    await p.setFiles('#file-input', [src]);
    await p.waitFor((n) => document.querySelector(`[data-transfer="${n}"]`)?.dataset.state, name, 60000);
    const text = await p.eval((n) => document.querySelector(`[data-transfer="${n}"]`).textContent, name);
    if (!text.includes('Saved as')) throw new Error(`upload: ${text}`);
    const landed = join(dirs.incoming, name);
    if (!existsSync(landed) || sha(readFileSync(landed)) !== sha(payload)) throw new Error('incoming file missing or different');
    await p.close();
  },

  async 'main screen at 375 px, screenshot saved'(b) {
    const p = await b.page(375);
    const name = await ready(p);
    if (!/^[a-z]+-[a-z]+/.test(name)) throw new Error(`generated name looks wrong: ${name}`);
    const overflow = await p.eval(() => document.documentElement.scrollWidth > window.innerWidth);
    if (overflow) throw new Error('horizontal overflow at 375 px');
    await p.screenshot(join(ARTIFACTS, `main-375-${b.name}.png`));
    await p.close();
  },

  async 'a transfer between two browser pages, accepted first'(b) {
    const t = await sendBetweenPages(b, 'p2p', 2 << 20);
    await t.finish();
    await t.close();
  },

  async 'a transfer between two pages cut off mid-way resumes on a new link'(b) {
    const t = await sendBetweenPages(b, 'p2p-cut', 48 << 20);
    await t.c.waitFor((n) => Number(document.querySelector(`[data-transfer="${n}"]`)?.dataset.done) > 8 << 20, t.name, 60000);
    // The direct link breaks (as when a phone's Wi-Fi drops): the sender's channels close, both
    // ends notice, and the sender connects again while the receiver is still in the room.
    await t.a.eval((n) => {
      for (const ch of Object.values(globalThis.peerbox.state.links.get(n).link.channels)) ch.close();
    }, t.cName);
    await t.finish();
    const stats = await t.c.eval(() => ({ ...globalThis.peerbox.resumeStats }));
    const sender = await t.a.eval(() => ({ ...globalThis.peerbox.resumeStats }));
    if (stats.downloads < 1 || stats.lastOffset < 8 << 20 || sender.uploads < 1) {
      throw new Error(`no resume: receiver ${JSON.stringify(stats)}, sender ${JSON.stringify(sender)}`);
    }
    console.log(`  resumed at byte ${stats.lastOffset}`);
    await t.close();
  },

  async 'a browser link whose hello never comes is rebuilt, and the file still arrives'(b) {
    if (b.name !== 'chromium') return 'skip'; // page logic; one browser is enough
    // The receiver's first hello is lost on its way (what the relay test caught, 1 run in ~17):
    // the sender's link is up, its file queued, and it never hears from the other side.
    const loseFirstHello = (a, c) => c.eval(() => {
      const send = RTCDataChannel.prototype.send;
      let lost = false;
      RTCDataChannel.prototype.send = function (data) {
        if (!lost && typeof data === 'string' && JSON.parse(data).type === 'hello') {
          lost = true;
          return undefined;
        }
        return send.call(this, data);
      };
    });
    const t = await sendBetweenPages(b, 'nohello', 256 << 10, { beforeSend: loseFirstHello });
    await t.finish();
    const banner = await t.a.eval(() => document.getElementById('banner').textContent);
    if (!banner.includes('did not start')) throw new Error(`no word of the rebuilt link: ${banner}`);
    await t.close();
  },

  async 'chat between two pages, shown as text'(b) {
    const room = `chat-${b.name}`;
    const a = await b.page();
    const c = await b.page();
    await ready(a, room);
    const cName = await ready(c, room);
    await a.waitFor((n) => [...document.querySelectorAll('#roster [data-peer]')].some((e) => e.dataset.peer === n), cName);
    await a.fill('#chat-input', 'hello <img src=x onerror=alert(1)>');
    await a.click('#chat-form button');
    await c.waitFor(() => document.getElementById('chat-log').textContent.includes('hello <img src=x onerror=alert(1)>'));
    const imgs = await c.eval(() => document.querySelectorAll('#chat-log img').length);
    if (imgs !== 0) throw new Error('chat text was rendered as HTML');
    await a.close();
    await c.close();
  },

  async 'reconnects by itself after the daemon restarts'(b) {
    const p = await b.page();
    const before = await ready(p, `restart-${b.name}`);
    await stopDaemon();
    await p.waitFor(() => globalThis.peerbox.sig.online === false);
    await startDaemon();
    await p.waitFor(() => globalThis.peerbox.sig.online === true, undefined, 30000);
    const after = await myName(p);
    // The resume token is signed with a key kept in the state directory: the name survives.
    if (after !== before) throw new Error(`name changed across the restart: ${before} -> ${after}`);
    await p.close();
  },

  async 'a download cut off by a daemon restart resumes and verifies'(b) {
    const p = await b.page();
    await ready(p);
    await p.waitFor(() => !!document.querySelector('[data-file="fifty.bin"] button'), undefined, 30000);
    await p.eval(() => document.querySelectorAll('[data-transfer="fifty.bin"]').forEach((r) => r.remove()));
    await p.click('[data-file="fifty.bin"] button');
    await p.waitFor(() => Number(document.querySelector('[data-transfer="fifty.bin"]')?.dataset.done) > 8 << 20, undefined, 60000);
    await stopDaemon();
    await startDaemon();
    await p.waitFor(() => document.querySelector('[data-transfer="fifty.bin"]')?.dataset.state, undefined, 90000);
    const r = await p.eval(() => ({
      text: document.querySelector('[data-transfer="fifty.bin"]').textContent,
      stats: { ...globalThis.peerbox.resumeStats },
    }));
    if (!r.text.includes('Verified')) throw new Error(`download: ${r.text}`);
    if (r.stats.downloads < 1 || r.stats.lastOffset <= 0) throw new Error(`no resume happened: ${JSON.stringify(r.stats)}`);
    console.log(`  resumed at byte ${r.stats.lastOffset}`);
    await p.close();
  },

  async 'an upload cut off by a daemon restart resumes; incoming holds it whole'(b) {
    const p = await b.page();
    await ready(p);
    await p.waitFor(() => [...document.querySelectorAll('#send-to option')].some((o) => o.value === 'peerbox'));
    const name = `resume-${b.name}.bin`;
    const src = join(work, name);
    const payload = randomBytes(96 << 20);
    writeFileSync(src, payload);
    await p.eval(() => { document.getElementById('send-to').value = 'peerbox'; });
    await p.setFiles('#file-input', [src]);
    await p.waitFor((n) => Number(document.querySelector(`[data-transfer="${n}"]`)?.dataset.done) > 8 << 20, name, 60000);
    await stopDaemon();
    if (existsSync(join(dirs.incoming, name))) throw new Error('a partial upload appeared under its final name');
    await startDaemon();
    await p.waitFor((n) => document.querySelector(`[data-transfer="${n}"]`)?.dataset.state, name, 90000);
    const r = await p.eval((n) => ({
      text: document.querySelector(`[data-transfer="${n}"]`).textContent,
      stats: { ...globalThis.peerbox.resumeStats },
    }), name);
    if (!r.text.includes('Saved as')) throw new Error(`upload: ${r.text}`);
    if (r.stats.uploads < 1) throw new Error(`the upload started over: ${JSON.stringify(r.stats)}`);
    const landed = join(dirs.incoming, name);
    if (!existsSync(landed) || sha(readFileSync(landed)) !== sha(payload)) throw new Error('incoming file missing or different');
    console.log(`  resumed at byte ${r.stats.lastOffset}`);
    await p.close();
  },

  async 'over HTTPS (self-signed): OPFS + service worker download, verified'(b) {
    const port = PORT + 1;
    const child = spawnDaemon(port, join(work, `state-tls-${b.name}`), { PEERBOX_SERVER__TLS__ENABLED: 'true' });
    try {
      await waitHealthy(`http://${HOST}:${port}/healthz`);
      const base = `https://${HOST}:${port}/`;
      const p = await b.page();
      await ready(p, 'home', base);
      const caps = await p.eval(() => ({ secure: isSecureContext, ...globalThis.peerbox.sinks }));
      if (!caps.secure || !caps.streaming) throw new Error(`no secure streaming context: ${JSON.stringify(caps)}`);
      await p.waitFor(() => !!document.querySelector('[data-file="twenty.bin"] button'), undefined, 30000);
      const saved = b.name.startsWith('chromium') ? p.nextDownload() : null;
      await p.click('[data-file="twenty.bin"] button');
      await p.waitFor(() => document.querySelector('[data-transfer="twenty.bin"]')?.dataset.state, undefined, 60000);
      const text = await p.eval(() => document.querySelector('[data-transfer="twenty.bin"]').textContent);
      if (!text.includes('Verified')) throw new Error(`download: ${text}`);
      const how = await p.eval(() => globalThis.peerbox.handover.last);
      if (how !== 'service-worker') throw new Error(`handed over by ${how}, not the service worker`);
      if (saved && sha(await saved) !== sha(big)) throw new Error('file saved through the service worker differs');
      // The page keeps the file in OPFS (to re-seed it). Another tab's clean-up, even one that
      // takes every file for stale, leaves it alone while this page lives; an unused leftover goes.
      const listing = async () => {
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('peerbox-incoming', { create: true });
        const names = [];
        for await (const [n] of dir.entries()) names.push(n);
        return names;
      };
      const kept = await p.eval(listing);
      if (!kept.length) throw new Error('no OPFS file kept after the download');
      // A second tab of the same browser profile (b.page() would open a separate one).
      const q = b.name.startsWith('chromium')
        ? wrapPlaywright(await p.raw.context().newPage())
        : wrapPuppeteer(await p.raw.browserContext().newPage());
      await ready(q, 'other-tab', base);
      const after = await q.eval(async () => {
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('peerbox-incoming', { create: true });
        await dir.getFileHandle('left-by-a-closed-page', { create: true });
        const { cleanupStale } = await import('/js/sink.js');
        await cleanupStale(0);
        const names = [];
        for await (const [n] of dir.entries()) names.push(n);
        return names;
      });
      await q.close();
      if (after.includes('left-by-a-closed-page')) throw new Error('the clean-up left an unused file');
      const lost = kept.filter((n) => !after.includes(n));
      if (lost.length) throw new Error(`another tab's clean-up deleted files a live page uses: ${lost}`);
      // Plain http on the same port sends the app to https.
      const res = await fetch(`http://${HOST}:${port}/?room=x`, { redirect: 'manual' });
      if (res.status !== 308 || res.headers.get('location') !== `${base}?room=x`) throw new Error(`no redirect: ${res.status}`);
      await p.close();
    } finally {
      await stopDaemon(child);
    }
  },
};

Object.assign(tests, suiteTests);

// ---- runner ---------------------------------------------------------------------------------
let passed = 0;
let failed = 0;
await startDaemon();
try {
  for (const [label, open] of [['chromium', openChromium], ['firefox', openFirefox], ['chromium-ip', openChromiumIp]]) {
    if (!only.includes(label)) continue;
    const b = await open();
    try {
      for (const [name, test] of Object.entries(tests)) {
        if (!name.includes(grep)) continue;
        if (label === 'chromium-ip' && !IP_TESTS.includes(name)) continue;
        const t0 = Date.now();
        try {
          if ((await test(b)) === 'skip') {
            console.log(`skip ${label}: ${name}`);
            continue;
          }
          passed += 1;
          console.log(`ok   ${label}: ${name} (${Date.now() - t0} ms)`);
        } catch (err) {
          failed += 1;
          console.log(`FAIL ${label}: ${name}: ${err.stack || err}`);
        }
      }
    } finally {
      await b.close();
    }
  }
} finally {
  await stopDaemon();
}
if (failed) {
  writeFileSync(join(ARTIFACTS, 'daemon.log'), daemonLog);
  console.log(`daemon log (whole: ${join(ARTIFACTS, 'daemon.log')}):\n${daemonLog.split('\n').slice(-40).join('\n')}`);
}
console.log(`web: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
