// peerbox service worker: hands finished downloads from OPFS to the browser's download manager
// as a streaming response, so a large file is never read into page memory. Everything else goes
// to the network untouched (the app works offline only as far as the LAN does).
const PREFIX = '/__peerbox_download/';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (ev) => ev.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (ev) => {
  const url = new URL(ev.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(PREFIX)) return;
  ev.respondWith(serve(url));
});

async function serve(url) {
  const [key, name] = url.pathname.slice(PREFIX.length).split('/').map(decodeURIComponent);
  try {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('peerbox-incoming');
    const file = await (await dir.getFileHandle(key)).getFile();
    const type = url.searchParams.get('type') || 'application/octet-stream';
    // RFC 6266: an ASCII fallback plus the exact UTF-8 name.
    const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
    return new Response(file.stream(), {
      headers: {
        'Content-Type': type,
        'Content-Length': String(file.size),
        'Content-Disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`,
      },
    });
  } catch (err) {
    return new Response(`download not available: ${err}`, { status: 404 });
  }
}
