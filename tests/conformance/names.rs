//! "Saving uploads (seeder)": names, folders and Unicode normalization, over the DataChannel.
//! (The same rules over tus: tests/http_uploads.rs.)

use serde_json::{json, Value};

use super::wire::{b3, frame, listing, server, Got, Wire};

/// Uploads `data` as `name` in `folder`; returns the final reply (`done`, `refuse`, `error`).
async fn upload(w: &mut Wire, id: u32, name: &str, folder: Option<&str>, data: &[u8]) -> Value {
    let mut offer = json!({"type": "offer", "transfer_id": id, "name": name, "size": data.len(), "hash": b3(data)});
    if let Some(f) = folder {
        offer["folder"] = json!(f);
    }
    w.send(offer).await;
    let v = w.text().await;
    if v["type"] != "accept" {
        return v;
    }
    w.send_frame(frame(0x01, id, 0, data)).await;
    w.send(json!({"type": "end", "transfer_id": id, "size": data.len(), "hash": b3(data)}))
        .await;
    loop {
        let v = w.text().await;
        if v["type"] != "progress" {
            return v;
        }
    }
}

/// "`name` is one file-name component: an empty name, or one containing `/`, is refused with
/// `refuse bad_name` ("a file name may not contain `/`; use the folder field"); `./x` is saved
/// as `x`." and "Folders: `./sub` and `sub/` are cleaned to `sub`; `.`, `sub/./in` and `a//b`
/// are refused with `bad_name`."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_and_folders_refused_and_cleaned() {
    let srv = server().await;
    let incoming = srv.dirs.path().join("incoming");
    let (mut w, _) = Wire::hello(&srv, 2).await;
    let data = b"hello".to_vec();
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    for name in ["", "a/b"] {
        let v = upload(&mut w, next(), name, None, &data).await;
        assert_eq!(
            (&v["type"], &v["code"]),
            (&json!("refuse"), &json!("bad_name")),
            "{name:?}: {v}"
        );
    }
    let v = upload(&mut w, next(), "a/b", None, &data).await;
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("use the folder field"),
        "{v}"
    );
    for folder in [".", "sub/./in", "a//b", ""] {
        let v = upload(&mut w, next(), "x.txt", Some(folder), &data).await;
        assert_eq!(v["code"], "bad_name", "folder {folder:?}: {v}");
    }
    let v = upload(&mut w, next(), "./x.txt", None, &data).await;
    assert_eq!(v["name"], "x.txt", "{v}");
    let v = upload(&mut w, next(), "y.txt", Some("./sub"), &data).await;
    assert_eq!(v["name"], "sub/y.txt", "{v}");
    let v = upload(&mut w, next(), "z.txt", Some("sub/"), &data).await;
    assert_eq!(v["name"], "sub/z.txt", "{v}");
    assert_eq!(listing(&incoming), vec!["sub", "x.txt"]);
    assert_eq!(listing(&incoming.join("sub")), vec!["y.txt", "z.txt"]);
    w.c.close().await;
    srv.stop().await;
}

/// "Names and folders are normalized to NFC on arrival, and two names that differ only in
/// normalization are one name: the second upload of `café.txt`, composed or decomposed, is
/// saved as `café (1).txt`, never as a visually identical twin."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_normalization_in_either_order() {
    let composed = "caf\u{e9}.txt";
    let decomposed = "cafe\u{301}.txt";
    let srv = server().await;
    let incoming = srv.dirs.path().join("incoming");
    let (mut w, _) = Wire::hello(&srv, 2).await;
    for (i, (first, second)) in [(composed, decomposed), (decomposed, composed)]
        .into_iter()
        .enumerate()
    {
        let folder = format!("r{i}/re\u{301}sume\u{301}");
        let a = upload(&mut w, 10 * i as u32 + 1, first, Some(&folder), b"one").await;
        let b = upload(&mut w, 10 * i as u32 + 2, second, Some(&folder), b"two").await;
        assert_eq!(
            a["name"],
            format!("r{i}/r\u{e9}sum\u{e9}/caf\u{e9}.txt"),
            "{a}"
        );
        assert_eq!(
            b["name"],
            format!("r{i}/r\u{e9}sum\u{e9}/caf\u{e9} (1).txt"),
            "{b}"
        );
        let dir = incoming.join(format!("r{i}"));
        assert_eq!(listing(&dir), vec!["r\u{e9}sum\u{e9}"]);
        assert_eq!(
            listing(&dir.join("r\u{e9}sum\u{e9}")),
            vec!["caf\u{e9} (1).txt", "caf\u{e9}.txt"]
        );
    }
    // A decomposed name already on disk (copied in by hand) is the same name too.
    std::fs::write(incoming.join("nai\u{308}ve.txt"), b"old").unwrap();
    let v = upload(&mut w, 30, "na\u{ef}ve.txt", None, b"new").await;
    assert_eq!(v["name"], "na\u{ef}ve (1).txt", "{v}");
    w.c.close().await;
    srv.stop().await;
}

/// "The shared folder is offered as it is on disk: a catalog `path` is the file's name byte for
/// byte, not normalized (`id` is derived from those bytes); a file copied in with a decomposed
/// name (`cafe` + U+0301) is offered and downloaded under exactly that name."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decomposed_name_in_the_share_is_offered_as_it_is_on_disk() {
    let decomposed = "cafe\u{301}.txt";
    let srv = server().await;
    let data = b"from a Mac".to_vec();
    std::fs::write(srv.dirs.path().join("share").join(decomposed), &data).unwrap();
    let (mut w, _) = Wire::hello(&srv, 2).await;
    let f = w.file(decomposed).await;
    assert_eq!(f["path"], decomposed, "not normalized: {f}");
    assert_eq!(
        f["id"],
        b3(decomposed.as_bytes())[..32],
        "the id is BLAKE3 over the path's bytes on disk"
    );
    w.send(json!({"type": "download", "transfer_id": 3, "file_id": f["id"], "offset": 0}))
        .await;
    let mut got = Vec::new();
    let end = loop {
        match w.next().await {
            Got::Frame(fr) => got.extend_from_slice(&fr[13..]),
            Got::Text(v) if v["type"].as_str().is_some_and(|t| t.starts_with("catalog")) => {}
            Got::Text(v) => break v,
        }
    };
    assert_eq!(end["type"], "end", "{end}");
    assert_eq!(got, data);
    w.c.close().await;
    srv.stop().await;
}
