// The UI's icons as inline SVG (no emoji: a device without an emoji font shows empty boxes).
// Each is drawn on a 24x24 grid with a 2 px stroke in the current text colour, and hidden from
// screen readers (the text next to it says what it is).

const NS = 'http://www.w3.org/2000/svg';

const PATHS = {
  server: 'M4 4h16v6H4zM4 14h16v6H4zM8 7h.01M8 17h.01',
  phone: 'M7 2h10a2 2 0 0 1 2 2v16a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zM11 18h2',
  folder: 'M3 6a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z',
  file: 'M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8zM14 3v5h5',
  image: 'M5 4h14a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1zM4 16l5-5 4 4 2-2 5 5M15.5 8.5h.01',
  video: 'M4 6h11a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1zM16 10l5-3v10l-5-3',
  audio: 'M9 18V5l11-2v13M9 18a3 3 0 1 1-6 0 3 3 0 0 1 6 0zM20 16a3 3 0 1 1-6 0 3 3 0 0 1 6 0z',
  down: 'M12 4v12M6 11l6 6 6-6M5 20h14',
  up: 'M12 20V8M6 13l6-6 6 6M5 4h14',
  zip: 'M12 3v12M7 10l5 5 5-5M4 15v4a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2v-4',
  play: 'M8 5v14l11-7z',
  close: 'M6 6l12 12M18 6L6 18',
};

/** An <svg> element for icon `name`. */
export function icon(name, cls = 'icon') {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', PATHS[name] || PATHS.file);
  svg.append(path);
  return svg;
}

/** The icon for a catalog entry's MIME type. */
export function fileIcon(mime = '') {
  if (mime.startsWith('image/')) return icon('image');
  if (mime.startsWith('video/')) return icon('video');
  if (mime.startsWith('audio/')) return icon('audio');
  return icon('file');
}
