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

export function capabilities() {
  const opfs = !!(globalThis.isSecureContext && navigator.storage?.getDirectory && globalThis.Worker);
  const sw = !!(globalThis.isSecureContext && 'serviceWorker' in navigator);
  return { opfs, sw, streaming: opfs && sw };
}

/** The largest file the memory path should take on this device. */
export function memoryLimit() {
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
      .then(() => navigator.serviceWorker.ready);
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

/** Writes into OPFS under a key stable for the same file, so a reload can resume. */
class OpfsSink {
  constructor(key, name, mime) {
    this.key = key;
    this.name = name;
    this.mime = mime;
    this.kind = 'opfs';
  }

  /** Bytes already on disk from an earlier attempt (the resume offset). */
  async open() {
    return opfs('open', { key: this.key });
  }

  write(offset, bytes) {
    const buf = bytes.slice().buffer;
    return opfs('write', { key: this.key, offset, data: buf }, [buf]);
  }

  async finish() {
    await opfs('close', { key: this.key });
    await serviceWorker();
    const url = `/__peerbox_download/${encodeURIComponent(this.key)}/${encodeURIComponent(this.name)}?type=${encodeURIComponent(this.mime || 'application/octet-stream')}`;
    triggerDownload(url, this.name);
  }

  abort() {
    return opfs('remove', { key: this.key });
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
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    return blob;
  }

  abort() {
    this.blobs = [];
    this.pending = [];
  }
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

/** A sink for one incoming file; `key` identifies it across reloads (e.g. its hash). */
export function createSink({ key, name, mime }) {
  return capabilities().streaming ? new OpfsSink(key, name, mime) : new MemorySink(name, mime);
}
