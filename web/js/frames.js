// Chunk frames of the transfer protocol (docs/protocol.md): u8 kind=1, u32 transfer id, u64
// offset, big endian, then data; sent under buffered-amount flow control. Used by uploads
// (transfer.js) and by pages serving held pieces (reseed.js).

export const HEADER = 13;
/** Largest frame this client sends (header included): 64 KiB measured faster into Chromium than
 * 256 KiB. */
export const MAX_FRAME = 65536;
/** Frames are sent while the channel's bufferedAmount is under this, then at bufferedamountlow. */
export const HIGH_WATER = 1 << 20;

/**
 * Sends `bytes` as frames of transfer `id`, the first at file offset `offset`, each at most
 * `frameBytes` long. Returns false when `stopped()` turned true or the channel closed first.
 */
export async function sendFrames(ch, id, offset, bytes, frameBytes = MAX_FRAME, stopped = () => false) {
  const room = frameBytes - HEADER;
  for (let i = 0; i < bytes.length; i += room) {
    const part = bytes.subarray(i, i + room);
    const buf = new Uint8Array(HEADER + part.length);
    const dv = new DataView(buf.buffer);
    dv.setUint8(0, 1);
    dv.setUint32(1, id);
    dv.setBigUint64(5, BigInt(offset + i));
    buf.set(part, HEADER);
    if (ch.bufferedAmount > HIGH_WATER) {
      await new Promise((resolve) => ch.addEventListener('bufferedamountlow', resolve, { once: true }));
    }
    if (stopped() || ch.readyState !== 'open') return false;
    ch.send(buf);
  }
  return true;
}
