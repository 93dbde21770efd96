//! Rooms, names and routing without any I/O: the socket edge feeds a message in and delivers
//! the messages that come out. Time is passed in (unix milliseconds) so tests control it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::SignalConfig;
use super::names;
use super::protocol::PROTOCOL_VERSION;
use super::protocol::{error, ClientMsg, ErrorCode, Kind, Limits, PeerInfo, ServerMsg, Signal};
use super::token::Tokens;

pub type ConnId = u64;

/// One message for one or more connections; the edge serializes it once.
#[derive(Debug, Clone, PartialEq)]
pub struct Out {
    pub to: Vec<ConnId>,
    pub msg: ServerMsg,
    /// Counted as a forwarded message (signal or chat) per recipient.
    pub forwarded: bool,
}

impl Out {
    fn one(to: ConnId, msg: ServerMsg) -> Self {
        Out {
            to: vec![to],
            msg,
            forwarded: false,
        }
    }
}

#[derive(Debug)]
struct Peer {
    name: String,
    kind: Kind,
    token: String,
    rooms: BTreeSet<String>,
    joined_once: bool,
}

#[derive(Debug)]
enum Holder {
    Live(ConnId),
    /// Held for a departed client until `until` (unix ms); `token` takes it back.
    Reserved {
        token: String,
        until: u64,
    },
}

/// Why a connection is refused before it is admitted (answered with an HTTP status).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error("the name is not allowed (1-32 of A-Z a-z 0-9 - _ .)")]
    BadName,
    #[error("the name is in use")]
    NameTaken,
}

#[derive(Debug)]
pub struct Admitted {
    pub id: ConnId,
    pub welcome: ServerMsg,
    /// A live connection whose name this one took back with its token; close it.
    pub evicted: Option<ConnId>,
    pub outs: Vec<Out>,
}

pub struct State {
    cfg: SignalConfig,
    peers: HashMap<ConnId, Peer>,
    rooms: BTreeMap<String, BTreeSet<ConnId>>,
    names: HashMap<String, Holder>,
    next_id: ConnId,
    rng: StdRng,
    tokens: Tokens,
}

impl State {
    /// New limits from a reload; they apply to the next message handled.
    pub fn set_config(&mut self, cfg: SignalConfig) {
        self.cfg = cfg;
    }

    pub fn new(cfg: SignalConfig) -> Self {
        Self::with_rng(cfg, StdRng::from_os_rng())
    }

    pub fn with_rng(cfg: SignalConfig, mut rng: StdRng) -> Self {
        State {
            tokens: Tokens::new(rng.random()),
            cfg,
            peers: HashMap::new(),
            rooms: BTreeMap::new(),
            names: HashMap::new(),
            next_id: 1,
            rng,
        }
    }

    pub fn connections(&self) -> usize {
        self.peers.len()
    }

    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    pub fn memberships(&self) -> usize {
        self.rooms.values().map(BTreeSet::len).sum()
    }

    pub fn name_of(&self, id: ConnId) -> Option<&str> {
        self.peers.get(&id).map(|p| p.name.as_str())
    }

    /// Whether the connection has joined a room at least once (the handshake deadline).
    pub fn has_joined(&self, id: ConnId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.joined_once)
    }

    /// Names held for departed clients; expired ones are dropped lazily.
    fn expire(&mut self, now: u64) {
        self.names
            .retain(|_, h| !matches!(h, Holder::Reserved { until, .. } if *until <= now));
    }

    /// Signs resume tokens with a key that survives restarts (see [`Tokens`]).
    pub fn set_tokens(&mut self, tokens: Tokens) {
        self.tokens = tokens;
    }

    /// Whether a live connection holds `name`.
    pub fn is_live(&self, name: &str) -> bool {
        matches!(self.names.get(name), Some(Holder::Live(_)))
    }

    /// The name an authentic resume token was issued for (whether or not that name is live).
    pub fn verify_token(&self, token: &str) -> Option<String> {
        self.tokens.verify(token)
    }

    fn new_token(&mut self, name: &str) -> String {
        let nonce = self.rng.random();
        self.tokens.issue(name, nonce)
    }

    /// Admits a new connection. `wanted` is the seeder's chosen name; `resume` a token from an
    /// earlier `welcome`. An unknown or expired token is not an error: the client simply gets
    /// a fresh name (`resumed: false`).
    pub fn admit(
        &mut self,
        kind: Kind,
        wanted: Option<&str>,
        resume: Option<&str>,
        now: u64,
    ) -> Result<Admitted, AdmitError> {
        self.expire(now);
        let mut evicted = None;
        let mut outs = Vec::new();
        let mut resumed = false;
        let name = match (wanted, resume.and_then(|t| self.holder_of_token(t))) {
            (Some(w), _) => {
                if !names::valid_peer_name(w) {
                    return Err(AdmitError::BadName);
                }
                match self.names.get(w) {
                    Some(Holder::Live(_)) => return Err(AdmitError::NameTaken),
                    // A restarted seeder takes its configured name back without a token.
                    Some(Holder::Reserved { .. }) | None => w.to_owned(),
                }
            }
            (None, Some(name)) => {
                if let Some(Holder::Live(old)) = self.names.get(&name) {
                    let old = *old;
                    outs = self.depart_inner(old, None);
                    evicted = Some(old);
                }
                resumed = true;
                name
            }
            (None, None) => {
                let names = &self.names;
                names::generate(&mut self.rng, |n| names.contains_key(n))
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let token = self.new_token(&name);
        self.names.insert(name.clone(), Holder::Live(id));
        self.peers.insert(
            id,
            Peer {
                name: name.clone(),
                kind,
                token: token.clone(),
                rooms: BTreeSet::new(),
                joined_once: false,
            },
        );
        let c = &self.cfg;
        let welcome = ServerMsg::Welcome {
            v: PROTOCOL_VERSION,
            name,
            kind,
            resume_token: token,
            resumed,
            ice_servers: c.ice_servers.clone(),
            limits: Limits {
                max_message_bytes: c.max_message_bytes,
                max_rooms_per_peer: c.max_rooms_per_peer,
                max_peers_per_room: c.max_peers_per_room,
                max_room_name_bytes: c.max_room_name_bytes,
                rate_per_sec: c.rate_per_sec,
                rate_burst: c.rate_burst,
                ping_interval_secs: c.ping_interval_secs,
                idle_timeout_secs: c.idle_timeout_secs,
                resume_grace_secs: c.resume_grace_secs,
            },
        };
        Ok(Admitted {
            id,
            welcome,
            evicted,
            outs,
        })
    }

    /// The name a token can take back: the live or reserved name it was issued with, or, after
    /// a restart or a lapsed reservation, its name if nobody holds that name now.
    fn holder_of_token(&self, token: &str) -> Option<String> {
        let name = self.tokens.verify(token)?;
        let same_issue = match self.names.get(&name) {
            Some(Holder::Live(id)) => self.peers.get(id).is_some_and(|p| p.token == token),
            Some(Holder::Reserved { token: t, .. }) => t == token,
            None => true,
        };
        same_issue.then_some(name)
    }

    /// The connection is gone: leave every room and hold the name for the grace period.
    pub fn depart(&mut self, id: ConnId, now: u64) -> Vec<Out> {
        let until = now + self.cfg.resume_grace_secs * 1000;
        self.depart_inner(id, Some(until))
    }

    fn depart_inner(&mut self, id: ConnId, reserve_until: Option<u64>) -> Vec<Out> {
        let Some(peer) = self.peers.remove(&id) else {
            return Vec::new();
        };
        let mut outs = Vec::new();
        for room in &peer.rooms {
            if let Some(o) = self.remove_member(room, id) {
                outs.push(o);
            }
        }
        match reserve_until {
            Some(until) if self.cfg.resume_grace_secs > 0 => {
                self.names.insert(
                    peer.name,
                    Holder::Reserved {
                        token: peer.token,
                        until,
                    },
                );
            }
            _ => {
                if matches!(self.names.get(&peer.name), Some(Holder::Live(h)) if *h == id) {
                    self.names.remove(&peer.name);
                }
            }
        }
        outs
    }

    /// Removes a member and returns the roster update for those left (the room goes when empty).
    fn remove_member(&mut self, room: &str, id: ConnId) -> Option<Out> {
        let members = self.rooms.get_mut(room)?;
        members.remove(&id);
        if members.is_empty() {
            self.rooms.remove(room);
            return None;
        }
        Some(self.roster(room))
    }

    fn roster(&self, room: &str) -> Out {
        let members = self.rooms.get(room).cloned().unwrap_or_default();
        let mut peers: Vec<PeerInfo> = members
            .iter()
            .filter_map(|id| self.peers.get(id))
            .map(|p| PeerInfo {
                name: p.name.clone(),
                kind: p.kind,
            })
            .collect();
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        Out {
            to: members.into_iter().collect(),
            msg: ServerMsg::Peers {
                room: room.to_owned(),
                peers,
            },
            forwarded: false,
        }
    }

    /// Handles one parsed client message; errors come back as messages to the sender.
    pub fn handle(&mut self, id: ConnId, msg: ClientMsg, now: u64) -> Vec<Out> {
        let re = msg.type_name();
        let fail = |code, text: &str| vec![Out::one(id, error(code, text, Some(re)))];
        let Some(me) = self.peers.get(&id) else {
            return Vec::new();
        };
        match msg {
            ClientMsg::Ping => vec![Out::one(id, ServerMsg::Pong)],
            ClientMsg::Join { room } => {
                if !names::valid_room(&room, self.cfg.max_room_name_bytes) {
                    let max = self.cfg.max_room_name_bytes;
                    let text = format!("room names are 1-{max} of A-Z a-z 0-9 - _ .");
                    return fail(ErrorCode::BadRoomName, &text);
                }
                if me.rooms.contains(&room) {
                    return vec![self.roster_for(&room, id)];
                }
                if me.rooms.len() >= self.cfg.max_rooms_per_peer {
                    return fail(ErrorCode::TooManyRooms, "you are in too many rooms");
                }
                match self.rooms.get(&room) {
                    Some(m) if m.len() >= self.cfg.max_peers_per_room => {
                        return fail(ErrorCode::RoomFull, "the room is full")
                    }
                    None if self.rooms.len() >= self.cfg.max_rooms => {
                        return fail(ErrorCode::ServerFull, "no more rooms can be created")
                    }
                    _ => {}
                }
                self.rooms.entry(room.clone()).or_default().insert(id);
                if let Some(p) = self.peers.get_mut(&id) {
                    p.rooms.insert(room.clone());
                    p.joined_once = true;
                }
                vec![self.roster(&room)]
            }
            ClientMsg::Leave { room } => {
                if !me.rooms.contains(&room) {
                    return fail(ErrorCode::NotInRoom, "you are not in that room");
                }
                if let Some(p) = self.peers.get_mut(&id) {
                    p.rooms.remove(&room);
                }
                let mut outs = vec![Out::one(id, ServerMsg::Left { room: room.clone() })];
                outs.extend(self.remove_member(&room, id));
                outs
            }
            ClientMsg::Chat { room, text } => {
                if !me.rooms.contains(&room) {
                    return fail(ErrorCode::NotInRoom, "you are not in that room");
                }
                if !names::valid_text(&text) {
                    return fail(
                        ErrorCode::BadText,
                        "chat text must not be empty or contain control characters",
                    );
                }
                let from = me.name.clone();
                let to = self.rooms[&room].iter().copied().collect();
                vec![Out {
                    to,
                    msg: ServerMsg::Chat {
                        room,
                        from,
                        text,
                        ts: now,
                    },
                    forwarded: true,
                }]
            }
            ClientMsg::Signal { to, signal } => self.route_signal(id, &to, signal),
        }
    }

    fn roster_for(&self, room: &str, id: ConnId) -> Out {
        let mut o = self.roster(room);
        o.to = vec![id];
        o
    }

    /// Delivers only to a peer that shares a room with the sender; unknown and unreachable
    /// targets get the same answer so rooms do not leak who is connected elsewhere.
    fn route_signal(&self, id: ConnId, to: &str, signal: Signal) -> Vec<Out> {
        let me = &self.peers[&id];
        let err = |code, text: &str| vec![Out::one(id, error(code, text, Some("signal")))];
        if to == me.name {
            return err(ErrorCode::SelfTarget, "you cannot signal yourself");
        }
        let target = match self.names.get(to) {
            Some(Holder::Live(t)) => *t,
            _ => return err(ErrorCode::UnknownPeer, "no such peer in your rooms"),
        };
        let shares = self
            .peers
            .get(&target)
            .is_some_and(|t| t.rooms.iter().any(|r| me.rooms.contains(r)));
        if !shares {
            return err(ErrorCode::UnknownPeer, "no such peer in your rooms");
        }
        vec![Out {
            to: vec![target],
            msg: ServerMsg::Signal {
                from: me.name.clone(),
                signal,
            },
            forwarded: true,
        }]
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
