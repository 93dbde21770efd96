// Folders dropped onto the page: walks them (FileSystemDirectoryEntry) into a list of files,
// each marked with the folder it sits in relative to what was dropped (format.js withFolder),
// so the receiver rebuilds the same tree. The folder picker needs none of this: its files carry
// webkitRelativePath. Loaded when a folder is dropped.
import { withFolder } from './format.js';

/** Every file below `entries` (FileSystemEntry), with its folder. */
export async function filesOf(entries) {
  const out = [];
  for (const entry of entries) await walk(entry, '', out);
  return out;
}

async function walk(entry, parent, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push(withFolder(file, parent));
    return;
  }
  if (!entry.isDirectory) return;
  const here = parent ? `${parent}/${entry.name}` : entry.name;
  const reader = entry.createReader();
  // readEntries returns a batch at a time (100 in Chromium) until an empty one.
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    for (const child of batch) await walk(child, here, out);
  }
}
