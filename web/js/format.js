// Human-readable sizes, speeds and times.

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

export function bytes(n) {
  if (!Number.isFinite(n) || n < 0) return '?';
  let i = 0;
  while (n >= 1000 && i < UNITS.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${UNITS[i]}`;
}

/** A count with thousands separators: 100,000. */
export function count(n) {
  return Number(n).toLocaleString('en-US');
}

export function speed(bytesPerSec) {
  return `${bytes(bytesPerSec)}/s`;
}

export function duration(secs) {
  if (!Number.isFinite(secs) || secs < 0) return '';
  if (secs < 60) return `${Math.ceil(secs)} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ${Math.round(secs % 60)} s`;
  return `${Math.floor(secs / 3600)} h ${Math.round((secs % 3600) / 60)} min`;
}

export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Smoothed transfer rate and ETA from (time, bytes) samples over the last few seconds. */
export class Rate {
  constructor(windowMs = 3000) {
    this.windowMs = windowMs;
    this.samples = [];
  }

  add(done, now = performance.now()) {
    this.samples.push([now, done]);
    while (this.samples.length > 2 && now - this.samples[0][0] > this.windowMs) this.samples.shift();
  }

  perSec() {
    if (this.samples.length < 2) return 0;
    const [t0, b0] = this.samples[0];
    const [t1, b1] = this.samples[this.samples.length - 1];
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }

  eta(remaining) {
    const r = this.perSec();
    return r > 0 ? remaining / r : Infinity;
  }
}

const FOLDERS = new WeakMap();

/** Marks `file` as sitting in `folder` ('/'-separated, relative; '' for none). */
export function withFolder(file, folder) {
  if (folder) FOLDERS.set(file, folder);
  return file;
}

/** The folder a file to send sits in: set by withFolder, or from the folder picker's path. */
export function folderOf(file) {
  if (FOLDERS.has(file)) return FOLDERS.get(file);
  const rel = file.webkitRelativePath || '';
  return rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
}
