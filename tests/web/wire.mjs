// Every control message a test page sends or receives, checked against the published JSON
// Schema (docs/protocol.schema.json, with ajv). harness.mjs installs `capture` in every page
// before its own scripts (the page's RTCDataChannel and WebSocket are wrapped, so this is exactly
// its traffic) and checks what was captured when the test navigates or closes the page: a message
// outside the schema fails that test. Binary chunk frames are not JSON and are not captured.
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';

export const schema = JSON.parse(readFileSync(new URL('../../docs/protocol.schema.json', import.meta.url)));
export const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(schema);
/** The validator of `#/$defs/<def>`: `transfer`, `signal_client` or `signal_server`. */
export const validator = (def) => ajv.getSchema(`${schema.$id}#/$defs/${def}`);

/** Messages checked in this run, by `<def>:<type>`. */
export const seen = new Map();

// Runs in the page before its scripts: records [schema def, text] of every text message on the
// `peerbox` DataChannels and the signaling WebSocket, both directions.
export function capture() {
  if (globalThis.__wire) return;
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

/** Checks captured [def, text] pairs; returns the list of complaints (empty when all valid). */
export function check(wire) {
  const bad = [];
  for (const [def, text] of wire) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      bad.push(`${def} not JSON: ${text.slice(0, 200)}`);
      continue;
    }
    const key = `${def}:${msg?.type}`;
    seen.set(key, (seen.get(key) || 0) + 1);
    const v = validator(def);
    if (v(msg)) continue;
    // The complaint of the message's own definition, when its type is known, reads better
    // than that of every branch of the `oneOf`.
    const own = schema.$defs[`${def}_${msg?.type}`] ? validator(`${def}_${msg.type}`) : v;
    own(msg);
    bad.push(`${def} ${text.slice(0, 200)}: ${ajv.errorsText(own.errors || v.errors)}`);
  }
  return bad;
}

/**
 * Takes what page `evaluate` captured so far (nothing if the page is gone) and throws when a
 * message is outside the schema.
 */
export async function drain(evaluate) {
  let wire = [];
  try {
    wire = (await evaluate(() => (globalThis.__wire ? globalThis.__wire.splice(0) : []))) || [];
  } catch { /* page closed or navigating: nothing to take */ }
  const bad = check(wire);
  if (bad.length) throw new Error(`messages outside docs/protocol.schema.json:\n${bad.join('\n')}`);
  return wire;
}

process.on('exit', () => {
  const n = [...seen.values()].reduce((a, b) => a + b, 0);
  if (n) console.log(`schema: ${n} control messages validated (${[...seen.keys()].sort().join(', ')})`);
});
