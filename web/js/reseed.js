// Re-seeding: a page serves `download_range` requests of other pages from the pieces it holds
// (swarm-store.js), at most MAX_UPLOADS at once, while re-seeding is on.
import * as store from './swarm-store.js';
import { sendFrames } from './frames.js';

/** Answers `m` (a `download_range`) on `session`, whose `serving` map tracks running ranges. */
export async function serveRange(session, m) {
  const id = m.transfer_id;
  const busy = store.stats.uploads >= store.MAX_UPLOADS;
  const got = busy ? { code: 'busy' } : store.range(m.file_id, m.offset, m.length);
  if (!got.blob) {
    session.send({ type: 'refuse', transfer_id: id, code: got.code });
    return;
  }
  const job = { stopped: false };
  session.serving.set(id, job);
  store.stats.uploads += 1;
  try {
    let bytes = new Uint8Array(await got.blob.arrayBuffer());
    if (store.hooks.corrupt) bytes = store.hooks.corrupt(bytes, m);
    const stopped = () => job.stopped || !store.settings.reseed;
    if (!(await sendFrames(session.channel, id, m.offset, bytes, session.frameBytes, stopped))) return;
    store.served(bytes.length);
    session.send({ type: 'end', transfer_id: id, size: got.file.size, hash: got.file.hash });
  } finally {
    store.stats.uploads -= 1;
    session.serving.delete(id);
  }
}
