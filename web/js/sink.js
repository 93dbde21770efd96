// Where a received file goes while it arrives, so large files never sit in page memory.
//
// Secure context (https or localhost): chunks are written to the Origin Private File System by a
// worker (sync access handles), and the finished file is handed to the browser's download
// manager through the service worker, which streams it from OPFS. A partial file survives a
// reload, so a download resumes from what is on disk.
// Plain http on a LAN address (no OPFS, no service worker): chunks are gathered into Blobs of a
// few MiB (browsers keep large blobs out of the JS heap, Chromium spills them to disk) and saved
// with a download link at the end. That path has a size limit, told to the user before starting.

const MiB = 1 << 20;

/** How the last finished file reached the browser's downloads (for tests and debugging). */
export const handover = { last: null };

export function capabilities() {
  const opfs = !!(globalThis.isSecureContext && navigator.storage?.getDirectory && globalThis.Worker);
  const sw = !!(globalThis.isSecureContext && 'serviceWorker' in navigator);
  return { opfs, sw, streaming: opfs && sw };
}

/** The largest file the memory path should take on this device. */
export function memoryLimit() {
  // Test and debugging knob: `?memory_limit_mb=N` lowers the limit, so the large-file choice can
  // be tried without huge files.
  const knob = Number(new URLSearchParams(location.search).get('memory_limit_mb'));
  if (knob > 0) return knob * MiB;
  const mem = navigator.deviceMemory || 4; // GB, a coarse hint (Chromium only)
  const phone = /Android|iPhone|iPad|Mobile/i.test(navigator.userAgent);
  if (phone) return Math.min(1024, mem * 256) * MiB;
  return Math.min(4096, mem * 512) * MiB;
}

/** Explains the path and its limit for a file of `size` bytes; null when nothing to say. */
export function sizeWarning(size) {
  if (capabilities().streaming) return null;
  const limit = memoryLimit();
  if (size <= limit) return null;
  return `This page is on plain http, where browsers offer no file streaming. Files over ${Math.round(
    limit / MiB,
  )} MB may not fit on this device; open peerbox over https to receive larger files.`;
}

let swReady = null;
function serviceWorker() {
  if (!swReady) {
    swReady = navigator.serviceWorker
      .register('/sw.js', { scope: '/' })
      .then(() => navigator.serviceWorker.ready)
      .then(() => {
        // Active is not enough: the page must be controlled, or the download request would go
        // to the network. The worker claims open pages on activation; wait for that, briefly.
        if (navigator.serviceWorker.controller) return;
        return new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('service worker never took control')), 3000);
          navigator.serviceWorker.addEventListener('controllerchange', () => {
            clearTimeout(t);
            resolve();
          }, { once: true });
        });
      });
    swReady.catch(() => { swReady = null; });
  }
  return swReady;
}

let opfsWorker = null;
let opfsSeq = 1;
const opfsPending = new Map();
function opfs(op, args, transfer = []) {
  if (!opfsWorker) {
    opfsWorker = new Worker(new URL('./opfs-worker.js', import.meta.url));
    opfsWorker.onmessage = (ev) => {
      const p = opfsPending.get(ev.data.seq);
      opfsPending.delete(ev.data.seq);
      if (ev.data.error) p?.reject(new Error(ev.data.error));
      else p?.resolve(ev.data.result);
    };
  }
  const seq = opfsSeq++;
  return new Promise((resolve, reject) => {
    opfsPending.set(seq, { resolve, reject });
    opfsWorker.postMessage({ seq, op, ...args }, transfer);
  });
}

// The OPFS files a page uses (receiving, or kept to re-seed to other pages) are held as Web
// Locks for the page's lifetime, and `cleanupStale` in any tab of the origin leaves locked files
// alone: a download paused for a while, or a file re-seeded for an hour, is not deleted under
// the page that uses it by another tab opening the app.
const LOCK_PREFIX = 'peerbox-opfs:';

/** Holds the lock of OPFS file `key` until the returned function is called or the page ends. */
async function holdFile(key) {
  if (!navigator.locks) return () => {};
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  await new Promise((granted, failed) => {
    navigator.locks.request(LOCK_PREFIX + key, () => { granted(); return held; }).catch(failed);
  });
  return release;
}

/** Writes into OPFS under a key stable for the same file, so a reload can resume. */
class OpfsSink {
  constructor(key, name, mime) {
    this.key = key;
    this.name = name;
    this.mime = mime;
    this.kind = 'opfs';
    this.release = null;
  }

  /** Bytes already on disk from an earlier attempt (the resume offset). */
  async open() {
    this.release ??= await holdFile(this.key);
    return opfs('open', { key: this.key });
  }

  write(offset, bytes) {
    const buf = bytes.slice().buffer;
    return opfs('write', { key: this.key, offset, data: buf }, [buf]);
  }

  /** The finished file in OPFS, as a disk-backed File (what re-seeding serves from). */
  async file() {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('peerbox-incoming');
    return (await dir.getFileHandle(this.key)).getFile();
  }

  /** Hands the file to the browser's downloads; returns it as a disk-backed File. */
  async finish() {
    await opfs('close', { key: this.key });
    // For re-seeding only: gone when another tab of this origin cleaned OPFS up meanwhile.
    const file = await this.file().catch(() => null);
    try {
      await serviceWorker();
      const url = `/__peerbox_download/${encodeURIComponent(this.key)}/${encodeURIComponent(this.name)}?type=${encodeURIComponent(this.mime || 'application/octet-stream')}`;
      // A hidden frame navigates to the worker's attachment response: Chromium cancels an
      // <a download> whose response comes from a service worker, a frame navigation it keeps.
      const frame = document.createElement('iframe');
      frame.hidden = true;
      frame.src = url;
      document.body.append(frame);
      handover.last = 'service-worker';
      setTimeout(() => frame.remove(), 60_000);
    } catch (err) {
      // No service worker (blocked, or a certificate the browser only half trusts): the OPFS
      // file is still on disk, and a File from it is disk-backed, so hand that over instead.
      console.warn('service worker unavailable; saving from OPFS directly', err);
      if (!file) throw err;
      const url = URL.createObjectURL(new Blob([file], { type: this.mime || 'application/octet-stream' }));
      triggerDownload(url, this.name);
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      handover.last = 'opfs-file';
    }
    return file;
  }

  abort() {
    const release = this.release;
    this.release = null;
    return opfs('remove', { key: this.key }).finally(() => release?.());
  }
}

/** Gathers chunks into Blobs; used where OPFS or service workers are missing. */
class MemorySink {
  constructor(name, mime) {
    this.name = name;
    this.mime = mime;
    this.kind = 'memory';
    this.blobs = [];
    this.pending = [];
    this.pendingBytes = 0;
    this.size = 0;
  }

  async open() {
    return 0;
  }

  write(offset, bytes) {
    if (offset !== this.size) throw new Error(`out-of-order chunk at ${offset}, expected ${this.size}`);
    this.pending.push(bytes.slice());
    this.pendingBytes += bytes.byteLength;
    this.size += bytes.byteLength;
    if (this.pendingBytes >= 8 * MiB) this.flush();
  }

  flush() {
    if (this.pending.length) this.blobs.push(new Blob(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
  }

  async finish() {
    this.flush();
    const blob = new Blob(this.blobs, { type: this.mime || 'application/octet-stream' });
    this.blobs = [];
    const url = URL.createObjectURL(blob);
    triggerDownload(url, this.name);
    handover.last = 'memory';
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    return blob;
  }

  abort() {
    this.blobs = [];
    this.pending = [];
  }
}

/** Hands a finished Blob to the browser's downloads (the memory path). */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  triggerDownload(url, name);
  handover.last = 'memory';
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function triggerDownload(url, name) {
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
}

/**
 * Removes what earlier page loads left in OPFS: unfinished files (nothing resumes across a
 * reload) and finished ones the service worker has long since handed over. Files a live page of
 * the origin holds (its lock, see `holdFile`) stay, however old.
 */
export async function cleanupStale(maxAgeMs = 10 * 60_000) {
  if (!capabilities().opfs) return;
  try {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('peerbox-incoming', { create: true });
    const locks = navigator.locks ? await navigator.locks.query() : { held: [], pending: [] };
    const inUse = new Set([...locks.held, ...locks.pending].map((l) => l.name));
    for await (const [name, handle] of dir.entries()) {
      if (inUse.has(LOCK_PREFIX + name)) continue;
      const file = await handle.getFile().catch(() => null);
      if (file && Date.now() - file.lastModified > maxAgeMs) await dir.removeEntry(name).catch(() => {});
    }
  } catch (err) {
    console.warn('OPFS cleanup failed', err);
  }
}

/** A sink for one incoming file; `key` identifies it across reloads (e.g. its hash). */
export function createSink({ key, name, mime }) {
  return capabilities().streaming ? new OpfsSink(key, name, mime) : new MemorySink(name, mime);
}
