// The transfer protocol (docs/protocol.md, version 3) in the browser: one DataChannel labelled
// "peerbox" carries JSON control messages and binary chunk frames
// (u8 kind=1, u32 transfer id, u64 offset, big endian, then data; at most the link's message
// size in all: the smaller of the two sides' a=max-message-size, 64 KiB to 256 KiB).
// Downloads go to a sink (OPFS or memory, see sink.js) and are verified against the BLAKE3 hash
// the sender announced; uploads are hashed first and streamed under buffered-amount flow control.
import * as fmt from './format.js';
import { Blake3, hashBlob } from './hash.js';
import { Catalog } from './catalog.js';
import { capabilities, createSink, memoryLimit, sizeWarning } from './sink.js';
import { swarmDownload } from './swarm.js';
import { pageDownloadOk } from './http-transfer.js';
import { HEADER, MAX_FRAME, sendFrames } from './frames.js';
import { serveRange } from './reseed.js';
import * as store from './swarm-store.js';
import { notify, whenVisible } from './phone.js';

/** The highest transfer-protocol version this page speaks (docs/protocol.md, Versions). */
export const PROTOCOL_VERSION = 3;
/** The frame size every WebRTC peer accepts (RFC 8841's default message size). */
const BASE_FRAME = 65536;
const LOW_WATER = 256 << 10;
const READ_SLICE = 4 << 20;
/** A download with no new bytes for this long is failed and cancelled, never left hanging. */
const STALL_MS = 30_000;
/** How long transfers cut off by a lost connection wait for their peer to come back. */
const PAUSE_MS = 5 * 60_000;
/** A browser link whose channel is open without the other side's hello for this long is rebuilt. */
const HELLO_TIMEOUT_MS = 8_000;

// Transfers interrupted by a Wi-Fi blip or a daemon restart, per remote name. The received bytes
// (sink), the running hash and the progress row are kept, so the next session with that peer
// continues from the byte where this one stopped instead of starting over.
const paused = new Map(); // remote -> {downloads: [d], uploads: [up], timer}
export const resumeStats = { downloads: 0, uploads: 0, lastOffset: 0 };

/** Counts a transfer continued at `offset` (`kind`: 'downloads' or 'uploads'). */
export function countResume(kind, offset) {
  resumeStats[kind] += 1;
  resumeStats.lastOffset = offset;
}

function pause(remote, downloads, uploads) {
  const p = paused.get(remote) || { downloads: [], uploads: [], timer: null };
  p.downloads.push(...downloads);
  p.uploads.push(...uploads);
  for (const t of [...downloads, ...uploads]) {
    t.cancel = () => {
      p.downloads = p.downloads.filter((d) => d !== t);
      p.uploads = p.uploads.filter((u) => u !== t);
      t.hasher?.drop();
      t.sink?.abort();
      t.row.fail('Canceled');
    };
  }
  clearTimeout(p.timer);
  p.timer = setTimeout(() => {
    paused.delete(remote);
    for (const d of p.downloads) {
      d.hasher.drop();
      d.sink.abort();
      d.row.fail(`Failed: ${remote} did not come back`);
    }
    for (const u of p.uploads) u.row.fail(`Failed: ${remote} did not come back`);
  }, PAUSE_MS);
  paused.set(remote, p);
}

/** Whether uploads to `remote` wait for a new connection (the sender makes it: it re-offers). */
export function hasPausedUploads(remote) {
  return (paused.get(remote)?.uploads.length ?? 0) > 0;
}

function unpause(remote) {
  const p = paused.get(remote);
  if (!p) return { downloads: [], uploads: [] };
  clearTimeout(p.timer);
  paused.delete(remote);
  return p;
}

export class Session {
  constructor(link, { me, remote, view, seeder, links }) {
    this.link = link;
    this.links = links; // the page's sessions, for swarm downloads (app.js)
    this.seeder = seeder;
    this.me = me;
    this.remote = remote;
    this.view = view;
    this.nextId = link.offerer ? 1 : 2; // offerer odd, answerer even
    this.downloads = new Map(); // id -> {file, sink, hasher, got, row}
    this.uploads = new Map(); // id -> {file, hash, row}
    // The seeder's files (catalog.js); browsers share none.
    this.catalog = seeder ? new Catalog((m) => this.send(m)) : null;
    this.queue = []; // uploads waiting for the channel
    this.ranges = new Map(); // id -> {onChunk(offset, bytes), onEnd(m), onFail(text)}: pieces we fetch
    this.serving = new Map(); // id -> {stopped}: ranges of held pieces we send (re-seeding)
    this.swarmListeners = new Set(); // fn(m) for piece_hashes and sources
    this.ready = false;
    this.helloSent = false;
    link.addEventListener('open', () => this.onOpen());
    link.addEventListener('message', (ev) => this.onMessage(ev.detail.data));
    link.addEventListener('channelclose', () => this.close('connection closed'));
  }

  get channel() {
    return this.link.channels.peerbox;
  }

  /** Frame size for sending: what the other side's SDP allows (a=max-message-size), capped. */
  get frameBytes() {
    const remote = this.link.pc.sctp?.maxMessageSize || BASE_FRAME;
    return Math.min(MAX_FRAME, remote);
  }

  id() {
    const id = this.nextId;
    this.nextId += 2;
    return id;
  }

  send(msg) {
    if (this.channel?.readyState === 'open') this.channel.send(JSON.stringify(msg));
  }

  onOpen() {
    this.sendHello();
    // A link to another browser whose channel opened but whose hello never comes is rebuilt
    // (app.js, 'stalled'): what was queued or running on it pauses and resumes on the next one.
    // The relay test caught such a link, up for minutes with one side never ready. Not for the
    // seeder, which answers our hello only once its catalog is ready.
    if (!this.seeder) {
      setTimeout(() => {
        if (!this.ready && !this.closed) this.link.dispatchEvent(new CustomEvent('stalled', { detail: 'no hello from the other browser' }));
      }, HELLO_TIMEOUT_MS);
    }
  }

  /**
   * Our hello, once per link, as soon as the channel is open: on its open event, or at the
   * latest in answer to the other side's hello. The relay test caught a link that stayed up for
   * minutes with one page ready and the other not: the answering page had the offerer's hello,
   * the offerer never had the answerer's, so the offerer's queued file never went out.
   */
  sendHello() {
    if (this.helloSent || this.channel?.readyState !== 'open') return;
    this.helloSent = true;
    this.channel.bufferedAmountLowThreshold = LOW_WATER;
    this.send({ type: 'hello', version: PROTOCOL_VERSION, agent: 'peerbox-web' });
  }

  onMessage(data) {
    if (typeof data !== 'string') {
      this.onChunk(data);
      return;
    }
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    switch (m.type) {
      case 'hello':
        this.sendHello();
        // Both sides say the highest version they speak; the session speaks the lower one.
        this.version = Math.min(PROTOCOL_VERSION, Number.isInteger(m.version) ? m.version : 1);
        this.ready = true;
        if (this.catalog) this.view.showCatalog(this.catalog, (file) => this.download(file));
        this.resumePaused();
        for (const f of this.queue.splice(0)) this.offerUpload(f);
        break;
      case 'catalog':
      case 'catalog_part':
      case 'catalog_delta':
      case 'catalog_progress':
        this.catalog?.onMessage(m);
        break;
      case 'accept':
        this.onAccept(m);
        break;
      case 'offer':
        this.onOffer(m);
        break;
      case 'download':
        this.send({ type: 'refuse', transfer_id: m.transfer_id, code: 'not_found', message: 'this browser shares no catalog' });
        break;
      case 'download_range':
        serveRange(this, m);
        break;
      case 'piece_hashes':
      case 'sources':
        for (const fn of this.swarmListeners) fn(m);
        break;
      case 'progress':
        this.uploads.get(m.transfer_id)?.row.progress(m.offset);
        break;
      case 'end':
        if (this.ranges.has(m.transfer_id)) this.endRange(m.transfer_id, (r) => r.onEnd(m));
        else this.onEnd(m);
        break;
      case 'done': {
        const up = this.uploads.get(m.transfer_id);
        if (up) {
          up.row.done(m.name ? `Saved as ${m.name}` : `Delivered · ${fmt.bytes(up.file.size)}`);
          this.uploads.delete(m.transfer_id);
        }
        break;
      }
      case 'refuse':
      case 'cancel':
      case 'error':
        if (this.ranges.has(m.transfer_id)) {
          this.endRange(m.transfer_id, (r) => r.onFail(`${m.type}: ${m.code}`, m.code));
          break;
        }
        if (this.serving.has(m.transfer_id)) {
          this.serving.get(m.transfer_id).stopped = true;
          break;
        }
        this.fail(m.transfer_id, `${m.type === 'cancel' ? 'Canceled' : 'Failed'}: ${m.message || m.code}`);
        break;
      default:
        break;
    }
  }

  // ---- receiving (downloads from the seeder, files offered by a browser) --------------------

  async download(file) {
    if (!(await pageDownloadOk(file))) return;
    if (this.links?.others() && this.version >= 3 && (!capabilities().streaming || file.size <= memoryLimit())) {
      // Version 3 with other browsers in the room: pieces from the seeder and from those pages
      // at once, held in memory until verified (on https then written to OPFS, so only files
      // that fit the memory path swarm there). Alone in the room, one stream from the seeder
      // (fewer round trips; measured faster on a lossy link), whose file is then held for
      // re-seeding.
      swarmDownload(file, { links: this.links, view: this.view, seederName: this.remote }).catch((err) => {
        console.warn('swarm download failed', err);
      });
      return;
    }
    const id = this.id();
    const name = file.path.split('/').pop();
    const d = this.startReceive(id, { name, size: file.size, hash: file.hash, mime: file.mime });
    d.fileId = file.id;
    await d.sink.open();
    this.send({ type: 'download', transfer_id: id, file_id: file.id, offset: 0 });
  }

  startReceive(id, { name, size, hash, mime }) {
    const sink = createSink({ key: `${hash}-${Date.now()}-${id}`, name, mime });
    const d = { name, size, hash, sink, hasher: new Blake3(), got: 0, last: Date.now() };
    d.row = this.view.addTransfer({
      direction: 'down', name, size, peer: this.remote, via: 'WebRTC', onCancel: () => d.cancel(),
    });
    d.row.progress(0);
    this.attachDownload(id, d);
    return d;
  }

  /** Makes `d` (new, or paused by an earlier session) this session's transfer `id`. */
  attachDownload(id, d) {
    d.last = Date.now();
    d.cancel = () => {
      this.cancel(id, 'canceled', 'Canceled');
    };
    clearInterval(d.watchdog);
    d.watchdog = setInterval(() => {
      if (Date.now() - d.last > STALL_MS) {
        this.cancel(id, 'canceled', `Stalled: no data for ${STALL_MS / 1000} s`);
      }
    }, 1000);
    this.downloads.set(id, d);
  }

  /** Continues what the last session with this peer left unfinished. */
  resumePaused() {
    const { downloads, uploads } = unpause(this.remote);
    for (const d of downloads) {
      if (d.fileId === undefined) {
        // From a browser: it re-offers the file, and onOffer takes it back at `got`.
        pause(this.remote, [d], []);
        continue;
      }
      const id = this.id();
      this.attachDownload(id, d);
      d.row.status(`Resuming at ${fmt.bytes(d.got)}…`);
      countResume('downloads', d.got);
      this.send({ type: 'download', transfer_id: id, file_id: d.fileId, offset: d.got });
    }
    for (const up of uploads) this.offerUpload(up.file, up);
  }

  async onOffer(m) {
    const back = paused.get(this.remote)?.downloads.find((d) => d.hash === m.hash && d.size === m.size);
    if (back) {
      // The same file from the same sender, cut off earlier: it was accepted then.
      const p = paused.get(this.remote);
      p.downloads = p.downloads.filter((d) => d !== back);
      this.attachDownload(m.transfer_id, back);
      countResume('downloads', back.got);
      this.send({ type: 'accept', transfer_id: m.transfer_id, offset: back.got });
      return;
    }
    // Another browser wants to send us a file: the user decides first (told by a notification
    // when the page is hidden; the question waits until it shows).
    if (document.visibilityState === 'hidden') {
      await notify(`${this.remote} wants to send you a file`, `${m.name} (${fmt.bytes(m.size)}): open peerbox to accept`);
      await whenVisible();
    }
    const ok = window.confirm(`${this.remote} wants to send you "${m.name}" (${fmt.bytes(m.size)}). Accept?`);
    if (!ok) {
      this.send({ type: 'refuse', transfer_id: m.transfer_id, code: 'refused_type', message: 'declined' });
      return;
    }
    const warning = sizeWarning(m.size);
    if (warning) this.view.banner(warning);
    this.startReceive(m.transfer_id, { name: m.name, size: m.size, hash: m.hash, mime: '' });
    this.send({ type: 'accept', transfer_id: m.transfer_id, offset: 0 });
  }

  onChunk(buf) {
    if (!(buf instanceof ArrayBuffer) || buf.byteLength <= HEADER) return;
    const view = new DataView(buf);
    const id = view.getUint32(1);
    const offset = Number(view.getBigUint64(5));
    const r = this.ranges.get(id);
    if (r) {
      r.onChunk(offset, new Uint8Array(buf, HEADER));
      return;
    }
    const d = this.downloads.get(id);
    if (!d) return;
    if (offset !== d.got) {
      this.cancel(id, 'bad_offset', `Failed: chunk at ${offset}, expected ${d.got}`);
      return;
    }
    const data = new Uint8Array(buf, HEADER);
    d.sink.write(offset, data);
    d.hasher.update(data);
    d.got += data.byteLength;
    d.last = Date.now();
    d.row.progress(d.got);
  }

  async onEnd(m) {
    const d = this.downloads.get(m.transfer_id);
    if (!d) return;
    this.downloads.delete(m.transfer_id);
    clearInterval(d.watchdog);
    if (d.got !== d.size) {
      d.row.fail(`Failed: got ${d.got} of ${d.size} bytes`);
      d.sink.abort();
      return;
    }
    d.row.status('Verifying…');
    const hex = await d.hasher.hex();
    if (hex !== d.hash || hex !== m.hash) {
      d.row.fail('Failed: the file did not match its hash; nothing was saved');
      d.sink.abort();
      return;
    }
    let blob;
    try {
      blob = await d.sink.finish();
    } catch (err) {
      // Saving failed after the bytes verified (OPFS, the service worker): say so on the row
      // instead of leaving it at "Verifying…".
      console.warn('saving a verified file failed', err);
      d.row.fail(`Failed to save: ${err?.message || err}`);
      return;
    }
    // A verified whole file (memory blobs, or the OPFS file on https) is served to pages that
    // join later (re-seeding).
    if (blob instanceof Blob && this.version >= 3) store.holdWhole(hex, d.size, blob, d.sink.kind);
    d.row.done(`Verified and saved · ${fmt.bytes(d.size)}`);
    d.row.hash = hex;
    // A sending browser learns that its file arrived intact (the seeder's `end` needs no reply).
    if (!this.seeder) this.send({ type: 'done', transfer_id: m.transfer_id });
  }

  // ---- the swarm (version 3): ranges we fetch, ranges of held pieces we serve ------------------

  /** Asks for `length` bytes at `offset` of `fileId` (catalog id, or hash towards a browser). */
  requestRange(fileId, offset, length, handlers) {
    const id = this.id();
    this.ranges.set(id, handlers);
    this.send({ type: 'download_range', transfer_id: id, file_id: fileId, offset, length });
    return id;
  }

  /** Stops fetching range `id` (another source won the race, or it stalled). */
  cancelRange(id) {
    if (!this.ranges.delete(id)) return;
    this.send({ type: 'cancel', transfer_id: id, code: 'canceled' });
  }

  endRange(id, fn) {
    const r = this.ranges.get(id);
    this.ranges.delete(id);
    if (r) fn(r);
  }

  // ---- sending ------------------------------------------------------------------------------

  /** Offers `file`; `earlier` is the same upload paused by a lost connection (hash known). */
  async offerUpload(file, earlier = null) {
    if (!this.ready) {
      this.queue.push(file);
      return;
    }
    const id = this.id();
    const up = earlier || { file, hash: null, sent: 0 };
    up.cancel = () => {
      this.cancel(id, 'canceled', 'Canceled');
    };
    if (!up.row) {
      up.row = this.view.addTransfer({
        direction: 'up', name: file.name, size: file.size, peer: this.remote, via: 'WebRTC', onCancel: () => up.cancel(),
      });
    }
    if (!up.hash) {
      up.row.status('Preparing (hashing)…');
      up.hash = await hashBlob(file);
      if (this.closed) {
        pause(this.remote, [], [up]);
        return;
      }
    }
    this.uploads.set(id, up);
    up.row.status(earlier ? 'Reconnected; offering the rest…' : 'Waiting for the receiver to accept…');
    // A file from a folder keeps its place in it (`folder`, relative), so the tree arrives whole.
    const folder = fmt.folderOf(file);
    this.send({ type: 'offer', transfer_id: id, name: file.name, size: file.size, hash: up.hash, ...(folder ? { folder } : {}) });
  }

  async onAccept(m) {
    const up = this.uploads.get(m.transfer_id);
    if (!up) return;
    const ch = this.channel;
    let offset = m.offset;
    if (offset > 0) {
      countResume('uploads', offset);
    }
    up.row.progress(offset);
    const stopped = () => !this.uploads.has(m.transfer_id);
    while (offset < up.file.size) {
      if (stopped() || ch.readyState !== 'open') return;
      const slice = new Uint8Array(await up.file.slice(offset, offset + READ_SLICE).arrayBuffer());
      if (!(await sendFrames(ch, m.transfer_id, offset, slice, this.frameBytes, stopped))) return;
      offset += slice.length;
    }
    this.send({ type: 'end', transfer_id: m.transfer_id, size: up.file.size, hash: up.hash });
    up.row.status('Sent; waiting for the receiver to verify…');
  }

  /** Tells the peer that transfer `id` is over (`code`) and shows `text` on its row. */
  cancel(id, code, text) {
    this.send({ type: 'cancel', transfer_id: id, code });
    this.fail(id, text);
  }

  fail(id, text) {
    const d = this.downloads.get(id);
    if (d) {
      this.downloads.delete(id);
      clearInterval(d.watchdog);
      d.hasher.drop();
      d.sink.abort();
      d.row.fail(text);
    }
    const u = this.uploads.get(id);
    if (u) {
      this.uploads.delete(id);
      u.row.fail(text);
    }
  }

  /** The connection is gone: running transfers wait for the peer to come back (see pause). */
  close(reason) {
    this.closed = true;
    for (const id of [...this.ranges.keys()]) this.endRange(id, (r) => r.onFail(`Interrupted: ${reason}`, 'closed'));
    for (const job of this.serving.values()) job.stopped = true;
    const downloads = [...this.downloads.values()];
    const uploads = [...this.uploads.values()].filter((u) => u.hash);
    for (const [id, u] of this.uploads) if (!u.hash) this.fail(id, `Interrupted: ${reason}`);
    for (const d of downloads) {
      clearInterval(d.watchdog);
      d.row.status(`Paused at ${fmt.bytes(d.got)} (${reason}); resumes when ${this.remote} is back…`);
    }
    for (const u of uploads) u.row.status(`Paused (${reason}); resumes when ${this.remote} is back…`);
    this.downloads.clear();
    this.uploads.clear();
    for (const file of this.queue.splice(0)) uploads.push({ file, hash: null, sent: 0 });
    if (downloads.length || uploads.length) pause(this.remote, downloads, uploads);
  }
}
