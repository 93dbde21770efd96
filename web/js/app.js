// peerbox web client entry point: wires signaling, peer links, transfers and the UI.
import { $ } from './dom.js';
// Named here too so the browser fetches them with the rest, not one import level later.
import './format.js';
import './hash.js';
import './icons.js';
import { Signaling } from './signaling.js';
import { PeerLink } from './rtc.js';
import { Session, hasPausedUploads, resumeStats } from './transfer.js';
import { capabilities, cleanupStale, handover } from './sink.js';
import * as view from './view.js';
import * as media from './media.js';
import * as phone from './phone.js';
import { Catalog } from './catalog.js';
import { HttpCatalog, httpDownload, httpUpload, pageDownloadOk, resumes, settings } from './http-transfer.js';
import * as swarmStore from './swarm-store.js';
import { active as swarmActive, finished as swarmFinished } from './swarm.js';

const params = new URLSearchParams(location.search);
const ROOM_RE = /^[A-Za-z0-9._-]{1,64}$/;
const room = ROOM_RE.test(params.get('room') || '') ? params.get('room') : 'home';

const state = {
  roster: [], // [{name, kind}]
  links: new Map(), // remote name -> {link, session}
  seeder: null, // name of the seeder in this room
};

const sig = new Signaling(room);
// Transfers with the server over plain HTTP (http-transfer.js): once on, for this page's life.
const http = { on: false, reason: '' };
/** A seeder link that has not opened after this long counts as failed (fallback to HTTP). */
const SEEDER_CONNECT_MS = 10_000;
/** Sessions for swarm downloads (swarm.js): the seeder's, and links to peers made on demand. */
const swarmLinks = {
  /** Whether other browsers are in the room (then a download uses the swarm). */
  others: () => state.roster.some((p) => p.kind === 'browser' && p.name !== sig.name),
  seeder() {
    const s = state.seeder && state.links.get(state.seeder)?.session;
    return s?.ready && s.version >= 3 ? s : null;
  },
  peer(name) {
    if (name === sig.name || !state.roster.some((p) => p.name === name && p.kind === 'browser')) return null;
    const entry = state.links.get(name) || connectTo(name, true);
    const s = entry.session;
    return s.ready && s.version >= 3 && s.channel?.readyState === 'open' ? s : null;
  },
};
swarmStore.onHave((hash, pieces) => swarmLinks.seeder()?.send({ type: 'have', hash, pieces }));
swarmStore.onServedReport((bytes) => {
  const s = swarmLinks.seeder();
  s?.send({ type: 'served', bytes });
  return !!s;
});
const swarm = {
  settings: swarmStore.settings, stats: swarmStore.stats, hooks: swarmStore.hooks, active: swarmActive, finished: swarmFinished, setReseed: swarmStore.setReseed,
  /** Where the held pieces of the file with `hash` are served from: 'memory', 'opfs' or undefined. */
  kindOf: (hash) => swarmStore.held.get(hash)?.kind,
  /** The version-3 session to the page `name` (connecting to it when needed), or null. */
  peer: (name) => swarmLinks.peer(name),
};
globalThis.peerbox = {
  state, sig, resumeStats, handover, sinks: capabilities(), http, httpResumes: resumes, awake: phone.awake, notifications: phone.notifications, swarm,
}; // for tests and debugging
const reseedBox = $('reseed');
reseedBox.checked = swarmStore.settings.reseed;
reseedBox.addEventListener('change', () => swarmStore.setReseed(reseedBox.checked));
cleanupStale();

// The file list at once from /catalog.json (one small request), instead of after the seeder's
// DataChannel opened (about a second); the DataChannel's catalog replaces it once it holds the
// whole list. `catalogView` is what sessions show their catalog through.
const shown = { early: null, marked: false };
function markShown() {
  if (!shown.marked) {
    shown.marked = true;
    performance.mark('peerbox-files-shown');
  }
}
const catalogView = {
  ...view,
  showCatalog(list, onDownload) {
    const show = () => {
      view.showCatalog(list, onDownload);
      if (list?.ready) markShown();
    };
    if (!list || list.ready || !shown.early) {
      show();
      return;
    }
    // Keep the list from /catalog.json on screen until the live one is whole; the server's
    // hashing progress shows on it meanwhile.
    const early = shown.early;
    const relay = () => {
      early.progress = list.progress;
      early.dispatchEvent(new CustomEvent('progress'));
    };
    list.addEventListener('progress', relay);
    list.addEventListener('change', function swap() {
      if (!list.ready) return;
      list.removeEventListener('change', swap);
      list.removeEventListener('progress', relay);
      show();
    });
  },
};
// Asked only when the server serves it (no 404 in the console of a box without HTTP downloads).
const early = settings().then((s) => (s.previews && s.seeder_rooms?.includes(room) ? fetch('/catalog.json') : null))
  .then((r) => (r?.ok ? r.json() : null)).catch(() => null);
const earlyShown = Promise.all([early, settings()]).then(([c, s]) => {
  media.configure(s);
  if (!c || shown.marked || http.on) return;
  const list = new Catalog(() => {});
  list.setList(c.files);
  shown.early = list;
  view.showCatalog(list, downloadSoon);
  markShown();
});

/** A tap on a file listed before the seeder's link opened: download once a path is there. */
async function downloadSoon(file) {
  for (let waited = 0; waited < SEEDER_CONNECT_MS + 2000; waited += 100) {
    const entry = state.seeder && state.links.get(state.seeder);
    if (http.on) {
      if (await pageDownloadOk(file)) httpDownload(file, view, state.seeder || 'the server');
      return;
    }
    if (entry?.session.ready) {
      entry.session.download(file);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  view.banner('The server is not reachable yet; try again in a moment.');
}

$('room-label').textContent = room;
view.bindQr(room);
view.bindChat((text) => sig.chat(text));
view.bindSend((files, target) => sendFiles(files, target));

sig.addEventListener('welcome', (ev) => {
  $('my-name').textContent = ev.detail.name;
  // Back after losing the server: if the daemon restarted, the old seeder link is dead even
  // when it does not know it yet. Drop it; the next roster with the seeder makes a new one and
  // paused transfers continue there.
  const seederEntry = state.seeder && state.links.get(state.seeder);
  if (seederEntry) dropLink(state.seeder, seederEntry, 'server reconnected', false);
  state.seeder = null;
  view.setOnline(true);
  view.banner('');
});
sig.addEventListener('offline', () => {
  view.setOnline(false);
  view.banner('Reconnecting to peerbox…');
});
sig.addEventListener('error', (ev) => {
  const e = ev.detail;
  console.warn('signaling error', e);
  if (e.code !== 'unknown_peer') view.banner(`Server: ${e.message}`);
});
sig.addEventListener('chat', (ev) => view.addChat(ev.detail, ev.detail.from === sig.name));
sig.addEventListener('peers', (ev) => {
  if (ev.detail.room !== room) return;
  state.roster = ev.detail.peers;
  onRoster();
});
sig.addEventListener('signal', async (ev) => {
  const { from, signal } = ev.detail;
  let entry = state.links.get(from);
  if (signal.kind === 'bye') {
    // A bye naming another offer's ufrag is for an earlier attempt (it crossed our new one).
    if (signal.ufrag && entry && signal.ufrag !== entry.link.ufrag()) return;
    view.banner(`The connection to ${from} broke (${signal.reason}); reconnecting…`);
    if (entry) dropLink(from, entry, signal.reason);
    return;
  }
  if (signal.kind === 'offer' && entry) {
    const glare = entry.link.offerer && entry.link.pc.signalingState !== 'stable';
    // Both sides offered at once: the peer whose name sorts last yields.
    if (glare && sig.name < from) return;
    // Otherwise the peer lost its end of our link (we may not know yet) and starts a new one;
    // what ran on the old one pauses and continues there.
    dropLink(from, entry, glare ? 'renegotiating' : 'peer reconnected', false);
    entry = null;
  }
  if (!entry && signal.kind === 'offer') entry = connectTo(from, false);
  try {
    await entry?.link.onSignal(signal);
  } catch (err) {
    console.warn('negotiation failed', from, err);
  }
});

function onRoster() {
  const others = state.roster.filter((p) => p.name !== sig.name);
  const seeder = others.find((p) => p.kind === 'seeder');
  state.seeder = seeder ? seeder.name : null;
  $('seeder-name').textContent = seeder ? seeder.name : 'the server';
  view.renderRoster(state.roster, sig.name, (name) => view.selectTarget(name));
  view.renderTargets(others);
  // Connect to the seeder at once (to see its files); to browsers when there is something to send
  // or they connect to us. Drop links to peers that left.
  if (seeder && !http.on && !state.links.has(seeder.name)) watchSeeder(connectTo(seeder.name, true));
  for (const [name, entry] of state.links) {
    if (!others.some((p) => p.name === name)) dropLink(name, entry, 'peer left', false);
  }
  if (!seeder) view.showCatalog(null);
}

function connectTo(remote, offerer) {
  const link = new PeerLink(remote, {
    iceServers: sig.welcome?.ice_servers || [],
    offerer,
    sendSignal: (to, signal) => sig.signal(to, signal),
  });
  const session = new Session(link, { me: sig.name, remote, view: catalogView, seeder: remote === state.seeder, links: swarmLinks });
  const entry = { link, session };
  state.links.set(remote, entry);
  // Gives the link up: says so, tells the other side which attempt ended, drops it.
  const giveUp = (text, byeReason, dropReason) => {
    view.banner(text);
    sig.signal(remote, { kind: 'bye', reason: byeReason, ufrag: link.ufrag() });
    dropLink(remote, entry, dropReason);
  };
  link.addEventListener('failed', () => giveUp(`Could not reach ${remote} directly (network blocks peer-to-peer).`,
    'ICE/DTLS connection failed in the browser', 'connection failed'));
  // Open but never greeted (transfer.js): start over; what was queued pauses and resumes on
  // the new link.
  link.addEventListener('stalled', (ev) => {
    if (state.links.get(remote) !== entry) return;
    giveUp(`The connection to ${remote} did not start (${ev.detail}); reconnecting…`, ev.detail, ev.detail);
  });
  // The seeder closes its channels when it restarts; its transfers pause and resume on the
  // next link (transfer.js), which is made at once when the seeder is still in the room.
  link.addEventListener('channelclose', () => dropLink(remote, entry, 'connection closed'));
  if (offerer) link.start();
  return entry;
}

/** Ends one link; its running transfers pause (transfer.js) and resume on the next link. */
function dropLink(remote, entry, reason, reconnect = true) {
  entry.session.close(reason);
  entry.link.close();
  if (state.links.get(remote) !== entry) return;
  state.links.delete(remote);
  if (reconnect && remote === state.seeder) {
    setTimeout(() => state.seeder === remote && !http.on && !state.links.has(remote) && watchSeeder(connectTo(remote, true)), 1000);
  } else if (reconnect && hasPausedUploads(remote)) {
    // A browser: we were sending to it, so we reconnect while it is in the room and re-offer;
    // it takes the file back at the byte it has (transfer.js onOffer).
    const inRoom = () => state.roster.some((p) => p.name === remote);
    setTimeout(() => inRoom() && !state.links.has(remote) && connectTo(remote, true), 1000);
  }
}

async function sendFiles(files, target) {
  if (!target) {
    view.banner('Pick who to send to first.');
    return;
  }
  if (http.on && target === state.seeder) {
    for (const file of files) httpUpload(file, view, target, sig.welcome?.resume_token);
    return;
  }
  let entry = state.links.get(target);
  if (!entry) entry = connectTo(target, true);
  for (const file of files) entry.session.offerUpload(file);
}

/** Falls back to HTTP when the seeder's WebRTC link fails or does not open in time. */
function watchSeeder(entry) {
  const timer = setTimeout(() => fallBack(entry, 'WebRTC to the server did not connect in time'), SEEDER_CONNECT_MS);
  entry.link.addEventListener('open', () => clearTimeout(timer));
  entry.link.addEventListener('failed', () => {
    clearTimeout(timer);
    fallBack(entry, 'WebRTC to the server failed');
  });
}

async function fallBack(entry, reason) {
  const s = await settings();
  if (s.http_transfers !== 'fallback' || http.on) return;
  const name = entry.link.remote;
  if (state.links.get(name) === entry) dropLink(name, entry, reason, false);
  useHttp(reason);
}

function useHttp(reason) {
  if (http.on) return;
  http.on = true;
  http.reason = reason;
  view.banner(`Files move with the server over HTTP (${reason}).`);
  const list = new Catalog(() => {});
  view.showCatalog(list, async (file) => {
    if (await pageDownloadOk(file)) httpDownload(file, view, state.seeder || 'the server');
  });
  new HttpCatalog((files) => list.setList(files)).start();
}

settings().then(async (s) => {
  media.configure(s);
  phone.init({ send: (files, target) => sendFiles(files, target), seeder: () => state.seeder });
  if (s.http_transfers === 'prefer' && (s.http_downloads || s.http_uploads)) useHttp('preferred by the server');
  // The file list first: setting up WebRTC takes the main thread for a while.
  await earlyShown;
  sig.connect();
});
