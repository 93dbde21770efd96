// What this page holds of the swarm (transfer protocol version 3, docs/protocol.md "Swarm"):
// the verified pieces of files it received or is receiving, by file hash, and the re-seeding
// setting. Other pages fetch pieces from here with `download_range`; serving is bounded by
// MAX_UPLOADS concurrent ranges and stops when the page closes or re-seeding is turned off.

/** Ranges this page serves at once; more are refused with `busy`. */
export const MAX_UPLOADS = 4;
/** The longest range served, in pieces. */
const MAX_RANGE_PIECES = 4;

const KEY = 'peerbox.reseed';
const param = new URLSearchParams(location.search).get('reseed');

/** Whether this page serves pieces to others (default on; `?reseed=0` for tests). */
export const settings = {
  reseed: param !== null ? param !== '0' : globalThis.localStorage?.getItem(KEY) !== 'off',
};

/** Counters for the page, tests and the bench. */
export const stats = { fromPeers: 0, fromSeeder: 0, served: 0, unreported: 0, badPieces: 0, dropped: [], uploads: 0, busy: 0 };

/** Test hook: a function applied to served bytes (a lying page), or null. */
export const hooks = { corrupt: null };

/** hash -> {hash, size, pieceSize, count, bits: Uint8Array, blobs: Array<Blob|undefined>, kind}:
 * `kind` is where the pieces are read from when served: 'memory' (Blobs) or 'opfs' (slices of
 * the finished file in the Origin Private File System, read from disk when asked). */
export const held = new Map();

const listeners = new Set();
let reporter = null;
let reportTimer = null;

/** `fn(bytes)` tells the seeder what this page served (`served`); true when it was sent. */
export function onServedReport(fn) {
  reporter = fn;
}

/** This page put `n` bytes of held pieces on a channel to another page. */
export function served(n) {
  stats.served += n;
  stats.unreported += n;
  if (reportTimer) return;
  reportTimer = setTimeout(() => {
    reportTimer = null;
    if (stats.unreported > 0 && reporter?.(stats.unreported)) stats.unreported = 0;
    else if (stats.unreported > 0) served(0);
  }, 1000);
}

/** `fn(hash, bitsBase64)` runs whenever what this page offers changes. */
export function onHave(fn) {
  listeners.add(fn);
}

function announce(f) {
  const bits = settings.reseed ? f.bits : new Uint8Array(0);
  for (const fn of listeners) fn(f.hash, toBase64(bits));
}

/** Starts holding a file (its pieces arrive with `put`). */
export function hold({ hash, size, pieceSize, count }) {
  let f = held.get(hash);
  if (!f) {
    f = { hash, size, pieceSize, count, bits: new Uint8Array(Math.ceil(count / 8)), blobs: new Array(count), kind: 'memory' };
    held.set(hash, f);
  }
  return f;
}

/** The piece size of a file of `size` bytes (src/watch/pieces.rs: 1 MiB, doubled until at most
 * 1024 pieces). */
export function pieceSize(size) {
  let p = 1 << 20;
  while (Math.ceil(size / p) > 1024) p *= 2;
  return p;
}

/** A whole file verified against its hash: every piece held, sliced from `blob` (a memory Blob,
 * or the OPFS file when `kind` is 'opfs'; its slices replace any memory pieces held before). */
export function holdWhole(hash, size, blob, kind = 'memory') {
  const p = held.get(hash)?.pieceSize || pieceSize(size);
  const count = Math.max(1, Math.ceil(size / p));
  const f = hold({ hash, size, pieceSize: p, count });
  f.kind = kind;
  for (let i = 0; i < count; i++) {
    f.blobs[i] = blob.slice(i * p, Math.min(size, (i + 1) * p));
    f.bits[i >> 3] |= 0x80 >> (i & 7);
  }
  announce(f);
}

/** A verified piece. */
export function put(f, index, blob) {
  f.blobs[index] = blob;
  f.bits[index >> 3] |= 0x80 >> (index & 7);
  announce(f);
}

export function hasPiece(f, index) {
  return (f.bits[index >> 3] & (0x80 >> (index & 7))) !== 0;
}

/** Turns re-seeding on or off (remembered); off withdraws every announcement. */
export function setReseed(on) {
  settings.reseed = on;
  globalThis.localStorage?.setItem(KEY, on ? 'on' : 'off');
  for (const f of held.values()) announce(f);
}

/** Every file's current announcement (for a new seeder link). */
export function announceAll() {
  for (const f of held.values()) announce(f);
}

/**
 * The bytes `[offset, offset + length)` of the file with `hash`, as a Blob, when this page serves
 * them: re-seeding on and every piece they touch held. Otherwise a refusal code.
 */
export function range(hash, offset, length) {
  if (!settings.reseed) return { code: 'not_found' };
  const f = held.get(hash);
  if (!f || length <= 0 || offset + length > f.size) return { code: f ? 'bad_offset' : 'not_found' };
  // Pages ask for one piece at a time; a longer range would only cost this page memory.
  if (length > MAX_RANGE_PIECES * f.pieceSize) return { code: 'too_large' };
  const first = Math.floor(offset / f.pieceSize);
  const last = Math.floor((offset + length - 1) / f.pieceSize);
  const parts = [];
  for (let i = first; i <= last; i++) {
    if (!hasPiece(f, i)) return { code: 'not_found' };
    const start = i * f.pieceSize;
    parts.push(f.blobs[i].slice(Math.max(0, offset - start), Math.min(f.pieceSize, offset + length - start)));
  }
  return { blob: new Blob(parts), file: f };
}

export function toBase64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export function fromBase64(text) {
  try {
    return Uint8Array.from(atob(text || ''), (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array(0);
  }
}

export function bit(bits, index) {
  return (bits[index >> 3] & (0x80 >> (index & 7))) !== 0;
}
