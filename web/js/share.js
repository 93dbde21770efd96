// Files shared to peerbox from another app ("Share -> peerbox" on Android, once installed over
// HTTPS). The share sheet POSTs them to /share-target; the service worker (sw.js) answers with
// a redirect to /?share=1 and hands the files to this page when it asks. The user sees what
// arrived and sends it to the server (or a peer picked in "to") with one tap. Loaded only then.
import { $, el, clear } from './dom.js';
import * as fmt from './format.js';
import { banner } from './view.js';

/** Asks the service worker for the shared files: {files, title, text, url}. */
async function fromWorker() {
  const reg = await navigator.serviceWorker.ready;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ files: [] }), 10_000);
    navigator.serviceWorker.addEventListener('message', function onMessage(ev) {
      if (ev.data?.type !== 'shared') return;
      navigator.serviceWorker.removeEventListener('message', onMessage);
      clearTimeout(timer);
      resolve(ev.data);
    });
    reg.active.postMessage({ type: 'share-ready' });
  });
}

/** Shows `text` where shared files would be listed (the banner is for connection news). */
function note(text) {
  const drop = $('drop');
  drop.parentElement.insertBefore(el('p', { class: 'shared', id: 'shared', role: 'status' }, text), drop);
}

/** Handles /?share=<mode>: `1` from the service worker, `nosw` when the server got the POST. */
export async function receive(mode, { send, seeder }) {
  const url = new URL(location.href);
  url.searchParams.delete('share');
  history.replaceState(null, '', url);
  if (mode !== '1' || !('serviceWorker' in navigator)) {
    note('Sharing to peerbox from other apps works when peerbox is installed from its https:// '
      + 'address (the server needs server.tls.enabled = true). Choose the files below instead.');
    return;
  }
  const shared = await fromWorker();
  const files = (shared.files || []).filter((f) => f instanceof File);
  if (!files.length) {
    note(shared.text || shared.url ? 'Only files can be sent with peerbox; nothing to send.' : 'Nothing was shared.');
    return;
  }
  const total = files.reduce((n, f) => n + f.size, 0);
  const list = el('ul', { class: 'plain shared-list' }, files.slice(0, 5).map((f) => el('li', { class: 'meta' }, f.name)),
    files.length > 5 ? el('li', { class: 'meta' }, `and ${files.length - 5} more`) : null);
  const go = el('button', { type: 'button', class: 'primary', id: 'send-shared' }, 'Send');
  const card = el('div', { class: 'shared', id: 'shared', role: 'group', 'aria-label': 'Shared with peerbox' },
    el('p', {}, el('strong', {}, `${files.length} ${files.length === 1 ? 'file' : 'files'} shared with peerbox`),
      ` · ${fmt.bytes(total)}`), list, el('div', { class: 'row' }, go));
  const drop = $('drop');
  drop.parentElement.insertBefore(card, drop);
  // Sent to the server unless the user picks another peer in "to".
  const pickSeeder = () => {
    const s = seeder();
    if (s && [...$('send-to').options].some((o) => o.value === s)) $('send-to').value = s;
  };
  pickSeeder();
  const timer = setInterval(pickSeeder, 500);
  $('send-to').addEventListener('change', () => clearInterval(timer), { once: true });
  go.addEventListener('click', () => {
    clearInterval(timer);
    const target = $('send-to').value;
    if (!target) {
      banner('Waiting for the server to appear in the room…');
      return;
    }
    send(files, target);
    clear(card).append(el('p', { class: 'meta' }, `Sending ${files.length} shared ${files.length === 1 ? 'file' : 'files'} to ${target}.`));
  });
}
