// The web client against the published JSON Schema (docs/protocol.schema.json, validated with
// ajv). harness.mjs checks every control message of every page in every browser test
// (tests/web/wire.mjs); the first test here makes sure a download from and an upload to the
// seeder really produce the messages the schema covers, the second that the schema's examples
// validate and that the page's catalog code reads them, the third that a late `bye` for an
// earlier connection attempt is ignored (signaling version 2).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { work, dirs, ready, myName, sendBetweenPages } from '../harness.mjs';
import { schema, ajv, validator as check, drain } from '../wire.mjs';

export const tests = {
  async 'every message the page sends and receives validates against the JSON Schema'(b) {
    const p = await b.page();
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
    // A DOM click: the list is redrawn as the upload lands in the catalog, which a driver's
    // click on the row (found, then clicked) can miss.
    await p.eval(() => document.querySelector('[data-file="twenty.bin"] button').click());
    await p.waitFor(() => document.querySelector('[data-transfer="twenty.bin"]')?.dataset.state, undefined, 60000);
    // Throws on a message outside the schema.
    const wire = await drain((fn) => p.eval(fn));
    await p.close();
    const seen = new Set(wire.map(([def, text]) => `${def}:${JSON.parse(text).type}`));
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

  // docs/protocol.md, `bye`: "A receiver whose current attempt began with an offer of another
  // ufrag ignores the `bye`: it is late, for an earlier attempt, and crossed the new offer."
  async 'a late bye for an earlier connection attempt is ignored, one for this attempt ends it'(b) {
    const t = await sendBetweenPages(b, 'bye', 64 << 10);
    await t.finish();
    const aName = await myName(t.a);
    // Page c answered a's offer: it knows that offer's ufrag, as a's peer always does.
    const ufrag = await t.c.eval((n) => globalThis.peerbox.state.links.get(n).link.ufrag(), aName);
    const mine = await t.a.eval((n) => {
      globalThis.__link = globalThis.peerbox.state.links.get(n);
      return globalThis.__link.link.ufrag();
    }, t.cName);
    if (!ufrag || ufrag !== mine) throw new Error(`ufrags differ: offerer ${mine}, answerer ${ufrag}`);
    // c sends a bye for another attempt, then a chat line: signaling keeps their order, so once
    // a shows the line it has handled the bye.
    const byeThenChat = (u, line) => t.c.eval(([n, u, line]) => {
      globalThis.peerbox.sig.signal(n, { kind: 'bye', reason: 'test bye', ufrag: u });
      globalThis.peerbox.sig.chat(line);
    }, [aName, u, line]);
    const seesChat = (line) => t.a.waitFor((l) => document.getElementById('chat-log').textContent.includes(l), line);
    const linkState = () => t.a.eval((n) => {
      const e = globalThis.peerbox.state.links.get(n);
      return { same: e === globalThis.__link, open: e?.link.channels.peerbox?.readyState };
    }, t.cName);
    await byeThenChat(`${ufrag}x`, 'after the late bye');
    await seesChat('after the late bye');
    const kept = await linkState();
    if (!kept.same || kept.open !== 'open') throw new Error(`a late bye dropped the link: ${JSON.stringify(kept)}`);
    // The bye of this attempt ends it.
    await byeThenChat(ufrag, 'after the bye of this attempt');
    await seesChat('after the bye of this attempt');
    const ended = await linkState();
    if (ended.same) throw new Error(`the bye of this attempt left the link: ${JSON.stringify(ended)}`);
    await t.close();
  },

  // docs/protocol.md, Catalog: paths are the names on disk, not normalized; the web client's
  // search compares NFC forms, so a decomposed name in the share is found by a composed query.
  async 'a decomposed file name in the share is listed as it is and found by a composed search'(b) {
    const decomposed = `cafe\u0301-${b.name}.txt`;
    writeFileSync(join(dirs.share, decomposed), 'from a Mac\n');
    const p = await b.page();
    await ready(p);
    await p.waitFor((n) => !!document.querySelector(`[data-file="${n}"]`), decomposed, 30000);
    await p.fill('#filter', `caf\u00e9-${b.name}`);
    await p.waitFor((n) => {
      const rows = [...document.querySelectorAll('#file-list [data-file]')];
      return rows.length === 1 && rows[0].dataset.file === n;
    }, decomposed);
    await p.close();
  },
};
