//! A peer that lies (issue 14's test "a lying peer cannot corrupt anyone's file"): joins the
//! room through `peerbox::client`, announces every piece of FILE (`have`), and serves browsers
//! that ask it for a range the right length of bytes with the first byte of each range flipped.
//! The browser suite (tests/web/suites/swarm.mjs) runs it next to pages.
//!
//!   lying_peer http://HOST:PORT/?room=home FILE
//! Prints `ready <name>` once announced, then `served <bytes>` per range.

use peerbox::client::{Client, Options, RangeReply};
use peerbox::watch::pieces::piece_count;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (url, path) = match (args.next(), args.next()) {
        (Some(u), Some(p)) => (u, p),
        _ => return Err("usage: lying_peer URL FILE".into()),
    };
    let data = std::fs::read(&path)?;
    let hash = blake3::hash(&data).to_hex().to_string();
    let mut c = Client::connect(&url, Options::default()).await?;
    let n = piece_count(data.len() as u64) as usize;
    let mut bits = vec![0u8; n.div_ceil(8)];
    for i in 0..n {
        bits[i / 8] |= 0x80 >> (i % 8);
    }
    use base64::Engine;
    let bits = base64::engine::general_purpose::STANDARD.encode(&bits);
    c.have(&hash, &bits).await?;
    println!("ready {}", c.name());
    let size = data.len() as u64;
    c.serve_peers(|file_id, offset, length| {
        let end = offset.checked_add(length).filter(|e| *e <= size)?;
        if file_id != hash || length == 0 {
            return None;
        }
        let mut bytes = data[offset as usize..end as usize].to_vec();
        bytes[0] ^= 0xff;
        println!("served {length}");
        Some(RangeReply {
            bytes,
            size,
            hash: hash.clone(),
        })
    })
    .await?;
    Ok(())
}
