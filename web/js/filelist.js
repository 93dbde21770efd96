// The server's files on screen: folders first, then files, in a virtualised list (only the rows
// in view are in the DOM, so 100,000 files scroll like 100), a search across every folder, and
// "hashing N of M" while the server's first hashing runs. Strings from the network are inserted
// as text (dom.el), never as HTML.
import { $, el, clear } from './dom.js';
import * as fmt from './format.js';
import { byName } from './catalog.js';
import { icon } from './icons.js';
import * as media from './media.js';
import { askNotify } from './phone.js';

const ROW = 56; // px; keep in step with .vrow in app.css
const OVERSCAN = 6;
const SEARCH_DELAY = 150;

let catalog = null;
let onDownload = null;
let cwd = '';
let rows = [];
let cache = { key: null, rows: [] };

/** Shows `next` (a Catalog, or null while there is no server) and keeps showing its changes. */
export function showCatalog(next, download) {
  if (catalog !== next && catalog) {
    catalog.removeEventListener('change', refresh);
    catalog.removeEventListener('progress', status);
    catalog.removeEventListener('loading', status);
  }
  if (catalog !== next && next) {
    next.addEventListener('change', refresh);
    next.addEventListener('progress', status);
    next.addEventListener('loading', status);
  }
  catalog = next;
  onDownload = download;
  refresh();
}

function status() {
  const box = $('catalog-status');
  if (!catalog) {
    box.textContent = '';
    return;
  }
  const p = catalog.progress;
  const parts = [];
  if (!catalog.ready && catalog.total) parts.push(`Loading ${fmt.count(catalog.loaded)} of ${fmt.count(catalog.total)} files…`);
  if (p) parts.push(`Hashing ${fmt.count(p.hashed)} of ${fmt.count(p.files)} files…`);
  box.textContent = parts.join(' ');
  box.hidden = parts.length === 0;
}

function rowsFor(filter) {
  const key = `${catalog.changes}\u0000${cwd}\u0000${filter}`;
  if (cache.key === key) return cache.rows;
  let out;
  if (filter) {
    out = catalog.search(filter).map((f) => ({ file: f, label: f.path }));
  } else {
    const node = catalog.folder(cwd);
    if (!node) {
      cwd = '';
      return rowsFor(filter);
    }
    const dirs = [...node.dirs.values()].sort((a, b) => byName(a.name, b.name));
    const files = [...node.files.entries()].sort((a, b) => byName(a[0], b[0]));
    out = [...dirs.map((d) => ({ dir: d })), ...files.map(([name, f]) => ({ file: f, label: name }))];
  }
  cache = { key, rows: out };
  return out;
}

function refresh() {
  status();
  const list = $('file-list');
  const crumbs = clear($('crumbs'));
  if (!catalog || !catalog.ready) {
    $('files-count').textContent = '';
    rows = [];
    list.classList.remove('virtual');
    list.style.height = '';
    clear(list).append(el('li', { class: 'meta' }, 'Waiting for the server…'));
    return;
  }
  const filter = $('filter').value.trim();
  $('files-count').textContent = `(${fmt.count(catalog.files.size)})`;
  crumbs.append(el('button', { type: 'button', onclick: () => cd('') }, 'All files'));
  const parts = cwd ? cwd.split('/') : [];
  parts.forEach((part, i) => {
    const path = parts.slice(0, i + 1).join('/');
    crumbs.append(el('button', { type: 'button', onclick: () => cd(path) }, part));
  });
  rows = rowsFor(filter);
  if (!rows.length) {
    list.classList.remove('virtual');
    list.style.height = '';
    clear(list).append(el('li', { class: 'meta' }, filter ? 'No file matches.' : 'No files shared yet.'));
    return;
  }
  draw();
}

// Rows in the DOM now, by index; kept while they stay in view, so scrolling never replaces a
// row under the pointer.
let shown = new Map();
let shownRows = null;

/** Puts the rows in view (plus a few either side) into the list, and nothing else. */
function draw() {
  const list = $('file-list');
  if (shownRows !== rows || !list.classList.contains('virtual')) {
    list.classList.add('virtual');
    const spacer = el('li', { class: 'spacer', 'aria-hidden': 'true' });
    clear(list).append(spacer);
    shown = new Map();
    shownRows = rows;
  }
  list.firstChild.style.height = `${rows.length * ROW}px`;
  list.style.height = `${rows.length * ROW}px`; // capped at 70vh by app.css
  const view = list.clientHeight || 600;
  const first = Math.max(0, Math.floor(list.scrollTop / ROW) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((list.scrollTop + view) / ROW) + OVERSCAN);
  for (const [i, li] of shown) {
    if (i < first || i >= last) {
      li.remove();
      shown.delete(i);
    }
  }
  for (let i = first; i < last; i++) {
    if (shown.has(i)) continue;
    const li = rowElement(rows[i], i);
    shown.set(i, li);
    list.append(li);
  }
  // A list's rows say where they are in the whole (aria-rowcount belongs to grids, not lists).
  for (const li of shown.values()) li.setAttribute('aria-setsize', String(rows.length));
}

function rowElement(row, i) {
  let li;
  if (row.dir) {
    const d = row.dir;
    // Buttons are named by their visible text (a hidden verb first), as axe-core asks.
    li = el('li', { class: 'vrow', 'data-folder': d.path },
      el('button', { type: 'button', class: 'entry', onclick: () => cd(d.path) },
        icon('folder'),
        el('span', { class: 'grow' }, el('span', { class: 'visually-hidden' }, 'Open folder '), el('span', { class: 'name' }, d.name), el('br'),
          el('span', { class: 'meta' }, `${fmt.count(d.count)} ${d.count === 1 ? 'file' : 'files'} · ${fmt.bytes(d.size)}`))),
      media.folderButton(d.path, d.name));
  } else {
    const { file, label } = row;
    li = el('li', { class: 'vrow', 'data-file': file.path },
      el('button', { type: 'button', class: 'entry', onclick: () => { askNotify(); onDownload?.(file); } },
        media.fileFigure(file),
        el('span', { class: 'grow' }, el('span', { class: 'visually-hidden' }, 'Download '), el('span', { class: 'name' }, label), el('br'),
          el('span', { class: 'meta' }, fmt.bytes(file.size)))),
      media.viewButton(file, label));
  }
  li.style.top = `${i * ROW}px`;
  li.setAttribute('aria-posinset', String(i + 1));
  return li;
}

function cd(path) {
  cwd = path;
  $('file-list').scrollTop = 0;
  refresh();
}

let frame = 0;
$('file-list').addEventListener('scroll', () => {
  if (frame || !rows.length) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    draw();
  });
});

let typing = 0;
$('filter').addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    $('file-list').scrollTop = 0;
    refresh();
  }, SEARCH_DELAY);
});
