//! A Rust client of the transfer protocol (`docs/protocol.md`), on the seeder's own WebRTC
//! stack ([`crate::seeder::peer`]) in the browser's role: signaling over `/ws`, an offer to the
//! daemon's seeding peer, one DataChannel `peerbox`, `hello`, the catalog, downloads and
//! uploads with resume and BLAKE3 checks; and, like a re-seeding page (version 3), `have` and
//! answering the browsers that connect to it for ranges (`serve`: the swarm suite's lying peer).
//!
//! ```no_run
//! # async fn f() -> Result<(), peerbox::client::ClientError> {
//! use peerbox::client::{Client, Options};
//! let mut c = Client::connect("http://192.168.1.20:8080/?room=home", Options::default()).await?;
//! let file = c.wait_for("holiday/beach.jpg", std::time::Duration::from_secs(10)).await?;
//! c.download(&file, std::path::Path::new("beach.jpg"), |done, total| eprint!("\r{done}/{total}")).await?;
//! c.close().await;
//! # Ok(()) }
//! ```
//!
//! The tests, the benchmarks and the soak run use it, so what they measure is this one path.

mod catalog;
mod raw;
mod serve;
mod signaling;
mod transfer;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::seeder::frame;
use crate::seeder::peer::{ChannelId, PeerError, PeerEvent, Peers, WebrtcConfig};
use crate::seeder::protocol::{FileInfo, Message, PROTOCOL_VERSION};
use crate::signal::protocol::sdp_ufrag;
pub use catalog::CatalogView;
pub use serve::RangeReply;
use signaling::Signaling;
pub use transfer::{part_path, Downloaded, Uploaded};

/// The DataChannel label the seeder serves (see `docs/protocol.md`).
pub const CHANNEL_LABEL: &str = "peerbox";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad daemon URL `{0}`: expected [http://]host:port[/?room=NAME]")]
    Url(String),
    #[error("signaling: {0}")]
    Signaling(String),
    #[error("no seeding peer in room `{0}`")]
    NoSeeder(String),
    #[error("WebRTC: {0}")]
    Peer(#[from] PeerError),
    #[error("the connection closed: {0}")]
    Closed(String),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("the seeder refused: {0}")]
    Refused(String),
    #[error("transfer: {0}")]
    Transfer(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct Options {
    /// Room to join when the URL names none.
    pub room: String,
    /// A resume token from an earlier connection ([`Client::resume_token`]): the same name.
    pub resume: Option<String>,
    /// Local addresses for WebRTC; empty: loopback for a daemon on loopback, else every
    /// non-loopback interface address.
    pub bind: Vec<IpAddr>,
    /// The `agent` sent in `hello`.
    pub agent: String,
    /// The protocol version sent in `hello` (the highest this client speaks; tests set 1 to
    /// be an older peer).
    pub version: u32,
    /// How long each step of connecting, and each wait for the seeder, may take.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            room: "home".into(),
            resume: None,
            bind: Vec::new(),
            agent: format!("peerbox-client/{}", env!("CARGO_PKG_VERSION")),
            version: PROTOCOL_VERSION,
            timeout: Duration::from_secs(30),
        }
    }
}

/// What the seeder sent: a chunk frame (raw) or a control message (catalogs are kept, not
/// returned).
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Frame(Vec<u8>),
    Control(Message),
}

/// One connection to a daemon's seeding peer.
pub struct Client {
    /// Kept open while connected: leaving the room would make the seeder drop the connection.
    signaling: Signaling,
    /// The `a=ice-ufrag` of the offer this connection began with (see `bye`).
    ufrag: String,
    peers: Peers,
    events: mpsc::UnboundedReceiver<PeerEvent>,
    channel: ChannelId,
    /// Largest message the connection carries.
    max_message: usize,
    seeder: String,
    name: String,
    resume_token: String,
    catalog: CatalogView,
    /// The version both sides speak (the lower of the two hellos).
    version: u32,
    /// Events that arrived while waiting for buffered-amount-low, kept for [`Client::next`].
    held: VecDeque<PeerEvent>,
    /// Why the connection ended, once it did.
    closed: Option<String>,
    stop: CancellationToken,
    next_id: u32,
    timeout: Duration,
}

/// `host:port` and the room of a daemon URL (`http://h:p/?room=x`, `ws://h:p/ws`, `h:p`).
fn parse_url(url: &str) -> Result<(String, Option<String>), ClientError> {
    let bad = || ClientError::Url(url.to_owned());
    let rest = ["http://", "ws://"]
        .iter()
        .find_map(|s| url.strip_prefix(s))
        .unwrap_or(url);
    if rest.contains("://") {
        return Err(bad());
    }
    let (host_port, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if host_port.is_empty() || !host_port.contains(':') {
        return Err(bad());
    }
    let room = tail.split_once('?').and_then(|(_, q)| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "room")
            .map(|(_, v)| v.into_owned())
    });
    Ok((host_port.to_owned(), room))
}

impl Client {
    /// Connects to the daemon at `url`, joins the room, opens the DataChannel to the seeding
    /// peer and exchanges `hello`.
    pub async fn connect(url: &str, opts: Options) -> Result<Client, ClientError> {
        let agent = opts.agent.clone();
        let mut c = Client::open(url, opts).await?;
        c.send(Message::Hello {
            version: c.version,
            agent: Some(agent),
        })
        .await?;
        match c.next().await? {
            Incoming::Control(Message::Hello { version, .. }) => {
                c.version = c.version.min(version);
                Ok(c)
            }
            other => Err(ClientError::Transfer(format!(
                "expected hello, got {other:?}"
            ))),
        }
    }

    /// Like [`Client::connect`] but stops once the DataChannel is open, before `hello`: the
    /// caller speaks the protocol itself with [`Client::send_raw`] and [`Client::next_raw`]
    /// (the conformance suite does, to show the bytes on the wire).
    pub async fn open(url: &str, opts: Options) -> Result<Client, ClientError> {
        let (host_port, room) = parse_url(url)?;
        let room = room.unwrap_or(opts.room.clone());
        let step = |what| move |_| ClientError::Timeout(what);
        let (mut signaling, welcome) = tokio::time::timeout(
            opts.timeout,
            Signaling::open(&host_port, opts.resume.as_deref()),
        )
        .await
        .map_err(step("the signaling server"))??;
        tracing::debug!("client: signaling open");
        signaling.send(json!({"type": "join", "room": room}))?;
        let seeder = tokio::time::timeout(opts.timeout, async {
            loop {
                let m = signaling.recv().await?;
                if m["type"] == "peers" {
                    let seeders = m["peers"].as_array().into_iter().flatten();
                    let mut seeders = seeders.filter(|p| p["kind"] == "seeder");
                    if let Some(name) = seeders.next().and_then(|p| p["name"].as_str()) {
                        return Ok::<_, ClientError>(name.to_owned());
                    }
                }
                if m["type"] == "error" {
                    return Err(ClientError::Signaling(m["message"].to_string()));
                }
            }
        })
        .await
        .map_err(|_| ClientError::NoSeeder(room.clone()))??;

        tracing::debug!(%seeder, "client: seeder found");
        let stop = CancellationToken::new();
        let bind = if opts.bind.is_empty() {
            bind_for(&host_port)
        } else {
            opts.bind.clone()
        };
        let cfg = WebrtcConfig {
            udp_bind: bind,
            ..WebrtcConfig::default()
        };
        let (peers, mut events) = Peers::start(cfg, stop.clone()).await?;
        let offer = peers.create_offer(&seeder, &[CHANNEL_LABEL]).await?;
        let ufrag = sdp_ufrag(&offer).unwrap_or_default().to_owned();
        signaling.signal(&seeder, json!({"kind": "offer", "sdp": offer}))?;
        tracing::debug!("client: offer sent");
        let (channel, max_message) = tokio::time::timeout(
            opts.timeout,
            negotiate(&mut signaling, &peers, &mut events, &seeder, &ufrag),
        )
        .await
        .map_err(step("the DataChannel to the seeder"))??;
        tracing::debug!("client: DataChannel open");
        Ok(Client {
            signaling,
            ufrag,
            peers,
            events,
            channel,
            max_message,
            seeder,
            name: welcome.name,
            resume_token: welcome.resume_token,
            catalog: CatalogView::default(),
            version: opts.version,
            held: VecDeque::new(),
            closed: None,
            stop,
            next_id: 1,
            timeout: opts.timeout,
        })
    }

    /// The name the signaling server gave this client.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Gives the same name back on a later [`Options::resume`].
    pub fn resume_token(&self) -> &str {
        &self.resume_token
    }

    /// The seeder's files as last announced.
    pub fn catalog(&self) -> &CatalogView {
        &self.catalog
    }

    /// The protocol version this connection speaks.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The largest chunk payload this connection carries (its message size minus the frame
    /// header): upload frames are this big.
    pub fn max_payload(&self) -> usize {
        self.max_message - frame::HEADER_BYTES
    }

    /// A transfer id not used before on this connection.
    pub fn new_transfer_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// Sends a control message.
    pub async fn send(&mut self, m: Message) -> Result<(), ClientError> {
        self.send_raw(false, m.to_text().into_bytes()).await
    }

    /// Sends one chunk frame of transfer `id` at `offset`.
    pub async fn send_chunk(
        &mut self,
        id: u32,
        offset: u64,
        data: &[u8],
    ) -> Result<(), ClientError> {
        self.send_raw(true, frame::encode(id, offset, data)).await
    }

    /// Sends any message as it is (tests use it for hostile input), waiting for room first.
    pub async fn send_raw(&mut self, binary: bool, data: Vec<u8>) -> Result<(), ClientError> {
        let crate::seeder::peer::Sent::Queued { buffered } = self
            .peers
            .send(&self.seeder, self.channel, binary, data)
            .await?;
        if self.peers.should_wait(buffered) {
            self.wait_low().await?;
        }
        Ok(())
    }

    /// Waits for buffered-amount-low, keeping other events for [`Client::next`].
    async fn wait_low(&mut self) -> Result<(), ClientError> {
        let (held, events) = (&mut self.held, &mut self.events);
        tokio::time::timeout(self.timeout, async {
            while let Some(ev) = events.recv().await {
                if matches!(ev, PeerEvent::BufferedLow { .. }) {
                    return Ok(());
                }
                held.push_back(ev);
            }
            Err(ClientError::Closed("the transport stopped".into()))
        })
        .await
        .map_err(|_| ClientError::Timeout("room to send (buffered-amount-low)"))?
    }

    /// The next frame or control message from the seeder; catalog messages are folded into
    /// [`Client::catalog`]. When the connection ends, what the seeder sent before is still
    /// returned first.
    pub async fn next(&mut self) -> Result<Incoming, ClientError> {
        loop {
            if let Some(incoming) = self.step().await? {
                return Ok(incoming);
            }
        }
    }

    /// Waits until a whole list of the seeder's files has arrived (it follows `hello`);
    /// control messages that come meanwhile are dropped.
    pub async fn wait_catalog(&mut self) -> Result<&CatalogView, ClientError> {
        while !self.catalog.whole {
            self.step().await?;
        }
        Ok(&self.catalog)
    }

    /// One event, read through [`Client::next_raw`]: `None` when it was a catalog message,
    /// folded into [`Client::catalog`].
    async fn step(&mut self) -> Result<Option<Incoming>, ClientError> {
        let (binary, data) = self.next_raw().await?;
        if binary {
            return Ok(Some(Incoming::Frame(data)));
        }
        let text = String::from_utf8_lossy(&data);
        let m = Message::parse(&text)
            .map_err(|e| ClientError::Transfer(format!("bad message: {e}")))?;
        match self.catalog.apply(m) {
            Ok(None) => Ok(None),
            Ok(Some(back)) => {
                self.send(back).await?;
                Ok(None)
            }
            Err(m) => Ok(Some(Incoming::Control(m))),
        }
    }

    /// Waits until the catalog lists `path` (hashed and offered).
    pub async fn wait_for(&mut self, path: &str, limit: Duration) -> Result<FileInfo, ClientError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(f) = self.catalog.by_path(path) {
                return Ok(f.clone());
            }
            let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) else {
                return Err(ClientError::Timeout("the file in the catalog"));
            };
            match tokio::time::timeout(left, self.step()).await {
                Err(_) | Ok(Ok(None)) => {}
                Ok(Ok(Some(other))) => {
                    return Err(ClientError::Transfer(format!("unexpected {other:?}")));
                }
                Ok(Err(ClientError::Timeout(_))) => {}
                Ok(Err(e)) => return Err(e),
            }
        }
    }

    /// Closes the connection and leaves signaling.
    pub async fn close(self) {
        let _ = self.peers.close(&self.seeder).await;
        self.stop.cancel();
        // Dropping the last sender ends the signaling task, which closes the socket.
        drop(self.signaling);
    }
}

/// Loopback for a daemon on loopback (its seeder then offers loopback candidates), else every
/// interface address.
fn bind_for(host_port: &str) -> Vec<IpAddr> {
    let loopback = host_port
        .to_socket_addrs()
        .map(|mut a| a.any(|a| a.ip().is_loopback()))
        .unwrap_or(false);
    if loopback {
        vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
    } else {
        Vec::new()
    }
}

/// Exchanges answer and candidates with the seeder until the DataChannel is open.
async fn negotiate(
    signaling: &mut Signaling,
    peers: &Peers,
    events: &mut mpsc::UnboundedReceiver<PeerEvent>,
    seeder: &str,
    ufrag: &str,
) -> Result<(ChannelId, usize), ClientError> {
    loop {
        tokio::select! {
            m = signaling.recv() => {
                let m: Value = m?;
                if m["type"] != "signal" || m["from"] != seeder {
                    continue;
                }
                let s = &m["signal"];
                match s["kind"].as_str() {
                    Some("answer") => {
                        peers.accept_answer(seeder, s["sdp"].as_str().unwrap_or_default()).await?;
                        tracing::debug!("client: answer applied");
                    }
                    Some("candidate") => {
                        peers.add_candidate(seeder, s["candidate"].as_str().unwrap_or_default()).await?;
                    }
                    // A bye for another attempt (its offer's ufrag) is late: ignored.
                    Some("bye") if s["ufrag"].as_str().is_some_and(|u| u != ufrag) => {}
                    Some("bye") => return Err(ClientError::Closed(s["reason"].to_string())),
                    _ => {}
                }
            }
            ev = events.recv() => match ev {
                Some(PeerEvent::Candidate { candidate: Some(c), .. }) => {
                    signaling.signal(seeder, json!({"kind": "candidate", "candidate": c.candidate,
                        "sdpMid": c.sdp_mid, "sdpMLineIndex": c.sdp_m_line_index}))?;
                }
                Some(PeerEvent::Candidate { candidate: None, .. }) => {
                    signaling.signal(seeder, json!({"kind": "end-of-candidates"}))?;
                }
                Some(PeerEvent::ChannelOpen { channel, label, max_message, .. })
                    if label == CHANNEL_LABEL =>
                {
                    return Ok((channel, max_message));
                }
                Some(PeerEvent::Closed { reason, .. }) => return Err(ClientError::Closed(reason)),
                Some(PeerEvent::Connected { .. }) => tracing::debug!("client: ICE and DTLS up"),
                Some(_) => {}
                None => return Err(ClientError::Closed("the transport stopped".into())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls() {
        let p = |u| parse_url(u).map_err(|e| e.to_string());
        assert_eq!(
            p("http://10.0.0.2:8080/?room=lab"),
            Ok(("10.0.0.2:8080".into(), Some("lab".into())))
        );
        assert_eq!(p("127.0.0.1:9000"), Ok(("127.0.0.1:9000".into(), None)));
        assert_eq!(p("ws://h:1/ws"), Ok(("h:1".into(), None)));
        assert!(p("https://h:1/").is_err());
        assert!(p("http:///").is_err());
    }
}
