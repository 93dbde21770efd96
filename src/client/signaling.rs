//! The client's signaling connection: `/ws` as a browser speaks it, owned by one task that
//! reads (answering the server's pings, so a long transfer does not idle the socket out) and
//! writes; the client talks to it through two channels.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;

use super::ClientError;

/// What `welcome` told us.
pub(super) struct Welcome {
    pub name: String,
    pub resume_token: String,
}

pub(super) struct Signaling {
    out: mpsc::UnboundedSender<String>,
    inbound: mpsc::UnboundedReceiver<Value>,
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn read(ws: &mut WsStream) -> Result<Value, ClientError> {
    loop {
        let msg = ws
            .next()
            .await
            .ok_or_else(|| ClientError::Signaling("the server closed the connection".into()))?
            .map_err(|e| ClientError::Signaling(e.to_string()))?;
        if let Ws::Text(t) = msg {
            return serde_json::from_str(&t).map_err(|e| ClientError::Signaling(e.to_string()));
        }
    }
}

impl Signaling {
    /// Opens `ws://{host_port}/ws`, reads `welcome` and hands the socket to its task.
    pub(super) async fn open(
        host_port: &str,
        resume: Option<&str>,
    ) -> Result<(Signaling, Welcome), ClientError> {
        let query = resume.map(|t| format!("?resume={t}")).unwrap_or_default();
        let url = format!("ws://{host_port}/ws{query}");
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| ClientError::Signaling(e.to_string()))?;
        let welcome = read(&mut ws).await?;
        if welcome["type"] != "welcome" {
            return Err(ClientError::Signaling(format!(
                "expected welcome, got {welcome}"
            )));
        }
        let text = |k: &str| welcome[k].as_str().unwrap_or_default().to_owned();
        let welcome = Welcome {
            name: text("name"),
            resume_token: text("resume_token"),
        };
        let (out, out_rx) = mpsc::unbounded_channel();
        let (in_tx, inbound) = mpsc::unbounded_channel();
        tokio::spawn(run(ws, out_rx, in_tx));
        Ok((Signaling { out, inbound }, welcome))
    }

    pub(super) fn send(&self, msg: Value) -> Result<(), ClientError> {
        self.out
            .send(msg.to_string())
            .map_err(|_| ClientError::Signaling("the connection is closed".into()))
    }

    /// A `signal` to `to`.
    pub(super) fn signal(&self, to: &str, signal: Value) -> Result<(), ClientError> {
        self.send(json!({"type": "signal", "to": to, "signal": signal}))
    }

    /// The next message from the server.
    pub(super) async fn recv(&mut self) -> Result<Value, ClientError> {
        self.inbound
            .recv()
            .await
            .ok_or_else(|| ClientError::Signaling("the server closed the connection".into()))
    }
}

/// Owns the socket: forwards what arrives, writes what is queued, ends when either side does.
async fn run(
    mut ws: WsStream,
    mut out: mpsc::UnboundedReceiver<String>,
    inbound: mpsc::UnboundedSender<Value>,
) {
    loop {
        tokio::select! {
            got = read(&mut ws) => match got {
                Ok(v) => {
                    let _ = inbound.send(v);
                }
                Err(_) => return,
            },
            msg = out.recv() => match msg {
                Some(text) => {
                    if ws.send(Ws::text(text)).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = ws.close(None).await;
                    return;
                }
            },
        }
    }
}
