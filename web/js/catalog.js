// The seeder's catalog as this page holds it (docs/protocol.md, "Catalog"):
// version 2: the full list in `catalog_part`s, then `catalog_delta`s; a delta that does not
// start at the version held is a gap, answered with `catalog_resend`. Version 1: whole
// `catalog` snapshots. Files are indexed by folder, so a folder lists without scanning
// everything and a change costs only its own path.

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
export const byName = (a, b) => collator.compare(a, b);

class Folder {
  constructor(name, path, parent) {
    this.name = name;
    this.path = path;
    this.parent = parent;
    this.dirs = new Map(); // name -> Folder
    this.files = new Map(); // name -> file
    this.count = 0; // files at any depth below
    this.size = 0;
  }
}

export class Catalog extends EventTarget {
  /** `send(msg)` puts a control message on the channel (for `catalog_resend`). */
  constructor(send) {
    super();
    this.send = send;
    this.files = new Map(); // id -> {id, path, size, mtime_ms, mime, hash}
    this.root = new Folder('', '', null);
    this.version = null; // null until a whole list arrived
    this.collecting = null; // {version, next, files: []}
    this.delta = null; // {from, version} of a delta that spans several messages
    this.progress = null; // {hashed, files} while the server hashes
    this.loaded = 0; // files of the list being streamed, for "loading N of M"
    this.total = 0;
    this.changes = 0; // bumps on every change; views cache on it
    this.waitingResend = false;
  }

  get ready() {
    return this.version !== null;
  }

  folder(path) {
    let node = this.root;
    if (!path) return node;
    for (const part of path.split('/')) {
      node = node.dirs.get(part);
      if (!node) return null;
    }
    return node;
  }

  add(f) {
    const old = this.files.get(f.id);
    if (old) this.remove(old.id);
    const parts = f.path.split('/');
    const name = parts.pop();
    let node = this.root;
    node.count += 1;
    node.size += f.size;
    for (const part of parts) {
      let next = node.dirs.get(part);
      if (!next) {
        next = new Folder(part, node.path ? `${node.path}/${part}` : part, node);
        node.dirs.set(part, next);
      }
      node = next;
      node.count += 1;
      node.size += f.size;
    }
    // Paths are the names on disk, byte for byte (a file copied from a Mac may be decomposed):
    // search compares NFC forms, so `café` finds it however either side spelled it.
    f.lower = f.path.normalize('NFC').toLowerCase();
    node.files.set(name, f);
    this.files.set(f.id, f);
  }

  remove(id) {
    const f = this.files.get(id);
    if (!f) return;
    this.files.delete(id);
    const parts = f.path.split('/');
    const name = parts.pop();
    const chain = [this.root];
    for (const part of parts) {
      const next = chain[chain.length - 1].dirs.get(part);
      if (!next) break;
      chain.push(next);
    }
    chain[chain.length - 1].files.delete(name);
    for (const node of chain) {
      node.count -= 1;
      node.size -= f.size;
    }
    // Folders left empty disappear.
    for (let i = chain.length - 1; i > 0; i--) {
      if (chain[i].count > 0) break;
      chain[i - 1].dirs.delete(chain[i].name);
    }
  }

  replace(files) {
    this.files = new Map();
    this.root = new Folder('', '', null);
    for (const f of files) this.add(f);
  }

  /** A whole list from elsewhere (the HTTP fallback's /catalog.json). */
  setList(files) {
    this.replace(files);
    this.version = (this.version ?? 0) + 1;
    this.changed('list');
  }

  changed(kind) {
    this.changes += 1;
    this.dispatchEvent(new CustomEvent('change', { detail: { kind } }));
  }

  resend() {
    if (this.waitingResend) return;
    this.waitingResend = true;
    this.delta = null;
    this.send({ type: 'catalog_resend', version: this.version ?? 0 });
  }

  /** Handles a catalog message; false if `m` is not one. */
  onMessage(m) {
    switch (m.type) {
      case 'catalog': // version 1: a whole snapshot in parts
        if (!this.collecting || this.collecting.version !== m.version) {
          if (this.collecting && m.version < this.collecting.version) return true;
          this.collecting = { version: m.version, parts: new Map() };
        }
        this.collecting.parts.set(m.part, m.files);
        if (this.collecting.parts.size === m.parts) {
          this.replace([...this.collecting.parts.values()].flat());
          this.version = m.version;
          this.collecting = null;
          this.changed('list');
        }
        return true;
      case 'catalog_part':
        if (m.part === 0) {
          this.collecting = { version: m.version, next: 0, files: [] };
          this.waitingResend = false;
        }
        if (!this.collecting || this.collecting.version !== m.version || this.collecting.next !== m.part) {
          this.collecting = null;
          this.resend();
          return true;
        }
        this.collecting.next += 1;
        for (const f of m.files) this.collecting.files.push(f);
        this.loaded = this.collecting.files.length;
        this.total = m.total;
        if (m.last) {
          this.replace(this.collecting.files);
          this.version = m.version;
          this.collecting = null;
          this.delta = null;
          this.changed('list');
        } else {
          this.dispatchEvent(new CustomEvent('loading'));
        }
        return true;
      case 'catalog_delta': {
        if (this.waitingResend) return true;
        const continues = this.delta && this.delta.from === m.from && this.delta.version === m.version;
        if (!continues && m.from !== this.version) {
          this.resend(); // a gap: we missed a change
          return true;
        }
        for (const f of m.added) this.add(f);
        for (const f of m.changed) this.add(f);
        for (const id of m.removed) this.remove(id);
        this.delta = m.last ? null : { from: m.from, version: m.version };
        if (m.last) this.version = m.version;
        this.changed('delta');
        return true;
      }
      case 'catalog_progress':
        this.progress = m.hashed < m.files ? { hashed: m.hashed, files: m.files } : null;
        this.dispatchEvent(new CustomEvent('progress'));
        return true;
      default:
        return false;
    }
  }

  /** Every file whose path contains `text` (case-insensitive, any Unicode normalization), by path. */
  search(text, limit = Infinity) {
    const needle = text.normalize('NFC').toLowerCase();
    const out = [];
    for (const f of this.files.values()) {
      if (f.lower.includes(needle)) {
        out.push(f);
        if (out.length >= limit) break;
      }
    }
    return out.sort((a, b) => byName(a.path, b.path));
  }
}
