//! "Swarm (version 3)": piece hashes, range requests, availability (`have`), `sources` and
//! `served`, driven only through raw JSON and frames.

use serde_json::{json, Value};

use super::common::get;
use super::wire::{b3, server, Got, Wire};

const MIB: usize = 1 << 20;

/// A file of 2.5 pieces of 1 MiB in the share; a version-3 session that sees it listed.
async fn three_pieces(srv: &super::common::TestServer) -> (Vec<u8>, Wire, Value) {
    let data: Vec<u8> = (0..(5 * MIB / 2) as u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(srv.dirs.path().join("share/p.bin"), &data).unwrap();
    let (mut w, h) = Wire::hello(srv, 3).await;
    assert_eq!(h["version"], 3);
    let f = w.file("p.bin").await;
    (data, w, f)
}

/// Reads transfer `id`'s frames from `offset` up to its `end`; returns the bytes and the `end`.
async fn range_bytes(w: &mut Wire, id: u32, offset: u64) -> (Vec<u8>, Value) {
    let mut got = Vec::new();
    loop {
        match w.next().await {
            Got::Frame(fr) => {
                assert_eq!(fr[0], 0x01);
                assert_eq!(u32::from_be_bytes(fr[1..5].try_into().unwrap()), id);
                let at = u64::from_be_bytes(fr[5..13].try_into().unwrap());
                assert_eq!(at, offset + got.len() as u64, "frames are contiguous");
                got.extend_from_slice(&fr[13..]);
            }
            Got::Text(v) if v["type"].as_str().is_some_and(|t| t.starts_with("catalog")) => {}
            Got::Text(v) => return (got, v),
        }
    }
}

/// "Piece `i` covers bytes `[i * piece_size, min((i + 1) * piece_size, size))`; its hash is the
/// plain BLAKE3 of those bytes." and "`hashes` is the concatenated hex of pieces `first..` ...
/// the one with `last` ends the list. An unknown file: `error not_found` (without a transfer
/// id)."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piece_hashes_are_the_blake3_of_each_piece() {
    let srv = server().await;
    let (data, mut w, f) = three_pieces(&srv).await;
    w.send(json!({"type": "pieces", "file_id": f["id"]})).await;
    let want: String = data.chunks(MIB).map(b3).collect();
    assert_eq!(
        w.text().await,
        json!({"type": "piece_hashes", "file_id": f["id"], "hash": b3(&data),
               "size": data.len(), "piece_size": MIB, "first": 0, "hashes": want, "last": true})
    );
    w.send(json!({"type": "pieces", "file_id": "no-such-file"}))
        .await;
    let v = w.text().await;
    assert_eq!(
        (&v["type"], &v["code"]),
        (&json!("error"), &json!("not_found"))
    );
    assert!(v.get("transfer_id").is_none(), "{v}");
    w.c.close().await;
    srv.stop().await;
}

/// "Like `download`, for the `length` bytes at `offset`: chunk frames from `offset` to `offset +
/// length`, then `end` with the **whole file's** size and hash." and "`file_id` is a catalog id
/// (32 hex digits) towards the seeder, or the file's BLAKE3 (64 hex digits) ... (the seeder
/// accepts both)". Refusals: "`bad_offset` (empty, or past the end)", `not_found`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_is_its_bytes_then_the_whole_files_end() {
    let srv = server().await;
    let (data, mut w, f) = three_pieces(&srv).await;
    let whole = json!({"size": data.len(), "hash": b3(&data)});
    for (id, file_id, offset, length) in [
        (1u32, f["id"].clone(), MIB as u64, MIB as u64),
        (
            2,
            json!(b3(&data)),
            2 * MIB as u64 - 10,
            MIB as u64 / 2 + 10,
        ),
    ] {
        w.send(
            json!({"type": "download_range", "transfer_id": id, "file_id": file_id,
                      "offset": offset, "length": length}),
        )
        .await;
        let (got, end) = range_bytes(&mut w, id, offset).await;
        assert!(got == data[offset as usize..(offset + length) as usize]);
        assert_eq!(
            end,
            json!({"type": "end", "transfer_id": id, "size": whole["size"], "hash": whole["hash"]})
        );
    }
    for (id, file_id, offset, length, code) in [
        (3u32, f["id"].clone(), 0u64, 0u64, "bad_offset"),
        (4, f["id"].clone(), 2 * MIB as u64, MIB as u64, "bad_offset"),
        (5, json!(b3(b"elsewhere")), 0, 1, "not_found"),
    ] {
        w.send(
            json!({"type": "download_range", "transfer_id": id, "file_id": file_id,
                      "offset": offset, "length": length}),
        )
        .await;
        assert_eq!(
            w.text().await,
            json!({"type": "refuse", "transfer_id": id, "code": code})
        );
    }
    w.c.close().await;
    srv.stop().await;
}

/// "Messages of a higher version than the session's are never sent" and "A message of a higher
/// version than the session's gets `error protocol_violation`": a version-2 session asking for a
/// range or pieces, or announcing pieces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_3_messages_in_a_version_2_session_are_violations() {
    let srv = server().await;
    let (mut w, h) = Wire::hello(&srv, 2).await;
    assert_eq!(h["version"], 2);
    let hash = b3(b"x");
    for m in [
        json!({"type": "download_range", "transfer_id": 1, "file_id": hash, "offset": 0, "length": 1}),
        json!({"type": "pieces", "file_id": "5d41402abc4b2a76b9719d911017c592"}),
        json!({"type": "have", "hash": hash, "pieces": "gA=="}),
        json!({"type": "sources", "hash": hash}),
        json!({"type": "served", "bytes": 1}),
    ] {
        w.send(m.clone()).await;
        let v = w.text().await;
        assert_eq!(
            (&v["type"], &v["code"]),
            (&json!("error"), &json!("protocol_violation")),
            "{m} -> {v}"
        );
    }
    w.c.close().await;
    srv.stop().await;
}

/// Asks for the sources of `hash` until `pred` holds for the answer's `peers` (the seeder
/// handles each link's messages on that link's task, so another link's `have` may still be on
/// its way).
async fn sources_until(w: &mut Wire, hash: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        w.send(json!({"type": "sources", "hash": hash})).await;
        let v = w.text().await;
        assert_eq!((&v["type"], &v["hash"]), (&json!("sources"), &json!(hash)));
        if pred(&v["peers"]) {
            return v["peers"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("sources never matched");
}

/// "A peer tells the seeder which pieces of a file it holds ... (re-seeding turned off: an empty
/// `pieces`)", "The answer lists the other peers connected to the seeder that hold pieces of the
/// file", "A peer that leaves is forgotten at once", and "a bad one is `error bad_message`".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn have_is_listed_in_sources_until_withdrawn_or_gone() {
    let srv = server().await;
    let (data, mut a, _) = three_pieces(&srv).await;
    let (mut b, _) = Wire::hello(&srv, 3).await;
    let hash = b3(&data);
    let a_name = a.c.name().to_owned();
    // Pieces 0..=2: 0b1110_0000.
    a.send(json!({"type": "have", "hash": hash, "pieces": "4A=="}))
        .await;
    let holds_a = |p: &Value| {
        p.as_array()
            .is_some_and(|l| l.iter().any(|e| e["name"] == a_name.as_str()))
    };
    let peers = sources_until(&mut b, &hash, holds_a).await;
    assert_eq!(peers, json!([{"name": a_name, "pieces": "4A=="}]));
    // The asker is never its own source.
    let own = sources_until(&mut a, &hash, |_| true).await;
    assert!(!holds_a(&own), "{own}");
    // Withdrawn with an empty bitfield.
    a.send(json!({"type": "have", "hash": hash, "pieces": ""}))
        .await;
    sources_until(&mut b, &hash, |p| !holds_a(p)).await;
    // Not base64: bad_message, and nothing is recorded.
    a.send_text(&format!(
        r#"{{"type":"have","hash":"{hash}","pieces":"**"}}"#
    ))
    .await;
    let v = a.text().await;
    assert_eq!(
        (&v["type"], &v["code"]),
        (&json!("error"), &json!("bad_message"))
    );
    // Announced again, then the peer leaves.
    a.send(json!({"type": "have", "hash": hash, "pieces": "gA=="}))
        .await;
    sources_until(&mut b, &hash, holds_a).await;
    a.c.close().await;
    sources_until(&mut b, &hash, |p| !holds_a(p)).await;
    b.c.close().await;
    srv.stop().await;
}

/// "A peer reports the bytes it served to other peers since its last report ...; `/metrics`
/// shows them beside the seeder's own bytes".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_reports_add_up_in_metrics() {
    let srv = server().await;
    let (data, mut w, f) = three_pieces(&srv).await;
    let metric = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    w.send(json!({"type": "served", "bytes": 1000})).await;
    w.send(json!({"type": "served", "bytes": 234})).await;
    // The seeder's own bytes: one range of 1000 bytes.
    w.send(
        json!({"type": "download_range", "transfer_id": 1, "file_id": f["id"],
                  "offset": 0, "length": 1000}),
    )
    .await;
    let (got, _) = range_bytes(&mut w, 1, 0).await;
    assert!(got == data[..1000]);
    let mut last = String::new();
    for _ in 0..100 {
        last = get(srv.addr, "/metrics", &[]).await.text();
        if metric(&last, "peerbox_swarm_peer_bytes_total ") == 1234 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&last, "peerbox_swarm_peer_bytes_total "), 1234);
    assert!(metric(&last, "peerbox_swarm_seeder_bytes_total ") >= 1000);
    w.c.close().await;
    srv.stop().await;
}
