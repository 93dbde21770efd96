//! The seeder's signaling client: the same `/ws` protocol browsers speak, over loopback, with
//! the in-process seeder token so the server lists it as kind `seeder` under its chosen name.
//! Reconnects with backoff; rosters are tracked so the seeder learns when a browser is gone.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_util::sync::CancellationToken;

use crate::signal::protocol::{ClientMsg, Kind, ServerMsg, Signal};

/// What the seeder learns from signaling.
#[derive(Debug)]
pub enum SignalEvent {
    /// Connected and joined every configured room.
    Joined {
        name: String,
    },
    Signal {
        from: String,
        signal: Signal,
    },
    /// A browser is no longer in any room shared with the seeder.
    Gone {
        name: String,
    },
    Disconnected,
}

pub struct Client {
    pub url: String,
    pub token: String,
    /// The rooms to be in; a SIGHUP reload can change them while connected.
    pub rooms: tokio::sync::watch::Receiver<Vec<String>>,
}

impl Client {
    /// Runs until `shutdown`; `out` carries signals to send (`to`, payload).
    pub async fn run(
        mut self,
        events: mpsc::UnboundedSender<SignalEvent>,
        mut out: mpsc::UnboundedReceiver<(String, Signal)>,
        shutdown: CancellationToken,
    ) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let result = tokio::select! {
                () = shutdown.cancelled() => return,
                r = self.session(&events, &mut out, &shutdown) => r,
            };
            let _ = events.send(SignalEvent::Disconnected);
            if shutdown.is_cancelled() {
                return;
            }
            match result {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(e) => tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64,
                    "seeder lost signaling; reconnecting"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn session(
        &mut self,
        events: &mpsc::UnboundedSender<SignalEvent>,
        out: &mut mpsc::UnboundedReceiver<(String, Signal)>,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let mut req = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        let auth =
            HeaderValue::from_str(&format!("Bearer {}", self.token)).map_err(|e| e.to_string())?;
        req.headers_mut().insert("authorization", auth);
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .map_err(|e| e.to_string())?;
        let (mut tx, mut rx) = ws.split();
        // room -> browsers in it; a browser gone from every room is gone for the seeder.
        let mut rosters: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut me = String::new();
        let mut joined: BTreeSet<String> = BTreeSet::new();
        let send = |m: &ClientMsg| WsMessage::text(serde_json::to_string(m).unwrap_or_default());
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    let _ = tx.close().await;
                    return Ok(());
                }
                Ok(()) = self.rooms.changed(), if !me.is_empty() => {
                    let want: BTreeSet<String> = self.rooms.borrow_and_update().iter().cloned().collect();
                    for room in want.difference(&joined) {
                        tx.send(send(&ClientMsg::Join { room: room.clone() })).await.map_err(|e| e.to_string())?;
                    }
                    for room in joined.difference(&want) {
                        tx.send(send(&ClientMsg::Leave { room: room.clone() })).await.map_err(|e| e.to_string())?;
                        rosters.remove(room);
                    }
                    tracing::info!(rooms = ?want, "seeder rooms changed");
                    joined = want;
                }
                Some((to, signal)) = out.recv() => {
                    tx.send(send(&ClientMsg::Signal { to, signal })).await.map_err(|e| e.to_string())?;
                }
                msg = rx.next() => {
                    let text = match msg {
                        Some(Ok(WsMessage::Text(t))) => t,
                        Some(Ok(WsMessage::Close(f))) => return Err(format!("closed by server: {f:?}")),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => return Err(e.to_string()),
                        None => return Err("connection ended".into()),
                    };
                    let Ok(msg) = serde_json::from_str::<ServerMsg>(&text) else {
                        tracing::debug!(%text, "unexpected signaling message");
                        continue;
                    };
                    match msg {
                        ServerMsg::Welcome { name, .. } => {
                            me = name;
                            joined = self.rooms.borrow_and_update().iter().cloned().collect();
                            for room in &joined {
                                tx.send(send(&ClientMsg::Join { room: room.clone() }))
                                    .await
                                    .map_err(|e| e.to_string())?;
                            }
                        }
                        ServerMsg::Peers { room, peers } => {
                            let first = !rosters.contains_key(&room);
                            let now: BTreeSet<String> = peers
                                .into_iter()
                                .filter(|p| p.kind == Kind::Browser && p.name != me)
                                .map(|p| p.name)
                                .collect();
                            let before = everyone(&rosters);
                            rosters.insert(room, now);
                            for name in before.difference(&everyone(&rosters)) {
                                let _ = events.send(SignalEvent::Gone { name: name.clone() });
                            }
                            if first && rosters.len() == joined.len() {
                                let _ = events.send(SignalEvent::Joined { name: me.clone() });
                            }
                        }
                        ServerMsg::Signal { from, signal } => {
                            let _ = events.send(SignalEvent::Signal { from, signal });
                        }
                        ServerMsg::Error { code, message, .. } => {
                            tracing::warn!(?code, %message, "signaling refused a seeder message");
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Every browser in any of the seeder's rooms.
fn everyone(rosters: &HashMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    rosters.values().flatten().cloned().collect()
}
