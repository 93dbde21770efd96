// Injected by tests/web/seeder-bench.mjs into a page served by the daemon. Speaks
// docs/protocol.md itself (signaling over the daemon's /ws, the transfer protocol over one
// DataChannel labelled `peerbox`) so the clock measures the seeder and the browser's WebRTC
// stack, not the web UI's hashing or blob assembly. Also a Chromium-to-Chromium baseline: the
// same 64 KiB messages and the same bufferedAmount flow control between two pages.
(() => {
  const HIGH = 1048576; // send while bufferedAmount is below this (docs/protocol.md)
  const LOW = 262144; // bufferedAmountLowThreshold
  // Frame payload: 64 KiB messages unless the bench asks for another size (BENCH_MESSAGE_BYTES).
  const PAYLOAD = (window.BENCH_MESSAGE_BYTES || 65536) - 13;
  // Byte i of the bench file is (i * 7) % 251, so a 251-periodic buffer serves any offset.
  const PATTERN = new Uint8Array(251 * 263);
  for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = (i * 7) % 251;

  function frame(transferId, offset, n) {
    const buf = new ArrayBuffer(13 + n);
    const view = new DataView(buf);
    view.setUint8(0, 1);
    view.setUint32(1, transferId);
    view.setBigUint64(5, BigInt(offset));
    const start = offset % 251;
    new Uint8Array(buf, 13).set(PATTERN.subarray(start, start + n));
    return buf;
  }

  // Sends `size` bytes as frames under bufferedAmount flow control; resolves when all queued,
  // with the longest wait for room (how long the receiver let the sender stand still).
  function pump(dc, size, transferId, from = 0) {
    return new Promise((resolve, reject) => {
      let sent = from;
      let last = performance.now();
      let maxGapMs = 0;
      dc.bufferedAmountLowThreshold = LOW;
      const go = () => {
        const now = performance.now();
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
        try {
          while (sent < size && dc.bufferedAmount < HIGH) {
            const n = Math.min(PAYLOAD, size - sent);
            dc.send(frame(transferId, sent, n));
            sent += n;
          }
        } catch (e) { return reject(e); }
        if (sent >= size) { dc.onbufferedamountlow = null; resolve({ maxGapMs }); }
      };
      dc.onbufferedamountlow = go;
      go();
    });
  }

  function gathered(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
      setTimeout(resolve, 3000);
    });
  }

  // A signaling client joined to room `home` and a WebRTC connection to the seeder.
  async function connectSeeder() {
    const t0 = performance.now();
    const ws = new WebSocket(`ws://${location.host}/ws`);
    const inbox = [];
    let wake = null;
    ws.onmessage = (ev) => { inbox.push(JSON.parse(ev.data)); if (wake) wake(); };
    const next = async (pred, what) => {
      const deadline = performance.now() + 20000;
      for (;;) {
        const i = inbox.findIndex(pred);
        if (i >= 0) return inbox.splice(i, 1)[0];
        if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => { wake = r; setTimeout(r, 200); });
      }
    };
    await next((m) => m.type === 'welcome', 'welcome');
    ws.send(JSON.stringify({ type: 'join', room: 'home' }));
    const roster = await next((m) => m.type === 'peers' && m.peers.some((p) => p.kind === 'seeder'), 'the seeder');
    const seeder = roster.peers.find((p) => p.kind === 'seeder').name;
    const pc = new RTCPeerConnection();
    const dc = pc.createDataChannel('peerbox', { ordered: true });
    dc.binaryType = 'arraybuffer';
    const signal = (s) => ws.send(JSON.stringify({ type: 'signal', to: seeder, signal: s }));
    pc.onicecandidate = (e) => { if (e.candidate) signal({ kind: 'candidate', ...e.candidate.toJSON() }); };
    await pc.setLocalDescription(await pc.createOffer());
    signal({ kind: 'offer', sdp: pc.localDescription.sdp });
    const answer = await next((m) => m.type === 'signal' && m.signal.kind === 'answer', 'the answer');
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.signal.sdp });
    const remoteCandidates = setInterval(() => {
      let i;
      while ((i = inbox.findIndex((m) => m.type === 'signal' && m.signal.kind === 'candidate')) >= 0) {
        const { kind, ...c } = inbox.splice(i, 1)[0].signal;
        pc.addIceCandidate(c).catch(() => {});
      }
    }, 50);
    await new Promise((resolve, reject) => {
      dc.onopen = resolve;
      setTimeout(() => reject(new Error('DataChannel did not open')), 20000);
    });
    clearInterval(remoteCandidates);
    // Control messages in, binary frames to whoever listens.
    const texts = [];
    let onText = null;
    const peer = { pc, dc, ws, onBinary: null, setupMs: 0 };
    dc.onmessage = (ev) => {
      if (typeof ev.data === 'string') { texts.push(JSON.parse(ev.data)); if (onText) onText(); } else if (peer.onBinary) peer.onBinary(ev.data);
    };
    peer.text = async (pred, what, ms = 60000) => {
      const deadline = performance.now() + ms;
      for (;;) {
        const i = texts.findIndex(pred);
        if (i >= 0) return texts.splice(i, 1)[0];
        const err = texts.find((m) => m.type === 'error' || m.type === 'refuse');
        if (err) throw new Error(`seeder said ${JSON.stringify(err)}`);
        if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => { onText = r; setTimeout(r, 100); });
      }
    };
    peer.send = (m) => dc.send(JSON.stringify(m));
    peer.send({ type: 'hello', version: 1, agent: 'peerbox-bench' });
    await peer.text((m) => m.type === 'hello', 'hello');
    const catalog = await peer.text((m) => m.type === 'catalog', 'the catalog');
    peer.files = catalog.files;
    peer.setupMs = performance.now() - t0;
    peer.close = () => { pc.close(); ws.close(); };
    return peer;
  }

  // Downloads the shared file `path` from the seeder; the clock runs from the first frame to
  // the `end` message (bytes counted, offsets checked, content sampled).
  // Pauses: the longest gap between two frames, and how many gaps were over 200 ms.
  window.seederDownload = async (path) => {
    const peer = await connectSeeder();
    const file = peer.files.find((f) => f.path === path);
    if (!file) throw new Error(`${path} is not in the catalog`);
    let got = 0, bad = 0, tFirst = 0, tLast = 0, maxGapMs = 0, gaps = 0, maxGapAt = 0;
    const tAsk = performance.now();
    peer.onBinary = (buf) => {
      const t = performance.now();
      if (!tFirst) tFirst = t;
      if (tLast) {
        const gap = t - tLast;
        if (gap > maxGapMs) { maxGapMs = gap; maxGapAt = got; }
        if (gap > 200) gaps += 1;
      }
      tLast = t;
      const view = new DataView(buf);
      const off = Number(view.getBigUint64(5));
      if (off !== got) bad += 1;
      const body = new Uint8Array(buf, 13);
      if (body[0] !== (off * 7) % 251) bad += 1;
      got += body.length;
    };
    peer.send({ type: 'download', transfer_id: 1, file_id: file.id, offset: 0 });
    const end = await peer.text((m) => m.type === 'end', 'the end of the download', 300000);
    const tEnd = performance.now();
    peer.close();
    return {
      ok: bad === 0 && got === file.size && end.hash === file.hash, bytes: got, ms: tEnd - tFirst,
      ttfbMs: tFirst - tAsk, setupMs: peer.setupMs, maxGapMs, maxGapAt, gaps,
    };
  };

  // `n` downloads of the small shared file `path` one after another on one connection (a phone
  // opening files): each timed from the request to the `end` after its last byte.
  window.seederSmall = async (path, n) => {
    const peer = await connectSeeder();
    const file = peer.files.find((f) => f.path === path);
    if (!file) throw new Error(`${path} is not in the catalog`);
    const runs = [];
    for (let i = 0; i < n; i++) {
      let got = 0, bad = 0, tFirst = 0;
      peer.onBinary = (buf) => {
        if (!tFirst) tFirst = performance.now();
        const off = Number(new DataView(buf).getBigUint64(5));
        if (off !== got) bad += 1;
        got += buf.byteLength - 13;
      };
      const id = i + 1;
      const tAsk = performance.now();
      peer.send({ type: 'download', transfer_id: id, file_id: file.id, offset: 0 });
      await peer.text((m) => m.type === 'end' && m.transfer_id === id, 'the end of a download', 60000);
      const tEnd = performance.now();
      runs.push({ ok: bad === 0 && got === file.size, ms: tEnd - tAsk, ttfbMs: tFirst - tAsk });
    }
    peer.close();
    return { runs, setupMs: peer.setupMs };
  };

  // Sends the pattern bytes of the shared file `likePath` back to the seeder as `name` (its
  // size and BLAKE3 from the catalog, so the page need not hash). The clock runs from `accept`
  // to the seeder's `done`, which comes after it verified the hash, fsynced and linked the file.
  window.seederUpload = async (name, likePath) => {
    const peer = await connectSeeder();
    const like = peer.files.find((f) => f.path === likePath);
    if (!like) throw new Error(`${likePath} is not in the catalog`);
    const { size, hash } = like;
    peer.send({ type: 'offer', transfer_id: 2, name, size, hash });
    const accept = await peer.text((m) => m.type === 'accept', 'accept');
    const t0 = performance.now();
    const { maxGapMs } = await pump(peer.dc, size, 2, accept.offset);
    const tSent = performance.now();
    peer.send({ type: 'end', transfer_id: 2, size, hash });
    const done = await peer.text((m) => m.type === 'done', 'done', 300000);
    const t1 = performance.now();
    peer.close();
    return { ok: true, bytes: size - accept.offset, ms: t1 - t0, sendMs: tSent - t0, name: done.name, setupMs: peer.setupMs, maxGapMs };
  };

  // Chromium to Chromium: `c2cOffer` in page A, `c2cAnswer` in page B, `c2cAccept` in A, then
  // `c2cReceive` in B together with `c2cSend` in A.
  let c2c = null;
  window.c2cOffer = async () => {
    const pc = new RTCPeerConnection();
    const dc = pc.createDataChannel('bench', { ordered: true });
    dc.binaryType = 'arraybuffer';
    c2c = { pc, dc, open: new Promise((r) => { dc.onopen = r; }) };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    return pc.localDescription.sdp;
  };
  window.c2cAnswer = async (sdp) => {
    const pc = new RTCPeerConnection();
    let dcResolve;
    c2c = { pc, channel: new Promise((r) => { dcResolve = r; }) };
    pc.ondatachannel = (ev) => { ev.channel.binaryType = 'arraybuffer'; dcResolve(ev.channel); };
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    return pc.localDescription.sdp;
  };
  window.c2cAccept = async (sdp) => {
    await c2c.pc.setRemoteDescription({ type: 'answer', sdp });
    await c2c.open;
  };
  window.c2cSend = async (size) => {
    await pump(c2c.dc, size, 1);
  };
  window.c2cReceive = async (size) => {
    const dc = await c2c.channel;
    return await new Promise((resolve) => {
      let got = 0, bad = 0, tFirst = 0, tLast = 0, maxGapMs = 0, gaps = 0;
      dc.onmessage = (ev) => {
        const now = performance.now();
        if (!tFirst) tFirst = now;
        // Pauses measured as in seederDownload, so the two paths compare in one run.
        if (tLast) {
          maxGapMs = Math.max(maxGapMs, now - tLast);
          if (now - tLast > 200) gaps += 1;
        }
        tLast = now;
        const view = new DataView(ev.data);
        const off = Number(view.getBigUint64(5));
        if (off !== got) bad += 1;
        got += ev.data.byteLength - 13;
        if (got >= size) {
          const t = performance.now();
          c2c.pc.close();
          resolve({ ok: bad === 0 && got === size, bytes: got, ms: t - tFirst, maxGapMs, gaps });
        }
      };
    });
  };
  window.c2cClose = () => { if (c2c) c2c.pc.close(); };
})();
