//! Relayed transport addresses: the sockets the TURN server relays through, with the per-
//! connection caps applied where the bytes pass (allocation count, bandwidth, peer networks).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use tokio::net::UdpSocket;
use turn::relay::RelayAddressGenerator;
use webrtc_util::Conn;

use super::config::TurnConfig;
use super::creds::Minter;

/// A token bucket over bytes: `rate` per second, up to one second's worth saved up.
#[derive(Debug)]
pub struct Bucket {
    tokens: f64,
    rate: f64,
    /// Most tokens saved up.
    cap: f64,
    last: Instant,
}

impl Bucket {
    /// `rate` tokens per second, at most one second's worth saved up.
    pub fn new(rate: u64, now: Instant) -> Self {
        Bucket {
            tokens: rate as f64,
            rate: rate as f64,
            cap: rate as f64,
            last: now,
        }
    }

    /// `n` per minute, one token each: a burst of up to `n`, then one every 60/`n` seconds.
    pub fn per_minute(n: u32, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(n),
            rate: f64::from(n) / 60.0,
            cap: f64::from(n),
            last: now,
        }
    }

    /// Takes `n` tokens if there are that many; a rate of 0 means no cap.
    pub fn take(&mut self, n: usize, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.cap);
        if self.tokens >= n as f64 {
            self.tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

/// What one signaling connection (one name) holds on the relay.
#[derive(Debug)]
pub struct User {
    pub allocations: usize,
    pub usernames: HashSet<String>,
    pub bucket: Bucket,
}

#[derive(Default)]
pub struct Counters {
    pub allocations_total: AtomicU64,
    pub to_peer_bytes: AtomicU64,
    pub to_client_bytes: AtomicU64,
    pub dropped_rate_bytes: AtomicU64,
    pub dropped_network_bytes: AtomicU64,
    /// Refusals by reason (see [`super::REFUSALS`]).
    pub refused: [AtomicU64; super::REFUSALS.len()],
}

impl Counters {
    pub fn refuse(&self, reason: &str) {
        if let Some(i) = super::REFUSALS.iter().position(|r| *r == reason) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// State the listeners, relays and the auth handler share.
pub struct Shared {
    pub cfg: TurnConfig,
    pub minter: Minter,
    /// Whether a signaling name belongs to a live connection.
    pub live: Box<dyn Fn(&str) -> bool + Send + Sync>,
    pub users: Mutex<HashMap<String, User>>,
    pub allocations: AtomicUsize,
    pub counters: Counters,
}

impl Shared {
    pub fn users(&self) -> std::sync::MutexGuard<'_, HashMap<String, User>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `name` may have another allocation.
    pub fn may_allocate(&self, name: &str) -> bool {
        let mine = self.users().get(name).map_or(0, |u| u.allocations);
        mine < self.cfg.max_allocations_per_connection
            && self.allocations.load(Ordering::Relaxed) < self.cfg.max_allocations
    }

    /// Runs `f` on the record of `name`, made when missing.
    pub fn with_user<T>(&self, name: &str, f: impl FnOnce(&mut User) -> T) -> T {
        let rate = self.cfg.max_bytes_per_sec_per_connection;
        let mut users = self.users();
        let user = users.entry(name.to_owned()).or_insert_with(|| User {
            allocations: 0,
            usernames: HashSet::new(),
            bucket: Bucket::new(rate, Instant::now()),
        });
        f(user)
    }

    fn take(&self, name: &str, n: usize) -> bool {
        self.with_user(name, |u| u.bucket.take(n, Instant::now()))
    }
}

/// The name whose Allocate request a listener is handling now; the TURN server asks for a
/// relay address while it handles that request, on the same task.
pub type Current = Arc<Mutex<Option<String>>>;

/// Binds relay sockets on the listener's address, within the configured port range.
pub struct Relays {
    pub ip: IpAddr,
    pub shared: Arc<Shared>,
    pub current: Current,
}

#[async_trait]
impl RelayAddressGenerator for Relays {
    fn validate(&self) -> Result<(), turn::Error> {
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        _requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        let name = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| turn::Error::Other("no authenticated allocation".into()))?;
        if use_ipv4 != self.ip.is_ipv4() {
            return Err(turn::Error::Other("address family not offered".into()));
        }
        if !self.shared.may_allocate(&name) {
            return Err(turn::Error::Other("allocation quota reached".into()));
        }
        let (min, max) = (
            self.shared.cfg.relay_port_min,
            self.shared.cfg.relay_port_max,
        );
        for _ in 0..64 {
            let port = min + (rand::random::<u32>() % (u32::from(max - min) + 1)) as u16;
            let Ok(sock) = UdpSocket::bind(SocketAddr::new(self.ip, port)).await else {
                continue;
            };
            let addr = sock
                .local_addr()
                .map_err(|e| turn::Error::Other(e.to_string()))?;
            self.shared.allocations.fetch_add(1, Ordering::Relaxed);
            self.shared
                .counters
                .allocations_total
                .fetch_add(1, Ordering::Relaxed);
            self.shared.with_user(&name, |u| u.allocations += 1);
            let conn = RelayConn {
                sock,
                name,
                shared: self.shared.clone(),
            };
            return Ok((Arc::new(conn), addr));
        }
        Err(turn::Error::Other("no free relay port".into()))
    }
}

/// One relayed transport address. Datagrams to or from peers outside the allowed networks, or
/// over the connection's bandwidth, are dropped here.
pub struct RelayConn {
    sock: UdpSocket,
    name: String,
    shared: Arc<Shared>,
}

impl Drop for RelayConn {
    fn drop(&mut self) {
        self.shared.allocations.fetch_sub(1, Ordering::Relaxed);
        // Asked before taking the users lock: signaling calls in with its own lock held.
        let live = (self.shared.live)(&self.name);
        let mut users = self.shared.users();
        if let Some(u) = users.get_mut(&self.name) {
            u.allocations = u.allocations.saturating_sub(1);
            if u.allocations == 0 && !live {
                users.remove(&self.name);
            }
        }
    }
}

fn io(e: std::io::Error) -> webrtc_util::Error {
    e.into()
}

#[async_trait]
impl Conn for RelayConn {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        self.sock.connect(addr).await.map_err(io)
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let c = &self.shared.counters;
        loop {
            let (n, src) = self.sock.recv_from(buf).await.map_err(io)?;
            if !self.shared.cfg.allows(src.ip()) {
                c.dropped_network_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
                continue;
            }
            if !self.shared.take(&self.name, n) {
                c.dropped_rate_bytes.fetch_add(n as u64, Ordering::Relaxed);
                continue;
            }
            c.to_client_bytes.fetch_add(n as u64, Ordering::Relaxed);
            return Ok((n, src));
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.sock.send(buf).await.map_err(io)
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        let c = &self.shared.counters;
        let n = buf.len();
        if !self.shared.cfg.allows(target.ip()) {
            c.dropped_network_bytes
                .fetch_add(n as u64, Ordering::Relaxed);
            return Ok(n);
        }
        if !self.shared.take(&self.name, n) {
            c.dropped_rate_bytes.fetch_add(n as u64, Ordering::Relaxed);
            return Ok(n);
        }
        c.to_peer_bytes.fetch_add(n as u64, Ordering::Relaxed);
        // A full socket buffer drops the datagram as the network would; never stall the
        // listener's loop, which serves every client.
        Ok(self.sock.try_send_to(buf, target).unwrap_or(n))
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        self.sock.local_addr().map_err(io)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_caps_bytes_per_second() {
        let t0 = Instant::now();
        let mut b = Bucket::new(1000, t0);
        assert!(b.take(600, t0));
        assert!(!b.take(600, t0));
        assert!(b.take(400, t0));
        assert!(!b.take(1, t0));
        assert!(b.take(500, t0 + Duration::from_millis(500)));
        // Never more than one second saved up.
        let later = t0 + Duration::from_secs(60);
        assert!(b.take(1000, later));
        assert!(!b.take(1, later));
        let mut free = Bucket::new(0, t0);
        assert!(free.take(usize::MAX, t0));
    }

    #[test]
    fn per_minute_allows_a_burst_then_the_rate() {
        // A page opening a few connections at once sends a few unauthenticated requests in the
        // same instant; the old bucket (one request saved up) dropped all but the first.
        let t0 = Instant::now();
        let mut b = Bucket::per_minute(60, t0);
        assert!((0..60).all(|_| b.take(1, t0)));
        assert!(!b.take(1, t0));
        assert!(!b.take(1, t0 + Duration::from_millis(900)));
        assert!(b.take(1, t0 + Duration::from_millis(1000)));
        // A quiet hour saves up one minute's worth, no more.
        let later = t0 + Duration::from_secs(3600);
        assert!((0..60).all(|_| b.take(1, later)));
        assert!(!b.take(1, later));
    }
}
