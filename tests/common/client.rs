//! The tests' view of `peerbox::client::Client` (the one Rust client of the transfer protocol):
//! the same calls, panicking instead of returning errors, and downloads kept in memory.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use peerbox::client::{self, ClientError, Incoming, Options};
use peerbox::seeder::protocol::{FileInfo, Message};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message as Ws;

pub const WAIT: Duration = Duration::from_secs(30);
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads signaling messages until the room's roster lists the seeder. It joins its rooms only
/// once it has started, and a signal to a name not in the room goes nowhere.
pub async fn until_seeder_listed(ws: &mut WsStream) {
    loop {
        let m = ws_recv(ws).await;
        let listed = m["peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x["kind"] == "seeder"));
        if m["type"] == "peers" && listed {
            return;
        }
    }
}

pub async fn ws_recv(ws: &mut WsStream) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("signaling message")
            .unwrap()
            .unwrap();
        if let Ws::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

pub struct Client {
    pub inner: client::Client,
    pub name: String,
    pub token: String,
}

impl Client {
    /// Joins room `home` of the daemon at `addr` and opens the DataChannel to its seeder.
    pub async fn connect(addr: SocketAddr, resume: Option<&str>) -> Client {
        let opts = Options {
            resume: resume.map(str::to_owned),
            ..Options::default()
        };
        let inner = client::Client::connect(&addr.to_string(), opts)
            .await
            .expect("connect to the seeder");
        Client {
            name: inner.name().to_owned(),
            token: inner.resume_token().to_owned(),
            inner,
        }
    }

    pub async fn send(&mut self, m: Message) {
        self.inner.send(m).await.expect("send");
    }

    /// Next data from the seeder: Ok(binary chunk) or Err(control message).
    pub async fn next(&mut self) -> Result<Vec<u8>, Message> {
        match self.inner.next().await.expect("data from the seeder") {
            Incoming::Frame(f) => Ok(f),
            Incoming::Control(m) => Err(m),
        }
    }

    /// The next event, or how the connection ended.
    pub async fn try_next(&mut self) -> Result<Incoming, ClientError> {
        self.inner.next().await
    }

    /// Waits until the catalog lists `path`.
    pub async fn file(&mut self, path: &str) -> FileInfo {
        self.inner.wait_for(path, WAIT).await.expect("file offered")
    }

    /// Downloads `file` from `offset` into memory (the client checks contiguity and `end`).
    pub async fn download(&mut self, file: &FileInfo, offset: u64) -> Vec<u8> {
        let mut got = Vec::new();
        self.inner
            .stream(file, offset, |d| got.extend_from_slice(d))
            .await
            .expect("download");
        got
    }

    /// Sends `data[from..to]` of upload `id` as chunk frames.
    pub async fn chunks(&mut self, id: u32, data: &[u8], from: usize, to: usize) {
        let mut off = from;
        while off < to {
            let n = (to - off).min(self.inner.max_payload());
            self.inner
                .send_chunk(id, off as u64, &data[off..off + n])
                .await
                .expect("send a chunk");
            off += n;
        }
    }

    pub async fn close(self) {
        self.inner.close().await;
    }
}
