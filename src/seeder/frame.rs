//! Binary chunk frames: a 13-byte header then the payload, at most the link's message size in
//! all (the smaller of the two sides' `a=max-message-size`: 64 KiB to 256 KiB).
//!
//! Layout (big endian): `u8 kind` (0x01 = chunk, protocol v1), `u32 transfer_id`, `u64 offset`.

/// The only frame kind of protocol version 1.
pub const KIND_CHUNK: u8 = 0x01;
/// Bytes of the fixed header.
pub const HEADER_BYTES: usize = 13;
/// Largest whole frame (header included) on any link: 256 KiB.
pub const MAX_FRAME_BYTES: usize = 262144;
/// Largest payload of one frame.
pub const MAX_PAYLOAD_BYTES: usize = MAX_FRAME_BYTES - HEADER_BYTES;
/// The frame size every WebRTC peer accepts (64 KiB, RFC 8841's default message size).
pub const BASE_FRAME_BYTES: usize = 65536;
/// The payload of a [`BASE_FRAME_BYTES`] frame.
pub const BASE_PAYLOAD_BYTES: usize = BASE_FRAME_BYTES - HEADER_BYTES;

/// One decoded chunk, borrowing its payload from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    pub transfer_id: u32,
    pub offset: u64,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("binary message of {0} bytes is shorter than the 13-byte chunk header")]
    Short(usize),
    #[error("binary message of {0} bytes exceeds the 262144-byte limit")]
    TooLong(usize),
    #[error("unknown binary frame kind {0:#04x}")]
    UnknownKind(u8),
    #[error("chunk frame without payload")]
    Empty,
    #[error("chunk offset + length overflows u64")]
    Overflow,
}

/// Parses one binary message; total over all inputs.
pub fn decode(msg: &[u8]) -> Result<Chunk<'_>, FrameError> {
    if msg.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLong(msg.len()));
    }
    if msg.len() < HEADER_BYTES {
        return Err(FrameError::Short(msg.len()));
    }
    if msg[0] != KIND_CHUNK {
        return Err(FrameError::UnknownKind(msg[0]));
    }
    let mut id = [0u8; 4];
    id.copy_from_slice(&msg[1..5]);
    let mut off = [0u8; 8];
    off.copy_from_slice(&msg[5..13]);
    let data = &msg[HEADER_BYTES..];
    if data.is_empty() {
        return Err(FrameError::Empty);
    }
    let offset = u64::from_be_bytes(off);
    offset
        .checked_add(data.len() as u64)
        .ok_or(FrameError::Overflow)?;
    Ok(Chunk {
        transfer_id: u32::from_be_bytes(id),
        offset,
        data,
    })
}

/// The transfer id a binary message names, read from its header even when the frame is
/// invalid (empty payload, unknown kind, too long), so the receiver can end that transfer;
/// `None` when the message is too short to hold one.
pub fn transfer_id(msg: &[u8]) -> Option<u32> {
    let id: [u8; 4] = msg.get(1..5)?.try_into().ok()?;
    Some(u32::from_be_bytes(id))
}

/// Writes the header for a payload of `len` bytes into the first 13 bytes of `buf`.
pub fn write_header(buf: &mut [u8], transfer_id: u32, offset: u64) {
    buf[0] = KIND_CHUNK;
    buf[1..5].copy_from_slice(&transfer_id.to_be_bytes());
    buf[5..13].copy_from_slice(&offset.to_be_bytes());
}

/// Builds one frame; `data` must be at most [`MAX_PAYLOAD_BYTES`].
pub fn encode(transfer_id: u32, offset: u64, data: &[u8]) -> Vec<u8> {
    assert!(data.len() <= MAX_PAYLOAD_BYTES, "chunk payload too large");
    let mut v = vec![0u8; HEADER_BYTES + data.len()];
    write_header(&mut v, transfer_id, offset);
    v[HEADER_BYTES..].copy_from_slice(data);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_limits() {
        let f = encode(7, 1 << 40, b"abc");
        assert_eq!(f.len(), 16);
        let c = decode(&f).unwrap();
        assert_eq!((c.transfer_id, c.offset, c.data), (7, 1 << 40, &b"abc"[..]));
        let full = encode(1, 0, &[9u8; MAX_PAYLOAD_BYTES]);
        assert_eq!(full.len(), 262144);
        assert!(decode(&full).is_ok());
        let mut over = full.clone();
        over.push(0);
        assert_eq!(decode(&over), Err(FrameError::TooLong(262145)));
        assert_eq!(decode(&[1, 2]), Err(FrameError::Short(2)));
        assert_eq!(decode(&encode(1, 0, b"")), Err(FrameError::Empty));
        let mut bad = encode(1, 0, b"x");
        bad[0] = 9;
        assert_eq!(decode(&bad), Err(FrameError::UnknownKind(9)));
        assert_eq!(
            decode(&encode(1, u64::MAX, b"x")),
            Err(FrameError::Overflow)
        );
        assert_eq!(transfer_id(&bad), Some(1));
        assert_eq!(transfer_id(&[1, 0, 0, 0]), None);
        for n in 0..HEADER_BYTES + 2 {
            let _ = decode(&vec![1u8; n]);
        }
    }
}
