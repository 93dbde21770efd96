// Rendering. Every string from the network is inserted as text (dom.el), never as HTML.
import { $, el, clear } from './dom.js';
import * as fmt from './format.js';
import { icon } from './icons.js';
import * as phone from './phone.js';

export function banner(text) {
  $('banner').textContent = text;
}

export function setOnline(online) {
  const dot = $('status-dot');
  dot.classList.toggle('online', online);
  dot.setAttribute('aria-label', online ? 'connected' : 'offline');
}

export function renderRoster(peers, me, onPick) {
  const list = clear($('roster'));
  $('roster-count').textContent = `(${peers.length})`;
  for (const p of peers) {
    const mine = p.name === me;
    list.append(
      el(
        'li',
        { 'data-peer': p.name },
        icon(p.kind === 'seeder' ? 'server' : 'phone'),
        el('span', { class: 'grow' }, el('span', { class: 'name' }, p.name), mine ? ' (you)' : ''),
        el('span', { class: 'kind' }, p.kind === 'seeder' ? 'server' : 'browser'),
        mine ? null : el('button', { type: 'button', onclick: () => onPick(p.name), 'aria-label': `Send files to ${p.name}` }, 'Send'),
      ),
    );
  }
}

export function renderTargets(others) {
  const sel = $('send-to');
  const current = sel.value;
  clear(sel);
  for (const p of others) {
    sel.append(el('option', { value: p.name }, p.kind === 'seeder' ? `${p.name} (server)` : p.name));
  }
  if (others.some((p) => p.name === current)) sel.value = current;
  $('pick').disabled = others.length === 0;
}

export function selectTarget(name) {
  $('send-to').value = name;
  $('file-input').click();
}

// ---- catalog ------------------------------------------------------------------------------

// The file list lives in filelist.js (folders first, virtualised, search across everything).
export { showCatalog } from './filelist.js';

// ---- transfers ----------------------------------------------------------------------------

/** Adds a row and returns an updater: {progress(done), done(text), fail(text)}. */
export function addTransfer({ direction, name, size, peer, via, onCancel }) {
  $('no-transfers')?.remove();
  const bar = el('progress', { max: size || 1, value: 0, 'aria-label': `Progress of ${name}` });
  const meta = el('span', { class: 'meta' }, 'Waiting…');
  const cancel = el('button', { type: 'button', 'aria-label': `Cancel ${name}` }, 'Cancel');
  const row = el(
    'li',
    { 'data-transfer': name },
    icon(direction === 'down' ? 'down' : 'up'),
    el('span', { class: 'grow' }, el('span', { class: 'name' }, name),
      el('span', { class: 'meta' }, ` ${direction === 'down' ? 'from' : 'to'} ${peer}${via ? ` over ${via}` : ''}`), bar, meta),
    cancel,
  );
  if (via) row.dataset.path = via;
  cancel.addEventListener('click', () => onCancel?.());
  $('transfer-list').prepend(row);
  const rate = new fmt.Rate();
  // The screen stays on while transfers run, where the browser allows (phone.js).
  const note = el('span', { class: 'meta awake-note' });
  row.querySelector('.grow').append(note);
  const awake = phone.transferStarted((why) => { row.dataset.awake = 'no'; note.textContent = why; });
  let over = false;
  const finish = (cls, text) => {
    row.className = cls;
    meta.textContent = text;
    cancel.remove();
    if (!over) awake.end();
    over = true;
    phone.notify(`${name}: ${text}`, direction === 'down' ? `from ${peer}` : `to ${peer}`);
  };
  return {
    progress(done) {
      bar.value = done;
      rate.add(done);
      const eta = rate.eta(size - done);
      meta.textContent = `${fmt.bytes(done)} of ${fmt.bytes(size)} · ${fmt.speed(rate.perSec())}${
        Number.isFinite(eta) ? ` · ${fmt.duration(eta)} left` : ''}`;
      row.dataset.done = String(done);
    },
    status(text) {
      meta.textContent = text;
    },
    done(text) {
      bar.value = size || 1;
      row.dataset.state = 'done';
      finish('state-done', text || `Done · ${fmt.bytes(size)}`);
    },
    fail(text) {
      row.dataset.state = 'failed';
      finish('state-failed', text);
    },
  };
}

// ---- chat, QR, send -----------------------------------------------------------------------

export function addChat(msg, mine) {
  const log = $('chat-log');
  log.append(
    el('p', { class: mine ? 'mine' : '' }, el('span', { class: 'from' }, msg.from), msg.text,
      el('span', { class: 'time' }, fmt.clock(msg.ts))),
  );
  log.scrollTop = log.scrollHeight;
}

export function bindChat(send) {
  $('chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('chat-input');
    const text = input.value.trim();
    if (text && send(text)) input.value = '';
  });
}

export function bindQr(room) {
  $('show-qr').addEventListener('click', () => {
    const url = `${location.origin}/?room=${encodeURIComponent(room)}`;
    $('qr-img').src = `/qr.svg?text=${encodeURIComponent(url)}`;
    $('qr-url').textContent = url;
    $('qr-dialog').showModal();
  });
}

export function bindSend(send) {
  const input = $('file-input');
  $('pick').addEventListener('click', () => {
    phone.askNotify();
    input.click();
  });
  const folder = $('folder-input');
  $('pick-folder').addEventListener('click', () => {
    phone.askNotify();
    folder.click();
  });
  folder.addEventListener('change', () => {
    // Each file keeps the folder it is in, below the chosen one included (webkitRelativePath).
    if (folder.files.length) send([...folder.files], $('send-to').value);
    folder.value = '';
  });
  input.addEventListener('change', () => {
    if (input.files.length) send([...input.files], $('send-to').value);
    input.value = '';
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    const target = $('send-to').value;
    // Folders among the dropped items are walked (folders.js, loaded when needed); the entries
    // must be taken while the drop event runs.
    const entries = [...(ev.dataTransfer?.items || [])].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
    if (entries.some((e) => e.isDirectory)) {
      import('./folders.js').then((m) => m.filesOf(entries)).then((files) => files.length && send(files, target));
      return;
    }
    const files = [...(ev.dataTransfer?.files || [])];
    if (files.length) send(files, target);
  });
}
