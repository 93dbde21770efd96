// Lighthouse (npm, mobile profile, Debian's Chromium) on the page served by the daemon, over
// plain http and over HTTPS (self-signed, its key pinned as trusted so Chromium treats the
// origin as secure), plus the PWA category's installability audits over HTTPS. Runs inside the
// test network namespace (scripts/netns-run.sh). Prints `key value` lines for bench section 16.
// Usage: node lighthouse.mjs PEERBOX_BINARY
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const BIN = resolve(process.argv[2]);
const HOST = '10.77.0.1';
const PORT = 20000 + Math.floor(Math.random() * 2000);
const work = mkdtempSync(join(tmpdir(), 'peerbox-lh-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The modules app.js loads at start: its static imports, followed (dynamic import() is not). */
function firstLoadModules() {
  const dir = resolve(new URL('.', import.meta.url).pathname, '../../web/js');
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    const src = readFileSync(join(dir, name), 'utf8');
    for (const m of src.matchAll(/^(?:import|export)\s[^'"]*['"]\.\/([\w-]+\.js)['"]/gm)) visit(m[1]);
  };
  visit('app.js');
  return [...seen];
}

// A share like a home's: a few folders, photos, a video, some documents.
const share = join(work, 'share');
for (const [path, size] of [['holiday/beach.jpg', 2e6], ['holiday/sunset.jpg', 3e6], ['holiday/clip.webm', 8e6],
  ['docs/letter.pdf', 2e5], ['music/song.mp3', 4e6], ['notes.txt', 100]]) {
  mkdirSync(join(share, path, '..'), { recursive: true });
  writeFileSync(join(share, path), randomBytes(size));
}

const daemon = spawn(BIN, ['run', '--system-config', '/nonexistent', '--listen', `${HOST}:${PORT}`,
  '--share-dir', share, '--incoming-dir', join(work, 'incoming'), '--state-dir', join(work, 'state'),
  // Trying page changes without a release rebuild: LH_WEB_DIR=web serves the page from disk.
  ...(process.env.LH_WEB_DIR ? ['--web-dir', resolve(process.env.LH_WEB_DIR)] : [])], {
  env: { ...process.env, RUST_LOG: 'warn', PEERBOX_SERVER__TLS__ENABLED: 'true', PEERBOX_SERVER__TLS__REDIRECT_HTTP: 'false' },
  stdio: 'ignore',
});
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://${HOST}:${PORT}/healthz`)).ok) break;
    } catch { /* not yet */ }
    if (i > 200) throw new Error('daemon did not start');
    await sleep(50);
  }
  await sleep(2500); // the share settles and is hashed
  const pem = readFileSync(join(work, 'state', 'tls', 'cert.pem'), 'utf8');
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  const pin = createHash('sha256').update(spki).digest('base64');
  const lh = require.resolve('lighthouse/cli/index.js');
  for (const [label, url] of [['http', `http://${HOST}:${PORT}/`], ['https', `https://${HOST}:${PORT}/`]]) {
    const out = join(work, `lh-${label}.json`);
    const cats = label === 'https' ? 'performance,accessibility,best-practices,pwa' : 'performance,accessibility,best-practices';
    execFileSync('node', [lh, url, '--quiet', '--output=json', `--output-path=${out}`, `--only-categories=${cats}`,
      `--chrome-flags=--headless --no-sandbox --disable-gpu --ignore-certificate-errors-spki-list=${pin} --user-data-dir=${join(work, `profile-${label}`)}`],
    { env: { ...process.env, CHROME_PATH: '/usr/bin/chromium' }, stdio: ['ignore', 'ignore', 'inherit'], timeout: 240_000 });
    const r = JSON.parse(readFileSync(out, 'utf8'));
    const score = (c) => (r.categories[c] ? Math.round(r.categories[c].score * 100) : 'n/a');
    console.log(`${label}_performance ${score('performance')}`);
    console.log(`${label}_accessibility ${score('accessibility')}`);
    console.log(`${label}_best_practices ${score('best-practices')}`);
    console.log(`${label}_total_bytes ${Math.round(r.audits['total-byte-weight'].numericValue)}`);
    console.log(`${label}_lcp_ms ${Math.round(r.audits['largest-contentful-paint'].numericValue)}`);
    console.log(`${label}_tbt_ms ${Math.round(r.audits['total-blocking-time'].numericValue)}`);
    const failed = (c) => (r.categories[c]?.auditRefs || []).filter((a) => a.weight > 0 && r.audits[a.id].score !== null && r.audits[a.id].score < 1).map((a) => a.id);
    console.log(`${label}_cls ${r.audits['cumulative-layout-shift'].numericValue.toFixed(3)}`);
    console.log(`${label}_fcp_ms ${Math.round(r.audits['first-contentful-paint'].numericValue)}`);
    console.log(`${label}_failed_audits ${['performance', 'accessibility', 'best-practices'].flatMap(failed).join(',') || 'none'}`);
    if (label === 'https') {
      const inst = r.audits['installable-manifest'];
      console.log(`https_installable ${inst?.score === 1 ? 'yes' : `no:${JSON.stringify(inst?.details?.items || inst?.explanation || '')}`}`);
      console.log(`https_pwa_failed ${failed('pwa').join(',') || 'none'}`);
    }
  }
  // What the page itself fetches on first load (gzip, as served), BLAKE3 code counted too.
  const firstLoad = ['', 'app.css', 'icon.svg', 'manifest.webmanifest', 'catalog.json', 'client.json',
    ...firstLoadModules().map((m) => `js/${m}`)];
  let gz = 0;
  for (const p of [...firstLoad, 'js/hash-worker.js', 'vendor/blake3.umd.min.js']) {
    const raw = execFileSync('curl', ['-s', '--compressed', '-o', '/dev/null', '-w', '%{size_download}', `http://${HOST}:${PORT}/${p}`]).toString();
    gz += Number(raw);
  }
  console.log(`first_load_gzip_bytes ${gz}`);
} finally {
  daemon.kill('SIGTERM');
}
