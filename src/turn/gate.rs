//! The TURN listener's socket, with a look at each request before the server sees it: this is
//! where the relay refuses what the `turn` crate has no hook for.
//!
//! - datagrams from outside the allowed networks are dropped;
//! - unauthenticated requests (each makes the server mint a nonce it keeps) are rate-limited
//!   per address;
//! - CreatePermission and ChannelBind naming a peer outside the allowed networks get 403
//!   Forbidden, and Send indications to one are dropped, so no permission to such a peer exists;
//! - an Allocate over the connection's allocation quota gets 486 Allocation Quota Reached;
//! - a request whose MESSAGE-INTEGRITY does not match (forged or foreign credentials) is
//!   counted; the server itself answers it with an error.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use stun::attributes::{ATTR_MESSAGE_INTEGRITY, ATTR_REALM, ATTR_USERNAME, ATTR_XOR_PEER_ADDRESS};
use stun::error_code::{ErrorCode, ErrorCodeAttribute, CODE_ALLOC_QUOTA_REACHED, CODE_FORBIDDEN};
use stun::integrity::MessageIntegrity;
use stun::message::{
    Getter, Message, MessageType, Setter, CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_REQUEST,
    METHOD_ALLOCATE, METHOD_CHANNEL_BIND, METHOD_CREATE_PERMISSION, METHOD_SEND,
};
use stun::textattrs::TextAttribute;
use stun::xoraddr::XorMappedAddress;
use tokio::net::UdpSocket;
use webrtc_util::Conn;

use super::relay::{Bucket, Current, Shared};

/// Addresses whose unauthenticated-request buckets are kept at most; beyond it the oldest
/// bucket is forgotten (an address that sends that little needs none).
const MAX_BUCKETS: usize = 4096;

pub struct Gate {
    pub sock: UdpSocket,
    pub shared: Arc<Shared>,
    pub current: Current,
    unauth: Mutex<HashMap<IpAddr, Bucket>>,
}

enum Verdict {
    Pass,
    Drop,
    /// Answer with this error and do not pass the request on.
    Refuse(Vec<u8>),
}

impl Gate {
    pub fn new(sock: UdpSocket, shared: Arc<Shared>, current: Current) -> Self {
        Gate {
            sock,
            shared,
            current,
            unauth: Mutex::new(HashMap::new()),
        }
    }

    fn inspect(&self, pkt: &[u8], src: SocketAddr) -> Verdict {
        let c = &self.shared.counters;
        if !self.shared.cfg.allows(src.ip()) {
            c.refuse("source_network");
            return Verdict::Drop;
        }
        // ChannelData (first two bits 01): bound channels only exist to permitted peers.
        if pkt.first().is_some_and(|b| b & 0xc0 == 0x40) {
            return Verdict::Pass;
        }
        let mut m = Message::new();
        m.raw = pkt.to_vec();
        if m.decode().is_err() {
            return Verdict::Drop;
        }
        if m.typ.class == CLASS_INDICATION && m.typ.method == METHOD_SEND {
            return match self.peers(&m).iter().all(|p| self.shared.cfg.allows(*p)) {
                true => Verdict::Pass,
                false => Verdict::Drop,
            };
        }
        if m.typ.class != CLASS_REQUEST {
            return Verdict::Pass;
        }
        if !m.contains(ATTR_MESSAGE_INTEGRITY) {
            let per_min = self.shared.cfg.max_unauthenticated_per_min;
            let ok = {
                let mut b = self.unauth.lock().unwrap_or_else(|p| p.into_inner());
                if b.len() >= MAX_BUCKETS && !b.contains_key(&src.ip()) {
                    b.clear();
                }
                b.entry(src.ip())
                    .or_insert_with(|| Bucket::per_minute(per_min, Instant::now()))
                    .take(1, Instant::now())
            };
            if !ok {
                c.refuse("unauthenticated_rate");
                return Verdict::Drop;
            }
            return Verdict::Pass;
        }
        let text = |attr| {
            let mut t = TextAttribute::new(attr, String::new());
            t.get_from(&m).ok().map(|_| t.text)
        };
        let (Some(username), Some(realm)) = (text(ATTR_USERNAME), text(ATTR_REALM)) else {
            return Verdict::Pass;
        };
        let key = turn::auth::generate_auth_key(
            &username,
            &realm,
            &self.shared.minter.password(&username),
        );
        let integrity = MessageIntegrity(key);
        if integrity.check(&mut m.clone()).is_err() {
            c.refuse("bad_credentials");
            return Verdict::Pass;
        }
        let Ok(name) = self.shared.minter.check(&username, super::unix_now()) else {
            return Verdict::Pass; // the auth handler refuses and counts it
        };
        let method = m.typ.method;
        if method == METHOD_ALLOCATE {
            if !self.shared.may_allocate(name) {
                c.refuse("allocation_quota");
                return self.refuse(&m, CODE_ALLOCATION_QUOTA, integrity);
            }
            self.shared.with_user(name, |u| {
                u.usernames.insert(username.clone());
            });
            *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(name.to_owned());
        } else if (method == METHOD_CREATE_PERMISSION || method == METHOD_CHANNEL_BIND)
            && !self.peers(&m).iter().all(|p| self.shared.cfg.allows(*p))
        {
            c.refuse("peer_network");
            return self.refuse(&m, CODE_FORBIDDEN, integrity);
        }
        Verdict::Pass
    }

    /// Every XOR-PEER-ADDRESS in the message (CreatePermission may carry several).
    fn peers(&self, m: &Message) -> Vec<IpAddr> {
        m.attributes
            .0
            .iter()
            .filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS)
            .map(|a| {
                let mut one = Message::new();
                one.transaction_id = m.transaction_id;
                one.add(ATTR_XOR_PEER_ADDRESS, &a.value);
                let mut x = XorMappedAddress::default();
                // An unreadable address is treated as outside every network.
                match x.get_from_as(&one, ATTR_XOR_PEER_ADDRESS) {
                    Ok(()) => x.ip,
                    Err(_) => IpAddr::from([0, 0, 0, 0]),
                }
            })
            .collect()
    }

    fn refuse(&self, m: &Message, code: ErrorCode, integrity: MessageIntegrity) -> Verdict {
        let mut out = Message::new();
        let setters: Vec<Box<dyn Setter>> = vec![
            Box::new(Message {
                transaction_id: m.transaction_id,
                ..Default::default()
            }),
            Box::new(MessageType::new(m.typ.method, CLASS_ERROR_RESPONSE)),
            Box::new(ErrorCodeAttribute {
                code,
                reason: Vec::new(),
            }),
            Box::new(integrity),
        ];
        match out.build(&setters) {
            Ok(()) => Verdict::Refuse(out.raw),
            Err(_) => Verdict::Drop,
        }
    }
}

const CODE_ALLOCATION_QUOTA: ErrorCode = CODE_ALLOC_QUOTA_REACHED;

#[async_trait]
impl Conn for Gate {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other(
            "a listener does not connect".into(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, src) = self.sock.recv_from(buf).await?;
            match self.inspect(&buf[..n], src) {
                Verdict::Pass => return Ok((n, src)),
                Verdict::Drop => continue,
                Verdict::Refuse(answer) => {
                    let _ = self.sock.send_to(&answer, src).await;
                }
            }
        }
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other(
            "a listener sends to addresses".into(),
        ))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        Ok(self.sock.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.sock.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// The server closes "its" socket whenever an allocation ends; the listener stays open.
    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}
