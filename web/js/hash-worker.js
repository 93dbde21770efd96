// Incremental BLAKE3 off the main thread (classic worker: the vendored build is UMD).
// Works on plain http, where crypto.subtle is missing. Messages:
//   {op:'init', id}            start a hash for transfer `id`
//   {op:'update', id, data}    data: ArrayBuffer (transferred)
//   {op:'final', id}           -> {id, hex}
//   {op:'drop', id}            forget it
/* global hashwasm */
importScripts('../vendor/blake3.umd.min.js');

const hashers = new Map();
let queue = Promise.resolve();

self.onmessage = (ev) => {
  const msg = ev.data;
  // Keep order: createBLAKE3 is async, updates must not overtake it.
  queue = queue.then(() => handle(msg)).catch((err) => {
    self.postMessage({ id: msg.id, error: String(err && err.message ? err.message : err) });
  });
};

async function handle(msg) {
  switch (msg.op) {
    case 'init': {
      const h = await hashwasm.createBLAKE3();
      h.init();
      hashers.set(msg.id, h);
      break;
    }
    case 'update':
      hashers.get(msg.id)?.update(new Uint8Array(msg.data));
      break;
    case 'final': {
      const h = hashers.get(msg.id);
      hashers.delete(msg.id);
      self.postMessage({ id: msg.id, hex: h ? h.digest('hex') : null });
      break;
    }
    case 'drop':
      hashers.delete(msg.id);
      break;
    default:
      break;
  }
}
