// peerbox service worker (HTTPS only; browsers allow none on plain http):
// - hands finished downloads from OPFS to the browser's download manager as a streaming
//   response, so a large file is never read into page memory;
// - receives files shared to the installed app (the manifest's share_target POSTs them to
//   /share-target) and gives them to the page it opens, which sends them on;
// - shows notifications and brings the page back when one is tapped.
// Everything else goes to the network untouched (the app works offline only as far as the LAN
// does).
const PREFIX = '/__peerbox_download/';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (ev) => ev.waitUntil(self.clients.claim()));

// Files shared to the app, waiting for the page to ask for them.
let shared = null;
let handedOver = null;

self.addEventListener('fetch', (ev) => {
  const url = new URL(ev.request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === '/share-target' && ev.request.method === 'POST') {
    ev.respondWith(Response.redirect('/?share=1', 303));
    shared = ev.request.formData().then((form) => ({
      files: form.getAll('files').filter((f) => typeof f === 'object' && 'size' in f),
      title: form.get('title') || '', text: form.get('text') || '', url: form.get('url') || '',
    })).catch(() => ({ files: [] }));
    // Stay alive until the page took the files (or a minute passed).
    ev.waitUntil(new Promise((resolve) => {
      handedOver = resolve;
      setTimeout(resolve, 60_000);
    }));
    return;
  }
  if (url.pathname.startsWith(PREFIX)) ev.respondWith(serve(url));
});

self.addEventListener('message', (ev) => {
  if (ev.data?.type !== 'share-ready') return;
  const pending = shared || Promise.resolve({ files: [] });
  shared = null;
  pending.then((data) => {
    ev.source.postMessage({ type: 'shared', ...data });
    handedOver?.();
    handedOver = null;
  });
});

self.addEventListener('notificationclick', (ev) => {
  ev.notification.close();
  ev.waitUntil(self.clients.matchAll({ type: 'window' }).then((list) => (list.length ? list[0].focus() : self.clients.openWindow('/'))));
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
