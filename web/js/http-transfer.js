// Transfers with the appliance over plain HTTP, for when WebRTC to it cannot connect (UDP
// blocked, a VPN app, a strict firewall) or the server prefers it (`server.http_transfers`):
// downloads stream from GET /files/<id> (Range to resume; the BLAKE3 hash is checked in the page
// as over WebRTC; OPFS on https, a blob on http, see sink.js), uploads use tus 1.0 at /uploads
// through the vendored tus-js-client (resumable by the server's upload key, also across a
// server restart). Rows say which path a transfer took ("over HTTP").
import * as fmt from './format.js';
import { Blake3, hashBlob } from './hash.js';
import { createSink, sizeWarning } from './sink.js';

/** How long a transfer keeps retrying while the server is away (a restart, a Wi-Fi blip). */
const GIVE_UP_MS = 5 * 60_000;
/** Bytes per tus PATCH: each one ends with the server's bytes fsynced. */
const PATCH_BYTES = 16 << 20;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let settingsPromise = null;
/** The server's `/client.json` (whether and when HTTP transfers are used). */
export function settings() {
  if (!settingsPromise) {
    settingsPromise = fetch('/client.json')
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null)
      .then((s) => s || { http_transfers: 'off', http_downloads: false, http_uploads: false });
  }
  return settingsPromise;
}

/** The catalog over HTTP (when the seeder's DataChannel is not there), polled cheaply (ETag). */
export class HttpCatalog {
  constructor(onFiles) {
    this.onFiles = onFiles;
    this.etag = null;
    this.timer = null;
  }

  async refresh() {
    try {
      const res = await fetch('/catalog.json', { headers: this.etag ? { 'If-None-Match': this.etag } : {} });
      if (res.status === 200) {
        this.etag = res.headers.get('ETag');
        this.onFiles((await res.json()).files);
      }
    } catch { /* server away; the next poll tries again */ }
  }

  start(everyMs = 10_000) {
    if (this.timer) return;
    this.refresh();
    this.timer = setInterval(() => this.refresh(), everyMs);
  }
}

/** Downloads `file` (a catalog entry) into a sink, verified, resuming with Range after errors. */
export async function httpDownload(file, view, peer) {
  const name = file.path.split('/').pop();
  const sink = createSink({ key: `${file.hash}-${Date.now()}-http`, name, mime: file.mime });
  const hasher = new Blake3();
  let got = 0;
  let canceled = false;
  const ctrl = { abort: null };
  const row = view.addTransfer({
    direction: 'down', name, size: file.size, peer, via: 'HTTP',
    onCancel: () => { canceled = true; ctrl.abort?.(); },
  });
  row.progress(0);
  await sink.open();
  let lastProgress = Date.now();
  while (got < file.size && !canceled) {
    const abort = new AbortController();
    ctrl.abort = () => abort.abort();
    try {
      const headers = got > 0 ? { Range: `bytes=${got}-`, 'If-Range': `"${file.hash}"` } : {};
      const res = await fetch(`/files/${encodeURIComponent(file.id)}`, { headers, signal: abort.signal, cache: 'no-store' });
      if (got > 0 && res.status !== 206) throw new Error(`the server answered ${res.status} to a resume`);
      if (got === 0 && res.status !== 200) throw new Error(`the server answered ${res.status}`);
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        sink.write(got, value);
        hasher.update(value);
        got += value.byteLength;
        lastProgress = Date.now();
        row.progress(got);
      }
    } catch (err) {
      if (canceled) break;
      if (Date.now() - lastProgress > GIVE_UP_MS) {
        row.fail(`Failed over HTTP: ${err.message}`);
        hasher.drop();
        sink.abort();
        return;
      }
      row.status(`Interrupted at ${fmt.bytes(got)}; resuming over HTTP…`);
      await sleep(1000);
      if (got > 0) resumes.downloads += 1;
    }
  }
  if (canceled) {
    hasher.drop();
    sink.abort();
    row.fail('Canceled');
    return;
  }
  row.status('Verifying…');
  const hex = await hasher.hex();
  if (hex !== file.hash) {
    row.fail('Failed: the file did not match its hash; nothing was saved');
    sink.abort();
    return;
  }
  await sink.finish();
  row.done(`Verified and saved · ${fmt.bytes(file.size)} · over HTTP`);
}

/** Counts of transfers that continued after an interruption (tests read them). */
export const resumes = { downloads: 0, uploads: 0 };

let tusLoaded = null;
/** tus-js-client (87 KB) is fetched the first time an HTTP upload needs it, not with the page. */
function loadTus() {
  tusLoaded ??= new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = 'vendor/tus.min.js';
    s.onload = () => resolve(globalThis.tus);
    s.onerror = () => {
      tusLoaded = null;
      reject(new Error('cannot load the upload library'));
    };
    document.head.append(s);
  });
  return tusLoaded;
}

/** Sends `file` to the appliance with tus; `token` (the signaling resume token) names us. */
export async function httpUpload(file, view, peer, token) {
  const row = view.addTransfer({ direction: 'up', name: file.name, size: file.size, peer, via: 'HTTP', onCancel: () => cancel() });
  row.status('Preparing (hashing)…');
  const [hash, tus] = await Promise.all([hashBlob(file), loadTus()]);
  let savedAs = null;
  let upload = null;
  const cancel = () => {
    upload?.abort(true);
    row.fail('Canceled');
  };
  const delays = [0, 1000, 2000, 3000];
  while (delays.reduce((a, b) => a + b, 0) < GIVE_UP_MS) delays.push(3000);
  upload = new tus.Upload(file, {
    endpoint: '/uploads',
    chunkSize: PATCH_BYTES,
    retryDelays: delays,
    removeFingerprintOnSuccess: true,
    metadata: { filename: file.name, blake3: hash, ...(fmt.folderOf(file) ? { folder: fmt.folderOf(file) } : {}), ...(token ? { token } : {}) },
    onProgress: (sent) => row.progress(sent),
    onShouldRetry: (err, attempt) => {
      const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
      // Refusals (name, quota, space, hash) are final; a server away or busy is not.
      const retry = status === 0 || status === 409 || status === 423 || status >= 500;
      if (retry) {
        row.status(`Interrupted; resuming over HTTP (attempt ${attempt + 1})…`);
        if (status !== 423) resumes.uploads += 1;
      }
      return retry && status !== 507;
    },
    onAfterResponse: (req, res) => {
      const saved = res.getHeader('Peerbox-Saved-As');
      if (saved) savedAs = decodeURIComponent(saved);
    },
    onError: (err) => {
      const body = err.originalResponse?.getBody();
      row.fail(`Failed over HTTP: ${(body || err.message || String(err)).trim()}`);
    },
    onSuccess: () => row.done(savedAs ? `Saved as ${savedAs} · over HTTP` : `Delivered · ${fmt.bytes(file.size)} · over HTTP`),
  });
  row.status('Uploading over HTTP…');
  upload.start();
}

/**
 * Whether to go on with an in-page download of `file`: above the in-page size limit the user
 * chooses (the direct HTTP download starts from the dialog itself).
 */
export async function pageDownloadOk(file) {
  const warning = sizeWarning(file.size);
  if (!warning) return true;
  if (!(await settings()).http_downloads) return window.confirm(`${warning}\n\nDownload ${file.path} anyway?`);
  return (await chooseLargeDownload(file, warning)) === 'page';
}

/**
 * A file above the in-page size limit on plain http: ask whether to download it straight into
 * the browser's downloads (any size, resumable by the browser, NOT hash-checked in the page) or
 * in the page (verified, but held in memory). Resolves 'direct', 'page' or null (dismissed).
 */
export function chooseLargeDownload(file, warning) {
  const dialog = document.getElementById('large-dialog');
  document.getElementById('large-text').textContent = warning;
  const direct = document.getElementById('large-direct');
  direct.href = `/files/${encodeURIComponent(file.id)}`;
  direct.setAttribute('download', file.path.split('/').pop());
  return new Promise((resolve) => {
    const done = (how) => {
      dialog.removeEventListener('close', onClose);
      resolve(how);
    };
    const onClose = () => done(dialog.returnValue === 'page' ? 'page' : dialog.returnValue === 'direct' ? 'direct' : null);
    dialog.addEventListener('close', onClose);
    direct.onclick = () => {
      // The link itself starts the browser's download; only close the dialog.
      dialog.close('direct');
    };
    dialog.returnValue = '';
    dialog.showModal();
  });
}
