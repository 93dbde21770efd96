// The web client against the published JSON Schema (docs/protocol.schema.json, validated with
// ajv): every control message a page sends or receives on the DataChannel and the signaling
// socket during a download from and an upload to the seeder validates. The page's own
// RTCDataChannel/WebSocket are wrapped before its scripts run, so this is exactly its traffic.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Ajv2020 from 'ajv/dist/2020.js';
import { work, ready } from '../harness.mjs';

const schema = JSON.parse(readFileSync(new URL('../../../docs/protocol.schema.json', import.meta.url)));
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(schema);
const check = (def) => ajv.getSchema(`${schema.$id}#/$defs/${def}`);

// Runs in the page before its scripts: records [schema def, text] of every text message.
function capture() {
  const log = (globalThis.__wire = []);
  const watch = (ch) => ch.addEventListener('message', (e) => {
    if (ch.label === 'peerbox' && typeof e.data === 'string') log.push(['transfer', e.data]);
  });
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (d) {
    if (this.label === 'peerbox' && typeof d === 'string') log.push(['transfer', d]);
    return send.call(this, d);
  };
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...a) {
    const ch = create.apply(this, a);
    watch(ch);
    return ch;
  };
  const PC = RTCPeerConnection;
  globalThis.RTCPeerConnection = class extends PC {
    constructor(...a) {
      super(...a);
      this.addEventListener('datachannel', (e) => watch(e.channel));
    }
  };
  const wsSend = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) {
    if (typeof d === 'string') log.push(['signal_client', d]);
    return wsSend.call(this, d);
  };
  const WS = WebSocket;
  globalThis.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      this.addEventListener('message', (e) => typeof e.data === 'string' && log.push(['signal_server', e.data]));
    }
  };
}

export const tests = {
  async 'every message the page sends and receives validates against the JSON Schema'(b) {
    const p = await b.page();
    await p.addInit(capture);
    await ready(p);
    // An upload to the seeder (offer, accept, frames, end, done) ...
    await p.waitFor(() => [...document.querySelectorAll('#send-to option')].some((o) => o.value === 'peerbox'));
    const name = `contract-${b.name}.bin`;
    const src = join(work, name);
    writeFileSync(src, randomBytes(300 << 10));
    await p.eval(() => { document.getElementById('send-to').value = 'peerbox'; });
    await p.setFiles('#file-input', [src]);
    await p.waitFor((n) => document.querySelector(`[data-transfer="${n}"]`)?.dataset.state, name, 60000);
    // ... and a download from it (download, frames, end).
    await p.waitFor(() => !!document.querySelector('[data-file="twenty.bin"] button'), undefined, 30000);
    await p.eval(() => document.querySelectorAll('[data-transfer="twenty.bin"]').forEach((r) => r.remove()));
    await p.click('[data-file="twenty.bin"] button');
    await p.waitFor(() => document.querySelector('[data-transfer="twenty.bin"]')?.dataset.state, undefined, 60000);
    const wire = await p.eval(() => globalThis.__wire);
    await p.close();
    const seen = new Set();
    const bad = [];
    for (const [def, text] of wire) {
      const msg = JSON.parse(text);
      seen.add(`${def}:${msg.type}`);
      const v = check(def);
      if (!v(msg)) bad.push(`${def} ${text.slice(0, 200)}: ${ajv.errorsText(v.errors)}`);
    }
    if (bad.length) throw new Error(`messages outside the schema:\n${bad.join('\n')}`);
    const want = ['signal_server:welcome', 'signal_client:join', 'signal_client:signal', 'signal_server:signal',
      'transfer:hello', 'transfer:catalog_part', 'transfer:offer', 'transfer:accept', 'transfer:end', 'transfer:done',
      'transfer:download'];
    const missing = want.filter((w) => !seen.has(w));
    if (missing.length) throw new Error(`not captured: ${missing.join(', ')} (saw ${[...seen].join(', ')})`);
    console.log(`  ${wire.length} messages validated (${[...seen].sort().join(', ')})`);
  },

  async 'the schema examples validate (ajv) and the web client catalog reads them'(b) {
    if (b.name !== 'chromium') return 'skip'; // the same code in every browser
    const examples = (prefix) => Object.entries(schema.$defs).filter(([n]) => n.startsWith(prefix)).flatMap(([, d]) => d.examples || []);
    for (const [prefix, def] of [['transfer_', 'transfer'], ['signal_client_', 'signal_client'], ['signal_server_', 'signal_server']]) {
      const v = check(def);
      for (const m of examples(prefix)) if (!v(m)) throw new Error(`${JSON.stringify(m)}: ${ajv.errorsText(v.errors)}`);
    }
    // The page's catalog code takes the catalog examples (version 2: a part, then a delta).
    const p = await b.page();
    await ready(p);
    const paths = await p.eval(async (ex) => {
      const { Catalog } = await import('/js/catalog.js');
      const sent = [];
      const c = new Catalog((m) => sent.push(m));
      for (const m of ex) c.onMessage(m);
      return { files: [...c.files.values()].map((f) => f.path).sort(), sent, version: c.version };
    }, [schema.$defs.transfer_catalog_part.examples[0], schema.$defs.transfer_catalog_delta.examples[0]]);
    await p.close();
    if (JSON.stringify(paths.files) !== JSON.stringify(['holiday/sunset.jpg']) || paths.sent.length || paths.version !== 13) throw new Error(`catalog: ${JSON.stringify(paths)}`);
  },
};
