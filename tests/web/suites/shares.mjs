// Large shares in the page: a catalog of 20,000 files streams in (protocol version 2), lists
// folders first in a virtualised list (a bounded number of rows in the DOM), searches across
// every folder, and shows a file dropped into the share while the page is open.
import { mkdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, PORT, work, spawnDaemon, waitHealthy, stopDaemon, ready, sleep } from '../harness.mjs';

const FILES = 20000;
const FOLDERS = 100;
const MAX_ROWS = 80; // rows in the DOM at most, whatever the catalog's size

function makeShare() {
  const dir = join(work, 'big-share');
  if (existsSync(dir)) return dir;
  for (let d = 0; d < FOLDERS; d++) {
    const sub = join(dir, `d${String(d).padStart(3, '0')}`);
    mkdirSync(sub, { recursive: true });
    for (let f = d; f < FILES; f += FOLDERS) writeFileSync(join(sub, `f${String(f).padStart(5, '0')}.txt`), `${f}\n`);
  }
  return dir;
}

const rowsInDom = (p) => p.eval(() => document.querySelectorAll('#file-list li.vrow').length);

export const tests = {
  async 'a 20,000-file share: listed folders first, virtualised, searched; a dropped file appears'(b) {
    const share = makeShare();
    const incoming = join(work, 'big-incoming');
    mkdirSync(incoming, { recursive: true });
    const port = PORT + 3;
    // One state dir for both browsers: the second start reads the hash cache.
    const child = spawnDaemon(port, join(work, 'state-big'), { RUST_LOG: 'warn' }, share, incoming);
    try {
      await waitHealthy(`http://${HOST}:${port}/healthz`);
      const p = await b.page();
      const t0 = Date.now();
      await ready(p, 'home', `http://${HOST}:${port}/`);
      await p.waitFor((n) => document.getElementById('files-count').textContent === `(${n})`, FILES.toLocaleString('en-US'), 120000)
        .catch(async (e) => {
          const seen = await p.eval(() => {
            const s = [...globalThis.peerbox.state.links.values()].map((l) => l.session).find((x) => x.catalog);
            return { count: document.getElementById('files-count').textContent, status: document.getElementById('catalog-status').textContent,
              version: s?.version, files: s?.catalog?.files.size, catalogVersion: s?.catalog?.version, loaded: s?.catalog?.loaded, total: s?.catalog?.total };
          });
          throw new Error(`${e.message}; page: ${JSON.stringify(seen)}`);
        });
      console.log(`  ${FILES} files listed ${Date.now() - t0} ms after opening the page`);
      const top = await p.eval(() => [...document.querySelectorAll('#file-list li.vrow')].slice(0, 2).map((li) => li.dataset.folder));
      if (top[0] !== 'd000' || top[1] !== 'd001') throw new Error(`folders first, in order: ${JSON.stringify(top)}`);
      if ((await rowsInDom(p)) > MAX_ROWS) throw new Error(`${await rowsInDom(p)} rows in the DOM`);

      // Into a folder of 200 files, scrolled to the end: still a bounded number of rows.
      await p.eval(() => { const l = document.getElementById('file-list'); l.scrollTop = 42 * 56; l.dispatchEvent(new Event('scroll')); });
      await p.waitFor(() => !!document.querySelector('[data-folder="d042"]'));
      await p.click('[data-folder="d042"] button');
      await p.waitFor(() => !!document.querySelector('[data-file="d042/f00042.txt"]'));
      await p.eval(() => { const l = document.getElementById('file-list'); l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event('scroll')); });
      await p.waitFor(() => !!document.querySelector('[data-file="d042/f19942.txt"]'));
      if ((await rowsInDom(p)) > MAX_ROWS) throw new Error(`${await rowsInDom(p)} rows in the DOM in a folder`);

      // Search finds files in every folder.
      await p.fill('#filter', 'f1234');
      await p.waitFor(() => document.querySelector('#file-list li.vrow')?.getAttribute('aria-setsize') === '10');
      const found = await p.eval(() => [...document.querySelectorAll('#file-list li.vrow')].map((li) => li.dataset.file));
      if (found.length !== 10 || !found.includes('d040/f12340.txt') || !found.includes('d049/f12349.txt')) {
        throw new Error(`search for f1234: ${JSON.stringify(found)}`);
      }

      // The server's hashing progress is shown while it runs, and hidden when it is done.
      const status = (m) => p.eval((msg) => {
        const s = [...globalThis.peerbox.state.links.values()].map((l) => l.session).find((x) => x.catalog);
        s.catalog.onMessage(msg);
        const box = document.getElementById('catalog-status');
        return box.hidden ? null : box.textContent;
      }, m);
      const shown = await status({ type: 'catalog_progress', hashed: 5000, files: 100000 });
      if (shown !== 'Hashing 5,000 of 100,000 files…') throw new Error(`progress shown as ${shown}`);
      if ((await status({ type: 'catalog_progress', hashed: 100000, files: 100000 })) !== null) throw new Error('progress not hidden when done');

      // A file dropped into the share while the page is open appears (a delta, not the list).
      const name = `dropped-${b.name}.txt`;
      mkdirSync(join(share, 'late'), { recursive: true });
      const dropped = Date.now();
      writeFileSync(join(share, 'late', name), 'new\n');
      await p.fill('#filter', 'dropped-');
      await p.waitFor((n) => !!document.querySelector(`[data-file="late/${n}"]`), name, 30000);
      console.log(`  dropped file shown ${Date.now() - dropped} ms after it was written (settle time 1000 ms)`);
      await p.close();
    } finally {
      await stopDaemon(child);
      rmSync(join(share, 'late'), { recursive: true, force: true });
    }
  },
};
