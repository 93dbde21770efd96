// Writes incoming chunks to the Origin Private File System with sync access handles (worker
// only), so received data goes to disk as it arrives and survives a reload.
// Messages: {seq, op:'open'|'write'|'close'|'remove', key, offset?, data?} -> {seq, result|error}

const handles = new Map();
let dirPromise = null;

function dir() {
  if (!dirPromise) {
    dirPromise = navigator.storage
      .getDirectory()
      .then((root) => root.getDirectoryHandle('peerbox-incoming', { create: true }));
  }
  return dirPromise;
}

async function handleFor(key) {
  let h = handles.get(key);
  if (!h) {
    const file = await (await dir()).getFileHandle(key, { create: true });
    h = await file.createSyncAccessHandle();
    handles.set(key, h);
  }
  return h;
}

const ops = {
  async open({ key }) {
    return (await handleFor(key)).getSize();
  },
  async write({ key, offset, data }) {
    const h = await handleFor(key);
    const view = new Uint8Array(data);
    let done = 0;
    while (done < view.byteLength) {
      done += h.write(view.subarray(done), { at: offset + done });
    }
    return offset + done;
  },
  async close({ key }) {
    const h = handles.get(key);
    if (h) {
      h.flush();
      h.close();
      handles.delete(key);
    }
    return true;
  },
  async remove({ key }) {
    await ops.close({ key });
    await (await dir()).removeEntry(key).catch(() => {});
    return true;
  },
};

self.onmessage = async (ev) => {
  const { seq, op } = ev.data;
  try {
    const result = await ops[op](ev.data);
    self.postMessage({ seq, result });
  } catch (err) {
    self.postMessage({ seq, error: String(err && err.message ? err.message : err) });
  }
};
