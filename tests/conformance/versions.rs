//! "Versions" and "Control messages" of the transfer protocol.

use serde_json::json;

use super::wire::{server, Got, Wire};

/// "The seeder sends nothing until the peer's `hello`; it answers with `hello` carrying the
/// agreed version, then the catalog (in that version's form)." and "A session speaks the lower
/// of the two: a version-2 page and a version-1 peer speak version 1."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_first_then_the_catalog_in_the_agreed_form() {
    let srv = server().await;
    for (mine, agreed, catalog) in [
        (1, 1, "catalog"),
        (2, 2, "catalog_part"),
        (3, 3, "catalog_part"),
        (9, 3, "catalog_part"),
    ] {
        let (mut w, h) = Wire::hello(&srv, mine).await;
        assert_eq!(h["type"], "hello");
        assert_eq!(h["version"], agreed, "peer said {mine}");
        match w.next().await {
            Got::Text(v) => assert_eq!(v["type"], catalog, "{v}"),
            Got::Frame(_) => panic!("a frame before the catalog"),
        }
        w.c.close().await;
    }
    srv.stop().await;
}

/// "anything else before the peer's `hello` gets `error protocol_violation`" and "`version` 0,
/// or anything that is not a whole number (`"2"`, `1.5`, `-1`, `null`), gets `error
/// unsupported_version`".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_hello_and_unsupported_versions() {
    let srv = server().await;
    let mut w = Wire::open(&srv).await;
    w.send(json!({"type": "download", "transfer_id": 1, "file_id": "x", "offset": 0}))
        .await;
    let v = w.text().await;
    assert_eq!(
        (&v["type"], &v["code"]),
        (&json!("error"), &json!("protocol_violation"))
    );
    for bad in ["0", "\"2\"", "1.5", "-1", "null"] {
        w.send_text(&format!(r#"{{"type":"hello","version":{bad}}}"#))
            .await;
        let v = w.text().await;
        assert_eq!(v["code"], "unsupported_version", "version {bad}: {v}");
        assert!(v.get("transfer_id").is_none());
    }
    w.c.close().await;
    srv.stop().await;
}

/// "a repeated `hello` changes nothing": it gets no reply and the session keeps its version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_hello_gets_no_reply() {
    let srv = server().await;
    let (mut w, h) = Wire::hello(&srv, 1).await;
    assert_eq!(h["version"], 1);
    w.send(json!({"type": "hello", "version": 2})).await;
    w.nothing_before_probe(7).await;
    w.c.close().await;
    srv.stop().await;
}
