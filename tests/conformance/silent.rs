//! The cases "Silent cases, decided" settles (transfer protocol), each with the exact messages.

use serde_json::json;

use super::wire::{b3, frame, partials, server, Got, Wire};

/// Offers `data` as upload `id` named `name` and returns the seeder's answer.
async fn offer(w: &mut Wire, id: u32, name: &str, data: &[u8]) -> serde_json::Value {
    w.send(json!({"type": "offer", "transfer_id": id, "name": name, "size": data.len(), "hash": b3(data)}))
        .await;
    w.text().await
}

/// "A frame with an empty payload or an unknown kind byte ends the transfer its header names:
/// the receiver answers `error bad_chunk` with that `transfer_id` and the upload's partial is
/// removed."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_frame_ends_the_transfer_it_names() {
    let srv = server().await;
    let incoming = srv.dirs.path().join("incoming");
    let (mut w, _) = Wire::hello(&srv, 2).await;
    let data = b"0123456789".to_vec();
    for (id, bad) in [
        (1u32, frame(0x01, 1, 5, b"")),
        (2, frame(0x7f, 2, 5, b"xyz")),
    ] {
        let acc = offer(&mut w, id, &format!("f{id}.bin"), &data).await;
        assert_eq!(
            acc,
            json!({"type": "accept", "transfer_id": id, "offset": 0})
        );
        w.send_frame(frame(0x01, id, 0, &data[..5])).await;
        w.send_frame(bad).await;
        let v = w.text().await;
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["code"], "bad_chunk");
        assert_eq!(v["transfer_id"], id);
        // Frames of it still in flight are ignored, and its partial is gone.
        w.send_frame(frame(0x01, id, 5, &data[5..])).await;
        w.nothing_before_probe(100 + id).await;
        assert_eq!(partials(&incoming), 0, "partial of upload {id} removed");
    }
    w.c.close().await;
    srv.stop().await;
}

/// "`progress`, `done` and `cancel` for a transfer id the receiver does not know (it may have
/// just ended) are ignored: no `unknown_transfer`, no reply." and "`cancel` is never answered".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_and_cancel_get_no_reply() {
    let srv = server().await;
    let incoming = srv.dirs.path().join("incoming");
    let (mut w, _) = Wire::hello(&srv, 2).await;
    w.send(json!({"type": "progress", "transfer_id": 40, "offset": 5}))
        .await;
    w.send(json!({"type": "done", "transfer_id": 41})).await;
    w.send(json!({"type": "cancel", "transfer_id": 42, "code": "canceled"}))
        .await;
    w.nothing_before_probe(43).await;
    // A running upload canceled by its sender: no reply, and its partial goes.
    let data = b"abcdef".to_vec();
    offer(&mut w, 44, "c.bin", &data).await;
    w.send_frame(frame(0x01, 44, 0, &data[..3])).await;
    w.send(json!({"type": "cancel", "transfer_id": 44, "code": "canceled"}))
        .await;
    w.nothing_before_probe(45).await;
    assert_eq!(partials(&incoming), 0);
    w.c.close().await;
    srv.stop().await;
}

/// "Downloads: the sender streams chunk frames from `offset` and then sends `end`; the
/// downloader may answer `done` once it verified the file, and the seeder ignores a
/// downloader's `done` and `progress`."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_frames_then_end_and_done_is_not_answered() {
    let srv = server().await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(srv.dirs.path().join("share/d.bin"), &data).unwrap();
    let (mut w, _) = Wire::hello(&srv, 2).await;
    let f = w.file("d.bin").await;
    let offset = 1000u64;
    w.send(json!({"type": "download", "transfer_id": 9, "file_id": f["id"], "offset": offset}))
        .await;
    let mut got = Vec::new();
    let end = loop {
        match w.next().await {
            Got::Frame(fr) => {
                assert_eq!(fr[0], 0x01);
                assert_eq!(u32::from_be_bytes(fr[1..5].try_into().unwrap()), 9);
                let at = u64::from_be_bytes(fr[5..13].try_into().unwrap());
                assert_eq!(at, offset + got.len() as u64, "frames are contiguous");
                assert!(fr.len() <= 65536, "a frame fits the 64 KiB message size");
                got.extend_from_slice(&fr[13..]);
            }
            Got::Text(v) if v["type"].as_str().is_some_and(|t| t.starts_with("catalog")) => {}
            Got::Text(v) => break v,
        }
    };
    assert!(got == data[offset as usize..]);
    assert_eq!(
        end,
        json!({"type": "end", "transfer_id": 9, "size": data.len(), "hash": b3(&data)})
    );
    w.send(json!({"type": "progress", "transfer_id": 9, "offset": data.len()}))
        .await;
    w.send(json!({"type": "done", "transfer_id": 9})).await;
    w.nothing_before_probe(10).await;
    w.c.close().await;
    srv.stop().await;
}

/// "A message that does not parse but carries a readable `transfer_id` is answered with
/// `error bad_message` with that `transfer_id` (which ends that transfer, if it runs)".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_naming_a_transfer_is_answered_for_it() {
    let srv = server().await;
    let (mut w, _) = Wire::hello(&srv, 2).await;
    w.send_text(r#"{"type":"offer","transfer_id":5,"name":"a","size":1,"hash":"00"}"#)
        .await;
    let v = w.text().await;
    assert_eq!(
        (&v["code"], &v["transfer_id"]),
        (&json!("bad_message"), &json!(5)),
        "{v}"
    );
    w.send_text(r#"{"type":"offer","name":"a"}"#).await;
    let v = w.text().await;
    assert_eq!(v["code"], "bad_message");
    assert!(v.get("transfer_id").is_none(), "{v}");
    w.c.close().await;
    srv.stop().await;
}
