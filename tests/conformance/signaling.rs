//! "Signaling protocol": `bye` tied to one connection attempt.

use std::time::Duration;

use serde_json::json;

use super::wire::{server, Wire};

/// "`ufrag` is the `a=ice-ufrag` of the offer that began the connection attempt the `bye`
/// ends; a receiver whose current attempt began with another offer ignores it (a late `bye`
/// for an earlier attempt). A `bye` without `ufrag` ends whatever connection there is."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_bye_for_an_earlier_attempt_is_ignored() {
    let srv = server().await;
    let (mut w, _) = Wire::hello(&srv, 2).await;
    let current = w.c.ufrag().to_owned();
    assert!(!current.is_empty());
    w.c.send_signal(
        json!({"kind": "bye", "reason": "old attempt", "ufrag": format!("{current}x")}),
    )
    .unwrap();
    // Still connected: the seeder answers on the same channel after the bye was handled.
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.nothing_before_probe(1).await;
    // A bye for this attempt ends it: the seeder closes the channel.
    w.c.send_signal(json!({"kind": "bye", "reason": "this attempt", "ufrag": current}))
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if w.c.next_raw().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(
        end.is_ok(),
        "the seeder closed the connection of this attempt"
    );
    srv.stop().await;
}
