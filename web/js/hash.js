// BLAKE3 of a stream of chunks, computed in hash-worker.js. One worker serves every transfer.

let worker = null;
const pending = new Map();
let nextId = 1;

function getWorker() {
  if (!worker) {
    worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    worker.onmessage = (ev) => {
      const { id, hex, error } = ev.data;
      const p = pending.get(id);
      if (!p) return;
      pending.delete(id);
      if (error) p.reject(new Error(error));
      else p.resolve(hex);
    };
  }
  return worker;
}

/** An incremental hasher: update(Uint8Array) in order, then await hex(). */
export class Blake3 {
  constructor() {
    this.id = nextId++;
    getWorker().postMessage({ op: 'init', id: this.id });
  }

  update(bytes) {
    // Copy: the caller's buffer may be reused or transferred elsewhere.
    const copy = bytes.slice().buffer;
    getWorker().postMessage({ op: 'update', id: this.id, data: copy }, [copy]);
  }

  hex() {
    return new Promise((resolve, reject) => {
      pending.set(this.id, { resolve, reject });
      getWorker().postMessage({ op: 'final', id: this.id });
    });
  }

  drop() {
    getWorker().postMessage({ op: 'drop', id: this.id });
  }
}

/** BLAKE3 of a File or Blob, read in slices (used before offering an upload). */
export async function hashBlob(blob, onProgress) {
  const h = new Blake3();
  const step = 4 << 20;
  for (let off = 0; off < blob.size; off += step) {
    const buf = new Uint8Array(await blob.slice(off, off + step).arrayBuffer());
    h.update(buf);
    onProgress?.(Math.min(off + step, blob.size));
  }
  return h.hex();
}
