// The browser tests' harness: the daemon under test, the browsers, and helpers shared by
// run.mjs and the suites in suites/. Runs inside a private network namespace
// (scripts/netns-run.sh) so browsers gather ICE candidates.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';
import { capture, drain } from './wire.mjs';

export const BIN = resolve(process.argv[2] || '../../target/debug/peerbox');
export const HOST = process.env.WEBTEST_HOST || '10.77.0.1';
export const PORT = 18000 + Math.floor(Math.random() * 2000);
export const BASE = `http://${HOST}:${PORT}/`;
export const ARTIFACTS = resolve(process.env.WEBTEST_ARTIFACTS || '../../target/test-artifacts');
export const only = (process.env.WEBTEST_BROWSERS || 'chromium,firefox,chromium-ip').split(',');
export const grep = process.env.WEBTEST_GREP || ''; // run only tests whose name contains this
mkdirSync(ARTIFACTS, { recursive: true });

export const work = mkdtempSync(join(tmpdir(), 'peerbox-web-'));
// The files of a run (hundreds of MiB) go when the runner exits, however it exits.
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
export const dirs = { share: join(work, 'share'), incoming: join(work, 'incoming'), state: join(work, 'state') };
for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
export const big = randomBytes(20 << 20);
writeFileSync(join(dirs.share, 'twenty.bin'), big);
writeFileSync(join(dirs.share, 'fifty.bin'), randomBytes(50 << 20));
mkdirSync(join(dirs.share, 'photos'));
writeFileSync(join(dirs.share, 'photos', 'note <b>x<i>.txt'), 'hello from the share\n');

export const sha = (buf) => createHash('sha256').update(buf).digest('hex');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- daemon ---------------------------------------------------------------------------------
export let daemon = null;
export let daemonLog = '';
// A short shutdown grace, so a restart cuts transfers off instead of letting them finish.
export const DAEMON_ENV = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', PEERBOX_SERVER__SHUTDOWN_GRACE_SECS: '1' };
export function spawnDaemon(port, stateDir, env = {}, share = dirs.share, incoming = dirs.incoming) {
  const child = spawn(BIN, ['run', '--system-config', '/nonexistent', '--listen', `${HOST}:${port}`,
    '--share-dir', share, '--incoming-dir', incoming, '--state-dir', stateDir], {
    env: { ...DAEMON_ENV, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.on('data', (d) => { daemonLog += d; });
  return child;
}
export async function waitHealthy(url) {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error(`daemon did not start:\n${daemonLog}`);
}
export async function startDaemon() {
  daemon = spawnDaemon(PORT, dirs.state);
  await waitHealthy(`${BASE}healthz`);
}
export async function stopDaemon(child = daemon) {
  if (!child) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  if (child === daemon) daemon = null;
}

// ---- browsers -------------------------------------------------------------------------------
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
  '--disable-component-update', '--disable-sync',
  // The HTTPS test's self-signed certificate: without this flag Chromium refuses to register a
  // service worker from an origin with a certificate error, even after the user accepted it.
  '--ignore-certificate-errors'];

export async function openChromium() {
  return launchChromium('chromium', CHROMIUM_ARGS);
}
// Phones hide their host candidates behind mDNS names, as default Chromium does; a peer that
// shows real IP candidates must work too. This one runs the transfer tests in IP_TESTS.
export async function openChromiumIp() {
  return launchChromium('chromium-ip', [...CHROMIUM_ARGS, '--disable-features=WebRtcHideLocalIpsWithMdns']);
}
export const IP_TESTS = ['host candidates: mDNS names by default, addresses when not hidden', 'download a 20 MiB shared file through the UI, verified',
  'send a file to the seeder; it lands in incoming', 'a transfer between two browser pages, accepted first'];
export async function launchChromium(name, args) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args, headless: true });
  return {
    name,
    close: () => browser.close(),
    async page(width = 390) {
      const ctx = await browser.newContext({ viewport: { width, height: 800 }, acceptDownloads: true, ignoreHTTPSErrors: true });
      const page = await ctx.newPage();
      page.on('console', (m) => { if (m.type() === 'error') console.log(`  [chromium console] ${m.text()}`); });
      return wrapPlaywright(page);
    },
  };
}

export async function openFirefox() {
  const browser = await puppeteer.launch({
    browser: 'firefox', executablePath: '/usr/bin/firefox-esr', headless: true, acceptInsecureCerts: true,
    extraPrefsFirefox: {
      'browser.download.folderList': 2, 'browser.download.dir': join(work, 'ff-downloads'),
      // Headless Firefox has no system notification service; its own alert windows work.
      'alerts.useSystemBackend': false,
    },
  });
  return {
    name: 'firefox',
    close: () => browser.close(),
    async page(width = 390) {
      const ctx = await browser.createBrowserContext();
      const page = await ctx.newPage();
      await page.setViewport({ width, height: 800 });
      page.on('console', (m) => { if (m.type() === 'error') console.log(`  [firefox console] ${m.text()}`); });
      return wrapPuppeteer(page);
    },
  };
}

// One small page API over both drivers. Every page records its control messages (wire.mjs);
// they are checked against the JSON Schema before it navigates and when it closes.
async function closeChecked(evaluate, close) {
  let bad = null;
  try {
    await drain(evaluate);
  } catch (err) {
    bad = err;
  }
  await close();
  if (bad) throw bad;
}
export function wrapPlaywright(page) {
  const installed = page.addInitScript(capture);
  installed.catch(() => {});
  const evaluate = (fn) => page.evaluate(fn);
  return {
    raw: page, // the driver's own page, for what only one driver has (permissions, CDP)
    acceptDialogs: () => page.on('dialog', (d) => d.accept()),
    nextDownload: (ms = 60000) => {
      const p = page.waitForEvent('download', { timeout: ms }).then(async (dl) => readFileSync(await dl.path()));
      p.catch(() => {}); // a test that fails earlier must not crash the runner
      return p;
    },
    goto: async (url) => {
      await installed;
      await drain(evaluate);
      return page.goto(url);
    },
    eval: (fn, arg) => page.evaluate(fn, arg),
    waitFor: (fn, arg, ms = 20000) => page.waitForFunction(fn, arg, { timeout: ms }),
    fill: (sel, v) => page.fill(sel, v),
    click: (sel) => page.click(sel),
    setFiles: (sel, files) => page.setInputFiles(sel, files),
    screenshot: (path) => page.screenshot({ path, fullPage: true }),
    close: () => closeChecked(evaluate, () => page.close()),
  };
}
export function wrapPuppeteer(page) {
  const installed = page.evaluateOnNewDocument(capture);
  installed.catch(() => {});
  const evaluate = (fn) => page.evaluate(fn);
  return {
    raw: page,
    acceptDialogs: () => page.on('dialog', (d) => d.accept()),
    goto: async (url) => {
      await installed;
      await drain(evaluate);
      return page.goto(url);
    },
    eval: (fn, arg) => page.evaluate(fn, arg),
    waitFor: (fn, arg, ms = 20000) => page.waitForFunction(fn, { timeout: ms }, arg),
    fill: async (sel, v) => { await page.$eval(sel, (e) => { e.value = ''; }); await page.type(sel, v); },
    // The file list is virtualised, and the seeder's list replaces the early one: a row can be
    // redrawn between puppeteer's query and its click ("Node is detached", "not clickable").
    // Query again, as Playwright's click does by itself.
    click: async (sel) => {
      for (let i = 0; ; i++) {
        try {
          return await page.click(sel);
        } catch (err) {
          if (i >= 10 || !/detached|not clickable/i.test(String(err))) throw err;
          await sleep(50);
        }
      }
    },
    setFiles: async (sel, files) => (await page.$(sel)).uploadFile(...files),
    screenshot: (path) => page.screenshot({ path, fullPage: true }),
    close: () => closeChecked(evaluate, () => page.close()),
  };
}

/** Waits until the page shows the seeder's own file list (whole), not the early one. */
export const seederListed = (p, ms = 30000) => p.waitFor(() => {
  const st = globalThis.peerbox?.state;
  const s = st?.seeder && st.links.get(st.seeder)?.session;
  return !!(s?.ready && s.catalog?.ready);
}, undefined, ms);
export const myName = (p) => p.eval(() => document.getElementById('my-name').textContent);
export async function ready(p, room = 'home', base = BASE) {
  await p.goto(`${base}?room=${room}`);
  await p.waitFor(() => globalThis.peerbox?.sig?.online === true);
  return myName(p);
}

// Two pages in a fresh room; page `a` starts sending `size` random bytes to page `c`, which
// accepts. `finish` waits for both rows and checks them and the saved bytes. `beforeSend(a, c)`
// runs once both pages are in the room, before anything is sent.
export async function sendBetweenPages(b, tag, size, { beforeSend } = {}) {
  const room = `${tag}-${b.name}`;
  const a = await b.page();
  const c = await b.page();
  await ready(a, room);
  const cName = await ready(c, room);
  c.acceptDialogs();
  await beforeSend?.(a, c);
  await a.waitFor((n) => [...document.querySelectorAll('#send-to option')].some((o) => o.value === n), cName);
  const name = `${tag}-${b.name}.bin`;
  const src = join(work, name);
  const payload = randomBytes(size);
  writeFileSync(src, payload);
  const saved = b.name.startsWith('chromium') ? c.nextDownload() : null;
  await a.eval((n) => { document.getElementById('send-to').value = n; }, cName);
  await a.setFiles('#file-input', [src]);
  const state = (p) => p.waitFor((n) => document.querySelector(`[data-transfer="${n}"]`)?.dataset.state, name, 90000)
    .then(() => p.eval((n) => document.querySelector(`[data-transfer="${n}"]`).textContent, name));
  async function finish() {
    const [sent, got] = await Promise.all([state(a), state(c)]);
    if (!got.includes('Verified')) throw new Error(`receiver: ${got}`);
    if (!sent.includes('Delivered')) throw new Error(`sender: ${sent}`);
    if (saved && sha(await saved) !== sha(payload)) throw new Error('received file differs');
  }
  return { a, c, cName, name, finish, close: async () => { await a.close(); await c.close(); } };
}
