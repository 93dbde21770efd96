// Swarm downloads (transfer protocol version 3): one file from the seeder and from every page
// that holds pieces of it, over the browser-to-browser links the page already makes.
//
// The seeder gives the piece hashes (over our own DataChannel, as trustworthy as the catalog)
// and, every second, the `sources`: which room members hold which pieces and which pieces they
// are fetching from the seeder right now. The schedule:
// - peers first: each usable peer gets up to PEER_PARALLEL piece requests, rarest piece first;
// - the seeder only for pieces no peer holds and no peer is fetching from it (rarest first),
//   SEEDER_PARALLEL at a time; a piece nobody could give us for WAIT_MS goes to the seeder too;
// - end game: when every missing piece is in flight, a request older than ENDGAME_MS is doubled
//   on another idle source; the first verified copy wins, the other is cancelled;
// - every piece is checked against its hash before it is kept; a peer that sends a bad piece is
//   dropped for the rest of the download and the piece is fetched elsewhere;
// - at the end the whole file's BLAKE3 is checked, as for any download.
import * as fmt from './format.js';
import { Blake3 } from './hash.js';
import { capabilities, createSink, saveBlob } from './sink.js';
import * as store from './swarm-store.js';
import { countResume } from './transfer.js';

const PEER_PARALLEL = 2;
const SEEDER_PARALLEL = 2;
const TICK_MS = 250;
const SOURCES_MS = 500;
const WAIT_MS = 8000;
const ENDGAME_MS = 2000;
/** A request that brings no byte for this long is cancelled and its source rested. */
const STALL_MS = 10_000;
/** Gives up when nothing arrives from anyone for this long (the seeder gone for good). */
const GIVE_UP_MS = 5 * 60_000;

/** Swarm downloads running now, and the ones finished (tests and the bench read them). */
export const active = new Set();
export const finished = [];

/**
 * Downloads `file` (a catalog entry) with the swarm. `links` gives the current seeder session
 * (`seeder()`, null while reconnecting) and a session to a peer (`peer(name)`, connecting to it
 * when needed; null until its channel speaks version 3).
 */
export async function swarmDownload(file, { links, view, seederName }) {
  const dl = new SwarmDownload(file, links, view, seederName);
  active.add(dl);
  try {
    await dl.run();
  } catch (err) {
    dl.row.fail(`Failed: ${err.message}`);
  } finally {
    clearInterval(dl.timer);
    dl.sourcesFrom?.swarmListeners.delete(dl.onSourcesMsg);
    active.delete(dl);
  }
  return dl;
}

class SwarmDownload {
  constructor(file, links, view, seederName) {
    this.file = file;
    this.links = links;
    this.view = view;
    this.name = file.path.split('/').pop();
    this.sources = new Map(); // name -> {bits, fetching, dropped, restUntil}
    this.inflight = new Map(); // piece -> [{source, session, id, started, last}]
    this.waiting = new Map(); // piece -> since when nobody could give it to us
    this.finished = null;
    this.lastByte = Date.now();
    this.started = Date.now();
    this.row = view.addTransfer({
      direction: 'down', name: this.name, size: file.size, peer: seederName, via: 'WebRTC (swarm)',
      onCancel: () => this.stop('Canceled'),
    });
    this.row.progress(0);
  }

  async run() {
    const seeder = await this.waitFor(() => this.links.seeder());
    const meta = await this.pieceHashes(seeder);
    this.hashes = meta.hashes;
    this.f = store.hold({ hash: this.file.hash, size: this.file.size, pieceSize: meta.pieceSize, count: meta.hashes.length });
    this.done = new Promise((resolve) => { this.finish = resolve; });
    // The whole file's BLAKE3 runs as the in-order prefix of pieces grows, not all at the end.
    this.whole = new Blake3();
    this.fed = 0;
    this.feeding = Promise.resolve();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.tick();
    const outcome = await this.done;
    clearInterval(this.timer);
    for (const piece of [...this.inflight.keys()]) this.cancelPiece(piece);
    if (outcome) {
      this.whole.drop();
      this.row.fail(outcome);
      return;
    }
    await this.complete();
  }

  async waitFor(get) {
    for (let i = 0; ; i++) {
      const v = get();
      if (v) return v;
      if (i * 200 > GIVE_UP_MS) throw new Error('the server did not come back');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The file's piece hashes from the seeder (`pieces` -> `piece_hashes` parts). */
  pieceHashes(seeder) {
    return new Promise((resolve, reject) => {
      const hashes = [];
      const timer = setTimeout(() => { seeder.swarmListeners.delete(on); reject(new Error('no piece hashes')); }, 30_000);
      const on = (m) => {
        if (m.type !== 'piece_hashes' || m.hash !== this.file.hash) return;
        for (let i = 0; i < m.hashes.length / 64; i++) hashes[m.first + i] = m.hashes.slice(i * 64, i * 64 + 64);
        if (!m.last) return;
        clearTimeout(timer);
        seeder.swarmListeners.delete(on);
        resolve({ pieceSize: m.piece_size, hashes });
      };
      seeder.swarmListeners.add(on);
      seeder.send({ type: 'pieces', file_id: this.file.id });
    });
  }

  stop(text) {
    this.finish?.(text);
  }

  missing() {
    const out = [];
    for (let i = 0; i < this.hashes.length; i++) if (!store.hasPiece(this.f, i)) out.push(i);
    return out;
  }

  tick() {
    const seeder = this.links.seeder();
    if (seeder && seeder !== this.sourcesFrom) {
      // A new seeder link (first one, or after a reconnect): it learns what we hold again, and
      // the download continues from the pieces it has.
      if (this.sourcesFrom) countResume('downloads', this.heldBytes());
      this.sourcesFrom?.swarmListeners.delete(this.onSourcesMsg);
      this.sourcesFrom = seeder;
      this.sourcesAt = 0;
      this.onSourcesMsg = (m) => m.type === 'sources' && m.hash === this.file.hash && this.onSources(m);
      seeder.swarmListeners.add(this.onSourcesMsg);
      store.announceAll();
    }
    if (seeder && Date.now() - (this.sourcesAt || 0) > SOURCES_MS) {
      this.sourcesAt = Date.now();
      seeder.send({ type: 'sources', hash: this.file.hash });
    }
    const missing = this.missing();
    if (!missing.length) {
      this.finish(null);
      return;
    }
    if (Date.now() - this.lastByte > GIVE_UP_MS) {
      this.finish('Failed: no source sent anything for 5 minutes');
      return;
    }
    this.expireStalled();
    this.schedule(missing, seeder);
  }

  onSources(m) {
    const seen = new Set();
    for (const p of m.peers || []) {
      seen.add(p.name);
      const s = this.sources.get(p.name) || { dropped: false, restUntil: 0 };
      s.bits = store.fromBase64(p.pieces);
      s.fetching = store.fromBase64(p.fetching);
      this.sources.set(p.name, s);
    }
    for (const [name, s] of this.sources) {
      if (!seen.has(name)) {
        s.bits = new Uint8Array(0);
        s.fetching = new Uint8Array(0);
      }
    }
  }

  /** How many usable peers hold each piece. */
  counts() {
    const counts = new Uint16Array(this.hashes.length);
    for (const s of this.sources.values()) {
      if (s.dropped) continue;
      for (let i = 0; i < counts.length; i++) if (store.bit(s.bits, i)) counts[i] += 1;
    }
    return counts;
  }

  busy(source) {
    let n = 0;
    // A range whose bytes all arrived frees its slot while its hash is checked.
    for (const list of this.inflight.values()) for (const r of list) if (r.source === source && !r.received) n += 1;
    return n;
  }

  schedule(missing, seeder) {
    const counts = this.counts();
    const free = missing.filter((i) => !this.inflight.has(i));
    // Rarest first; random among equals, so pages starting together take different pieces.
    const order = free.map((i) => [counts[i], Math.random(), i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[2]);
    for (const [name, s] of this.sources) {
      if (s.dropped || s.restUntil > Date.now() || this.busy(name) >= PEER_PARALLEL) continue;
      const session = this.links.peer(name);
      if (!session) continue;
      while (this.busy(name) < PEER_PARALLEL) {
        const k = order.findIndex((i) => store.bit(s.bits, i) && !this.inflight.has(i));
        if (k < 0) break;
        this.request(order.splice(k, 1)[0], name, session);
      }
    }
    // The seeder: pieces no reachable peer holds and no other page is fetching from it. A piece
    // that only unreachable peers hold, or that another page has been fetching for WAIT_MS
    // without it showing up, goes to the seeder too.
    const now = Date.now();
    const usable = [...this.sources].filter(([name, s]) => !s.dropped && this.links.peer(name));
    for (const i of order) {
      const reachable = usable.some(([, s]) => store.bit(s.bits, i));
      const pending = !reachable && [...this.sources.values()].some((s) => !s.dropped && (store.bit(s.fetching, i) || store.bit(s.bits, i)));
      if (pending && !this.waiting.has(i)) this.waiting.set(i, now);
      if (!pending) this.waiting.delete(i);
    }
    if (!seeder) return;
    for (const i of order) {
      if (this.busy('') >= SEEDER_PARALLEL) break;
      if (this.inflight.has(i) || usable.some(([, s]) => store.bit(s.bits, i))) continue;
      const since = this.waiting.get(i);
      if (since !== undefined && now - since < WAIT_MS) continue; // another page has it soon
      this.request(i, '', seeder);
    }
    // End game: every missing piece is in flight; double the old ones on an idle source.
    if (free.length === 0) this.endGame(seeder, now);
  }

  endGame(seeder, now) {
    for (const [i, list] of this.inflight) {
      if (list.length > 1 || now - list[0].started < ENDGAME_MS) continue;
      const other = [...this.sources].find(([name, s]) => !s.dropped && name !== list[0].source
        && store.bit(s.bits, i) && this.busy(name) < PEER_PARALLEL && this.links.peer(name));
      if (other) this.request(i, other[0], this.links.peer(other[0]));
      // The seeder doubles a peer's piece only when that peer has gone quiet.
      else if (seeder && list[0].source !== '' && now - list[0].last > ENDGAME_MS && this.busy('') < SEEDER_PARALLEL) {
        this.request(i, '', seeder);
      }
    }
  }

  expireStalled() {
    const now = Date.now();
    for (const [i, list] of this.inflight) {
      for (const r of [...list]) {
        if (r.received || now - r.last < STALL_MS) continue;
        r.session.cancelRange(r.id);
        this.forget(i, r);
        const s = this.sources.get(r.source);
        if (s) s.restUntil = now + STALL_MS;
      }
    }
  }

  forget(piece, r) {
    const list = (this.inflight.get(piece) || []).filter((x) => x !== r);
    if (list.length) this.inflight.set(piece, list);
    else this.inflight.delete(piece);
  }

  cancelPiece(piece) {
    for (const r of this.inflight.get(piece) || []) r.session.cancelRange(r.id);
    this.inflight.delete(piece);
  }

  /** Fetches piece `i` from `source` ('' = the seeder) over `session`. */
  request(i, source, session) {
    const size = this.f.pieceSize;
    const offset = i * size;
    const length = Math.min(size, this.file.size - offset);
    const r = { source, session, started: Date.now(), last: Date.now(), chunks: [], got: 0, hasher: new Blake3() };
    const list = this.inflight.get(i) || [];
    list.push(r);
    this.inflight.set(i, list);
    const fileId = source === '' ? this.file.id : this.file.hash;
    const fail = (why, code) => {
      r.hasher.drop();
      this.forget(i, r);
      const s = this.sources.get(source);
      if (code === 'busy') store.stats.busy += 1;
      if (s && code === 'busy') s.restUntil = Date.now() + 300;
      else if (s && code !== 'canceled') s.restUntil = Date.now() + 3000;
    };
    r.id = session.requestRange(fileId, offset, length, {
      onChunk: (at, bytes) => {
        if (at !== offset + r.got || r.got + bytes.byteLength > length) {
          session.cancelRange(r.id);
          this.bad(i, r, 'frames out of order');
          return;
        }
        r.chunks.push(bytes.slice());
        r.hasher.update(bytes);
        r.got += bytes.byteLength;
        r.last = Date.now();
        this.lastByte = r.last;
      },
      onEnd: async (m) => {
        if (r.got !== length || m.hash !== this.file.hash) {
          this.bad(i, r, 'short or foreign range');
          return;
        }
        r.received = true;
        r.last = Date.now();
        this.tick();
        const hex = await r.hasher.hex();
        if (hex !== this.hashes[i]) {
          this.bad(i, r, 'piece does not match its hash');
          return;
        }
        this.forget(i, r);
        if (store.hasPiece(this.f, i)) return; // the other end-game copy won
        this.cancelPiece(i);
        store.put(this.f, i, new Blob(r.chunks));
        this.feedWhole();
        if (source === '') store.stats.fromSeeder += length;
        else store.stats.fromPeers += length;
        this.row.progress(this.heldBytes());
        this.tick();
      },
      onFail: fail,
    });
  }

  /** A source sent something wrong: never ask it again in this download; refetch the piece. */
  bad(i, r, why) {
    r.hasher.drop();
    this.forget(i, r);
    if (r.source === '') return; // the seeder's bytes failing means the file changed; retried
    const s = this.sources.get(r.source);
    if (s && !s.dropped) {
      s.dropped = true;
      store.stats.badPieces += 1;
      store.stats.dropped.push(r.source);
      console.warn(`swarm: dropped ${r.source} as a source (${why})`);
    }
  }

  heldBytes() {
    let n = 0;
    for (let i = 0; i < this.hashes.length; i++) {
      if (store.hasPiece(this.f, i)) n += Math.min(this.f.pieceSize, this.file.size - i * this.f.pieceSize);
    }
    return n;
  }

  /** Feeds the pieces that now continue the in-order prefix to the whole-file hash. */
  feedWhole() {
    this.feeding = this.feeding.then(async () => {
      while (this.fed < this.hashes.length && store.hasPiece(this.f, this.fed)) {
        this.whole.update(new Uint8Array(await this.f.blobs[this.fed].arrayBuffer()));
        this.fed += 1;
      }
    });
  }

  async complete() {
    this.row.status('Verifying…');
    this.feedWhole();
    await this.feeding;
    const hex = await this.whole.hex();
    if (hex !== this.file.hash) {
      this.row.fail('Failed: the file did not match its hash; nothing was saved');
      store.held.delete(this.file.hash);
      return;
    }
    if (capabilities().streaming) {
      // https: the verified pieces go to OPFS, the browser gets the file through the service
      // worker as for any download there, and from now on the pieces are served from that file
      // (the memory copies are let go).
      const sink = createSink({ key: `${hex}-${Date.now()}-swarm`, name: this.name, mime: this.file.mime });
      await sink.open();
      for (let i = 0; i < this.f.count; i++) await sink.write(i * this.f.pieceSize, new Uint8Array(await this.f.blobs[i].arrayBuffer()));
      store.holdWhole(hex, this.file.size, await sink.finish(), 'opfs');
    } else {
      const blob = new Blob(this.f.blobs, { type: this.file.mime || 'application/octet-stream' });
      saveBlob(blob, this.name);
    }
    this.row.done(`Verified and saved · ${fmt.bytes(this.file.size)}`);
    this.row.hash = hex;
    finished.push({ name: this.name, hash: hex, started: this.started, at: Date.now() });
  }
}
