// The viewer for the server's images, audio and video, loaded on first use. It streams from
// GET /files/<id>: the browser asks for byte ranges as it plays, so a video starts before it is
// fully fetched and seeking jumps straight to the part asked for. Closing it stops the fetch.
import { el, clear } from './dom.js';
import { icon } from './icons.js';

let dialog = null;

function build() {
  dialog = el('dialog', { id: 'viewer', class: 'viewer', 'aria-labelledby': 'viewer-h' },
    el('div', { class: 'viewer-head' },
      el('h2', { id: 'viewer-h' }),
      el('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close the viewer', onclick: () => dialog.close() }, icon('close'))),
    el('div', { class: 'viewer-body' }),
    el('p', { class: 'meta viewer-note' }));
  dialog.addEventListener('close', () => {
    // Stop playing and downloading.
    for (const m of dialog.querySelectorAll('video, audio')) {
      m.pause();
      m.removeAttribute('src');
      m.load();
    }
    clear(dialog.querySelector('.viewer-body'));
  });
  document.body.append(dialog);
}

/** Shows `file` (a catalog entry) in the viewer. */
export function open(file) {
  if (!dialog) build();
  const name = file.path.split('/').pop();
  dialog.querySelector('#viewer-h').textContent = name;
  const body = clear(dialog.querySelector('.viewer-body'));
  const note = dialog.querySelector('.viewer-note');
  note.textContent = '';
  const src = `/files/${encodeURIComponent(file.id)}`;
  const kind = (file.mime || '').split('/')[0];
  let media;
  if (kind === 'image') {
    media = el('img', { src, alt: name });
  } else {
    media = el(kind === 'audio' ? 'audio' : 'video', { src, controls: true, preload: 'auto', playsinline: true });
    media.addEventListener('error', () => {
      note.textContent = 'This browser cannot play this file; download it instead.';
    });
  }
  body.append(media);
  dialog.showModal();
  return media;
}
