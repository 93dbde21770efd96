// The seeder's WebRTC transport against real browsers: the DTLS cipher suite it chooses (forced
// either way, checked from the seeder's /metrics and, in Chromium, from getStats()), a page
// that closes its connection leaves no ERROR line in the daemon's log, and a download through
// 5 % packet loss (an nftables rule inside the test namespace) arrives whole.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { HOST, PORT, work, big, sha, sleep, ready, spawnDaemon, waitHealthy, stopDaemon } from '../harness.mjs';
import * as harness from '../harness.mjs';

const SUITES = { chacha20: 'chacha20-poly1305', 'aes-gcm': 'aes-128-gcm' };
const STATS_NAME = { chacha20: 'CHACHA20_POLY1305', 'aes-gcm': 'AES_128_GCM' };

// The DTLS suite of the page's connection to the seeder, as the browser reports it (Chromium).
const browserCipher = (p) => p.eval(async () => {
  const pc = globalThis.peerbox.state.links.get('peerbox').link.pc;
  for (const r of (await pc.getStats()).values()) if (r.type === 'transport' && r.dtlsCipher) return r.dtlsCipher;
  return '';
});

async function forcedCipher(b, forced, port) {
  const child = spawnDaemon(port, join(work, `state-cipher-${forced}-${b.name}`), { PEERBOX_SEEDER__WEBRTC__CIPHER: forced });
  try {
    await waitHealthy(`http://${HOST}:${port}/healthz`);
    const base = `http://${HOST}:${port}/`;
    const p = await b.page();
    await ready(p, 'home', base);
    // The DataChannel to the seeder is open (the file list may show earlier, from
    // /catalog.json), and the seeder has counted the link.
    await p.waitFor(() => globalThis.peerbox.state.links.get('peerbox')?.link.channels.peerbox?.readyState === 'open', undefined, 30000);
    const line = `peerbox_seeder_links_total{cipher="${SUITES[forced]}"} `;
    let metrics = '';
    let up = [];
    for (let i = 0; i < 50 && !up.length; i++, await sleep(100)) {
      metrics = await (await fetch(`${base}metrics`)).text();
      up = metrics.split('\n').filter((l) => l.startsWith('peerbox_seeder_links_total'));
    }
    if (up.length !== 1 || !up[0].startsWith(line)) {
      throw new Error(`seeder forced to ${forced}: ${metrics.split('\n').filter((l) => l.startsWith('peerbox_seeder_links')).join('; ')}`);
    }
    if (b.name.startsWith('chromium')) {
      const cipher = await browserCipher(p);
      if (!cipher.includes(STATS_NAME[forced])) throw new Error(`Chromium negotiated ${cipher}`);
    }
    await p.close();
  } finally {
    await stopDaemon(child);
  }
}

function nft(...args) {
  execFileSync('nft', args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

export const tests = {
  async 'a seeder forced to ChaCha20-Poly1305 negotiates it'(b) {
    await forcedCipher(b, 'chacha20', PORT + 2);
  },

  async 'a seeder forced to AES-128-GCM negotiates it'(b) {
    await forcedCipher(b, 'aes-gcm', PORT + 3);
  },

  async 'a page that goes away leaves no ERROR line in the daemon log'(b) {
    const p = await b.page();
    await ready(p);
    await p.waitFor(() => !!document.querySelector('[data-file="twenty.bin"] button'), undefined, 30000);
    const from = harness.daemonLog.length;
    // Closing the connection the way a browser does when a tab goes away (SCTP ABORT from
    // Chromium's stack, DTLS close_notify from Firefox's).
    await p.eval(() => globalThis.peerbox.state.links.get('peerbox').link.pc.close());
    await p.close();
    await sleep(2000);
    const errors = harness.daemonLog.slice(from).split('\n').filter((l) => / ERROR /.test(l));
    if (errors.length) throw new Error(`daemon logged:\n${errors.join('\n')}`);
  },

  async 'a download through 5 % packet loss arrives whole'(b) {
    if (b.name !== 'chromium') return 'skip'; // the loss is the network's, not the browser's
    nft('add', 'table', 'inet', 'peerbox_loss');
    try {
      nft('add', 'chain', 'inet', 'peerbox_loss', 'input', '{ type filter hook input priority 0; }');
      nft('add', 'rule', 'inet', 'peerbox_loss', 'input', 'meta', 'l4proto', 'udp', 'numgen', 'random', 'mod', '100', '<', '5', 'counter', 'drop');
      const p = await b.page();
      await ready(p);
      await p.waitFor(() => !!document.querySelector('[data-file="twenty.bin"] button'), undefined, 60000);
      const saved = p.nextDownload(150000); // as long as the transfer may take (below)
      await p.click('[data-file="twenty.bin"] button.entry');
      await p.waitFor(() => document.querySelector('[data-transfer="twenty.bin"]')?.dataset.state, undefined, 120000);
      const text = await p.eval(() => document.querySelector('[data-transfer="twenty.bin"]').textContent);
      if (!text.includes('Verified')) throw new Error(`download: ${text}`);
      if (sha(await saved) !== sha(big)) throw new Error('saved file differs from the shared one');
      const rule = execFileSync('nft', ['list', 'table', 'inet', 'peerbox_loss']).toString();
      const dropped = Number((rule.match(/counter packets (\d+)/) || [])[1] || 0);
      if (dropped < 100) throw new Error(`only ${dropped} packets were dropped:\n${rule}`);
      console.log(`  ${dropped} UDP packets dropped on the way, file verified`);
      await p.close();
    } finally {
      nft('delete', 'table', 'inet', 'peerbox_loss');
    }
  },
};

export const ipTests = ['a seeder forced to ChaCha20-Poly1305 negotiates it'];
