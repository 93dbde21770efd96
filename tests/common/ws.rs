//! A real peerbox server on 127.0.0.1:0 and real WebSocket clients against it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peerbox::app::App;
use peerbox::signal::SignalConfig;
use peerbox::Config;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Server {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    _state: Option<tempfile::TempDir>,
}

pub async fn start(signal: SignalConfig) -> Server {
    let state = tempfile::tempdir().unwrap();
    let mut server = start_in(signal, state.path()).await;
    server._state = Some(state);
    server
}

/// A server keeping its state (the resume-token key) in `state_dir`, to test restarts.
pub async fn start_in(signal: SignalConfig, state_dir: &std::path::Path) -> Server {
    let mut config = Config {
        signal,
        ..Default::default()
    };
    config.storage.state_dir = state_dir.to_owned();
    config.server.shutdown_grace_secs = 5;
    // Signaling tests count every connection; the daemon's own seeder stays out of them.
    config.seeder.enabled = false;
    config.turn.enabled = false;
    start_config(config).await
}

/// A server with exactly `config`.
pub async fn start_config(config: Config) -> Server {
    config.validate().expect("test config is valid");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App::new(config, addr);
    let (tx, rx) = oneshot::channel();
    let handle = tokio::spawn(peerbox::server::serve(
        listener,
        app.clone(),
        async {
            let _ = rx.await;
        },
        Default::default(),
    ));
    Server {
        addr,
        app,
        stop: Some(tx),
        handle,
        _state: None,
    }
}

impl Server {
    pub fn url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }

    /// Connects with optional extra headers; returns the socket and its `welcome`.
    pub async fn try_connect(
        &self,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Result<(Ws, Value), tokio_tungstenite::tungstenite::Error> {
        let mut req = self.url(query).into_client_request().unwrap();
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes()).unwrap();
            req.headers_mut()
                .insert(name, HeaderValue::from_str(v).unwrap());
        }
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
        let welcome = recv(&mut ws).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        Ok((ws, welcome))
    }

    pub async fn connect(&self) -> (Ws, Value) {
        self.try_connect("", &[]).await.expect("connect")
    }

    /// The HTTP status of a refused upgrade.
    pub async fn refused_status(&self, query: &str, headers: &[(&str, &str)]) -> u16 {
        match self.try_connect(query, headers).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("upgrade was accepted"),
        }
    }

    pub async fn metrics(&self) -> String {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        let req = format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    pub async fn metric(&self, name: &str) -> u64 {
        metric(&self.metrics().await, name)
    }

    /// Waits (bounded) until a gauge reaches `want`; these settle asynchronously.
    pub async fn wait_metric(&self, name: &str, want: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let v = self.metric(name).await;
            if v == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} stayed at {v}, want {want}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.handle.await.unwrap().unwrap();
    }
}

pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// The next JSON message (control frames skipped).
pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for a message")
            .expect("stream ended")
            .expect("websocket error");
        match m {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

/// Skips messages until one of `ty` arrives.
pub async fn recv_type(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let v = recv(ws).await;
        if v["type"] == ty {
            return v;
        }
    }
}

/// Reads until the server closes; returns the close code it sent (None: no close frame).
pub async fn closed_with(ws: &mut Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("not closed in time")
        {
            Some(Ok(Message::Close(c))) => return c.map(|c| u16::from(c.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

pub async fn join(ws: &mut Ws, room: &str) -> Value {
    send(ws, serde_json::json!({"type": "join", "room": room})).await;
    recv_type(ws, "peers").await
}

pub fn names(peers: &Value) -> Vec<String> {
    peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}
