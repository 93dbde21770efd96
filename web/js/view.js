// Rendering. Every string from the network is inserted as text (dom.el), never as HTML.
import { $, el, clear } from './dom.js';
import * as fmt from './format.js';

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
        el('span', { class: 'icon', 'aria-hidden': 'true' }, p.kind === 'seeder' ? '🗄️' : '📱'),
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

let catalog = null; // {entries: [{id, path, size, mime, hash}], onDownload}
let cwd = '';

export function renderCatalog(next, onDownload) {
  if (next !== undefined) catalog = next ? { entries: next, onDownload } : null;
  const list = clear($('file-list'));
  const crumbs = clear($('crumbs'));
  if (!catalog) {
    $('files-count').textContent = '';
    list.append(el('li', { class: 'meta' }, 'Waiting for the server…'));
    return;
  }
  const filter = $('filter').value.trim().toLowerCase();
  const entries = catalog.entries;
  $('files-count').textContent = `(${entries.length})`;
  const parts = cwd ? cwd.split('/') : [];
  crumbs.append(el('button', { type: 'button', onclick: () => cd('') }, 'All files'));
  parts.forEach((part, i) => {
    const path = parts.slice(0, i + 1).join('/');
    crumbs.append(el('button', { type: 'button', onclick: () => cd(path) }, part));
  });

  let shown;
  if (filter) {
    // Filtering searches every folder and shows paths.
    shown = entries
      .filter((e) => e.path.toLowerCase().includes(filter))
      .map((e) => ({ file: e, label: e.path }));
  } else {
    const prefix = cwd ? `${cwd}/` : '';
    const folders = new Map();
    shown = [];
    for (const e of entries) {
      if (!e.path.startsWith(prefix)) continue;
      const rest = e.path.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash >= 0) {
        const name = rest.slice(0, slash);
        const f = folders.get(name) || { count: 0, size: 0 };
        f.count += 1;
        f.size += e.size;
        folders.set(name, f);
      } else {
        shown.push({ file: e, label: rest });
      }
    }
    for (const [name, f] of [...folders].sort((a, b) => a[0].localeCompare(b[0]))) {
      list.append(
        el(
          'li',
          {},
          el(
            'button',
            { type: 'button', class: 'entry', onclick: () => cd(prefix + name), 'aria-label': `Open folder ${name}` },
            el('span', { class: 'icon', 'aria-hidden': 'true' }, '📁'),
            el('span', { class: 'grow' }, el('span', { class: 'name' }, name), el('br'),
              el('span', { class: 'meta' }, `${f.count} files · ${fmt.bytes(f.size)}`)),
          ),
        ),
      );
    }
  }
  shown.sort((a, b) => a.label.localeCompare(b.label));
  for (const { file, label } of shown) {
    list.append(
      el(
        'li',
        { 'data-file': file.path },
        el(
          'button',
          { type: 'button', class: 'entry', onclick: () => catalog.onDownload(file), 'aria-label': `Download ${label}` },
          el('span', { class: 'icon', 'aria-hidden': 'true' }, '📄'),
          el('span', { class: 'grow' }, el('span', { class: 'name' }, label), el('br'),
            el('span', { class: 'meta' }, fmt.bytes(file.size))),
        ),
      ),
    );
  }
  if (!list.firstChild) list.append(el('li', { class: 'meta' }, filter ? 'No file matches.' : 'No files shared yet.'));
}

function cd(path) {
  cwd = path;
  renderCatalog();
}

$('filter').addEventListener('input', () => renderCatalog());

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
    el('span', { class: 'icon', 'aria-hidden': 'true' }, direction === 'down' ? '⬇️' : '⬆️'),
    el('span', { class: 'grow' }, el('span', { class: 'name' }, name),
      el('span', { class: 'meta' }, ` ${direction === 'down' ? 'from' : 'to'} ${peer}${via ? ` over ${via}` : ''}`), bar, meta),
    cancel,
  );
  if (via) row.dataset.path = via;
  cancel.addEventListener('click', () => onCancel?.());
  $('transfer-list').prepend(row);
  const rate = new fmt.Rate();
  const finish = (cls, text) => {
    row.className = cls;
    meta.textContent = text;
    cancel.remove();
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
  $('pick').addEventListener('click', () => input.click());
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
    const files = [...(ev.dataTransfer?.files || [])];
    if (files.length) send(files, $('send-to').value);
  });
}
