// What makes the page behave like an app on a phone: the screen stays on while transfers run
// (Screen Wake Lock), notifications when a file arrives or a transfer ends while the page is
// hidden (permission asked when the user starts a transfer, never on load), the service worker
// and the install button on HTTPS, and files shared to peerbox from another app (share.js,
// loaded only then). Wake locks, notifications and service workers exist only in secure
// contexts: on plain http the page says what turning HTTPS on would bring.
import { $ } from './dom.js';

const secure = globalThis.isSecureContext === true;

// ---- stay awake -----------------------------------------------------------------------------

const wake = { active: 0, sentinel: null, pending: null };
/** For tests and debugging: whether a wake lock is held now, and how often one was taken. */
export const awake = {
  get held() {
    return !!wake.sentinel && !wake.sentinel.released;
  },
  get active() {
    return wake.active;
  },
  acquired: 0,
  released: 0,
};

function acquire() {
  if (wake.sentinel && !wake.sentinel.released) return Promise.resolve();
  // A hidden page cannot take one; it is taken again when the page shows (below).
  if (document.visibilityState !== 'visible') return Promise.resolve();
  wake.pending ??= navigator.wakeLock.request('screen').then((s) => {
    wake.sentinel = s;
    awake.acquired += 1;
    s.addEventListener('release', () => { awake.released += 1; });
    if (wake.active === 0) s.release();
  }).finally(() => { wake.pending = null; });
  return wake.pending;
}

function release() {
  const s = wake.sentinel;
  wake.sentinel = null;
  if (s && !s.released) s.release().catch(() => {});
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && wake.active > 0 && 'wakeLock' in navigator) acquire().catch(() => {});
});

/**
 * A transfer started: keep the screen on until every running transfer has called `end()`.
 * `onCannot(text)` is told when this browser cannot, with what the user should do instead.
 */
export function transferStarted(onCannot) {
  wake.active += 1;
  if (!('wakeLock' in navigator)) {
    onCannot(secure
      ? 'This browser cannot keep the screen on: keep it unlocked until the transfer ends.'
      : 'Keep the screen on until this ends: over plain http the browser cannot keep it awake.');
  } else {
    acquire().catch((err) => onCannot(`The screen may lock and pause this transfer (${err.message}); keep it on.`));
  }
  let ended = false;
  return {
    end() {
      if (ended) return;
      ended = true;
      wake.active -= 1;
      if (wake.active === 0) release();
    },
  };
}

// ---- notifications --------------------------------------------------------------------------

let asked = false;
/** For tests and debugging: notifications shown by this page. */
export const notifications = { shown: 0, last: null };

/** Asks for permission to notify; call it from a user's tap that starts a transfer. */
export function askNotify() {
  if (asked || !secure || !('Notification' in globalThis) || Notification.permission !== 'default') return;
  asked = true;
  Notification.requestPermission().catch(() => {});
}

/** Shows a notification when the page is hidden (and the user allowed them). */
export async function notify(title, body) {
  if (document.visibilityState !== 'hidden') return;
  if (!('Notification' in globalThis) || Notification.permission !== 'granted') return;
  try {
    const reg = await navigator.serviceWorker?.getRegistration();
    const opts = { body, icon: '/icon.svg', badge: '/icon.svg', tag: `peerbox-${Date.now()}` };
    // Android only shows them through the service worker; desktop browsers either way.
    if (reg) await reg.showNotification(title, opts);
    else new Notification(title, opts); // eslint-disable-line no-new
    notifications.shown += 1;
    notifications.last = title;
  } catch (err) {
    console.warn('notification failed', err);
  }
}

/** Resolves when the page is visible (at once if it is). */
export function whenVisible() {
  if (document.visibilityState === 'visible') return Promise.resolve();
  return new Promise((resolve) => {
    document.addEventListener('visibilitychange', function onChange() {
      if (document.visibilityState !== 'visible') return;
      document.removeEventListener('visibilitychange', onChange);
      resolve();
    });
  });
}

// ---- service worker, install, share target --------------------------------------------------

let installEvent = null;

/** Sets up the app side of the page; `send(files, target)` sends files like the picker does. */
export function init({ send, seeder }) {
  const params = new URLSearchParams(location.search);
  if (secure && 'serviceWorker' in navigator) {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch((err) => console.warn('service worker', err));
  }
  globalThis.addEventListener('beforeinstallprompt', (ev) => {
    ev.preventDefault();
    installEvent = ev;
    $('install').hidden = false;
  });
  $('install').addEventListener('click', async () => {
    if (!installEvent) return;
    installEvent.prompt();
    await installEvent.userChoice.catch(() => null);
    installEvent = null;
    $('install').hidden = true;
  });
  $('app-help').hidden = secure;
  if (params.has('share')) {
    import('./share.js').then((m) => m.receive(params.get('share'), { send, seeder }));
  }
}
