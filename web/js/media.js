// What the file list shows beside names: thumbnails of the server's photos (GET /thumbs/<id>,
// made and cached by the server), a "View" button for images, audio and video (the viewer,
// preview.js, loads on first use and streams from GET /files/<id> with Range), and a button
// that downloads a whole folder as one zip (GET /archive?folder=...). All of them go over plain
// HTTP to the appliance, so they appear only when the server allows HTTP downloads.
import { el } from './dom.js';
import { fileIcon, icon } from './icons.js';

const caps = { thumbs: false, view: false, folders: false };

/** Takes the server's /client.json settings. */
export function configure(settings) {
  caps.view = !!settings?.previews;
  caps.thumbs = caps.view && !!settings?.thumbnails;
  caps.folders = caps.view && !!settings?.folder_downloads;
}

/** The picture at the start of a file's row: its thumbnail when the server makes one. */
export function fileFigure(file) {
  if (!caps.thumbs || file.mime !== 'image/jpeg') return fileIcon(file.mime);
  const img = el('img', {
    class: 'thumb', alt: '', width: 40, height: 40, loading: 'lazy', decoding: 'async',
    src: `/thumbs/${encodeURIComponent(file.id)}?v=${file.hash.slice(0, 16)}`,
  });
  img.addEventListener('error', () => img.replaceWith(fileIcon(file.mime)), { once: true });
  return img;
}

/** Whether the viewer can show this file (a type browsers play or display). */
export function viewable(file) {
  return caps.view && /^(image|video|audio)\//.test(file.mime || '');
}

/** A "View" button for the row of `file`, or null. */
export function viewButton(file, label) {
  if (!viewable(file)) return null;
  return el('button', {
    type: 'button', class: 'icon-button', 'aria-label': `View ${label}`, title: 'View',
    onclick: () => import('./preview.js').then((m) => m.open(file)),
  }, icon('play'));
}

/** A link that downloads folder `path` as one zip, or null. */
export function folderButton(path, name) {
  if (!caps.folders) return null;
  return el('a', {
    class: 'button icon-button', href: `/archive?folder=${encodeURIComponent(path)}`, download: `${name}.zip`,
    'aria-label': `Download folder ${name} as one zip`, title: 'Download as zip', 'data-zip': path,
  }, icon('zip'));
}
