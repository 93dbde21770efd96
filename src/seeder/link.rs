//! One task per connected browser: feeds its DataChannel messages to a [`Session`], carries out
//! the actions on a blocking thread (disk), and streams downloads under flow control: frames are
//! written while the channel's buffered amount is under the high-water mark, then the task
//! waits for the transport's buffered-amount-low event. Catalog messages are built one at a
//! time when the channel has room (alternating with download frames), from the catalog
//! snapshot the link follows. A transfer that makes no progress for
//! `seeder.stall_timeout_secs` is failed and reported on the channel, never left hanging.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::edge::{Edge, Outgoing, Resolver};
use super::frame::HEADER_BYTES;
use super::incoming::IncomingStore;
use super::peer::{ChannelId, Peers, Received, Sent};
use super::protocol::{Code, Message};
use super::session::{Action, Session};
use super::stats::{SeederStats, Tracker};
use super::swarm::Swarm;
use super::throttle::Throttle;
use super::SeederConfig;
use crate::memory::Trimmer;
use crate::watch::Snapshot;

/// Frames produced per pump: about the high-water mark's worth.
const PUMP_FRAMES: usize = 4;

/// A catalog stream at least this large is followed by a heap trim once it is all out (a
/// 100,000-file list is 20 MB of messages; a delta is a few hundred bytes and trims nothing).
const TRIM_AFTER_BYTES: usize = 256 << 10;

#[derive(Debug)]
pub enum LinkInput {
    Text(Received),
    Binary(Received),
    BufferedLow,
    Closed,
}

pub struct Link {
    pub peers: Peers,
    pub remote: String,
    pub channel: ChannelId,
    pub store: Arc<Mutex<IncomingStore>>,
    pub resolve: Resolver,
    pub config: Arc<SeederConfig>,
    pub stats: Arc<SeederStats>,
    /// Largest message the connection carries; download frames use all of it.
    pub max_message: usize,
    /// The tracker (protocol version 3) and the seeder's byte count.
    pub swarm: Arc<Swarm>,
    /// The seeder-wide upload cap.
    pub throttle: Arc<Throttle>,
    pub trim: Arc<Trimmer>,
}

struct State {
    session: Session,
    edge: Edge,
}

/// What a blocking step works on: the state, the store, and what to do.
enum Step {
    Actions(Vec<Action>),
    Text(Received),
    Binary(Received),
    Pump,
}

impl Link {
    pub async fn run(
        self,
        mut catalog: watch::Receiver<Arc<Snapshot>>,
        mut rx: mpsc::UnboundedReceiver<LinkInput>,
    ) {
        let mut edge = Edge::with_resolver(
            self.remote.clone(),
            self.resolve.clone(),
            self.config.read_ahead_chunks,
        );
        edge.set_frame_bytes(self.max_message);
        let mut state = Some(State {
            session: Session::new(
                self.config.max_transfers_per_peer,
                self.config.catalog_files_per_message,
            )
            .with_swarm(self.remote.clone(), self.swarm.clone()),
            edge,
        });
        let stall = Duration::from_secs(self.config.stall_timeout_secs);
        let mut pending: VecDeque<Outgoing> = VecDeque::new();
        let mut waiting = false;
        let mut waiting_since = Instant::now();
        let mut tracker = Tracker::new(self.stats.clone());
        let mut last_progress = Instant::now();
        if let Some(s) = state.as_mut() {
            s.session.set_catalog(catalog.borrow_and_update().clone());
        }
        // Catalog messages and download frames take turns while both have something to send.
        let mut catalog_turn = true;
        // Catalog bytes sent since the stream last ran dry.
        let mut catalog_bytes = 0;
        loop {
            // Put out what is queued, as far as the channel's buffer allows.
            while !waiting {
                let Some(msg) = pending.pop_front() else {
                    break;
                };
                let (binary, bytes) = match msg {
                    Outgoing::Text(t) => {
                        tracker.outgoing(&t);
                        (false, t.into_bytes())
                    }
                    Outgoing::Binary(b) => (true, b),
                };
                let len = bytes.len();
                match self
                    .peers
                    .send(&self.remote, self.channel, binary, bytes)
                    .await
                {
                    Ok(Sent::Queued { buffered }) => {
                        if binary {
                            self.swarm
                                .seeder_sent(len.saturating_sub(HEADER_BYTES) as u64);
                            let wait = self.throttle.take(Instant::now(), len as u64);
                            if !wait.is_zero() {
                                tokio::time::sleep(wait).await;
                            }
                        }
                        last_progress = Instant::now();
                        waiting = self.peers.should_wait(buffered);
                        waiting_since = last_progress;
                    }
                    Err(e) => {
                        tracing::debug!(remote = %self.remote, error = %e, "link send failed");
                        return self.close(&mut state, &mut tracker).await;
                    }
                }
            }
            let sending = state.as_ref().is_some_and(|s| s.edge.sending());
            let receiving = state.as_ref().is_some_and(|s| s.edge.receiving());
            if !waiting && pending.is_empty() && (catalog_turn || !sending) {
                if let Some(text) = state.as_mut().and_then(|s| s.session.next_catalog()) {
                    catalog_bytes += text.len();
                    pending.push_back(Outgoing::Text(text));
                    catalog_turn = false;
                    continue;
                }
                if catalog_bytes >= TRIM_AFTER_BYTES {
                    self.trim.request();
                }
                catalog_bytes = 0;
            }
            catalog_turn = true;
            let input = if !waiting && pending.is_empty() && sending {
                // Keep streaming, but let queued input (cancel, acks) in first.
                match rx.try_recv() {
                    Ok(input) => Some(input),
                    Err(mpsc::error::TryRecvError::Empty) => {
                        if !self.step(&mut state, Step::Pump, &mut pending).await {
                            return;
                        }
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            } else {
                // A stall: our sends blocked, or an upload whose bytes stopped coming.
                let busy = (waiting && (sending || !pending.is_empty())) || receiving;
                let timer = tokio::time::sleep_until((last_progress + stall).into());
                tokio::select! {
                    input = rx.recv() => input,
                    Ok(()) = catalog.changed() => {
                        if let Some(s) = state.as_mut() {
                            s.session.set_catalog(catalog.borrow_and_update().clone());
                        }
                        continue;
                    }
                    () = timer, if busy => {
                        tracing::warn!(remote = %self.remote, secs = stall.as_secs(),
                            "transfer stalled: no progress; closing the connection");
                        self.stats.stalled();
                        let msg = Message::Error {
                            code: Code::Io,
                            transfer_id: None,
                            message: Some(format!("transfer stalled: no progress for {} s", stall.as_secs())),
                        };
                        let _ = self.peers.send(&self.remote, self.channel, false, msg.to_text().into_bytes()).await;
                        self.peers.flush(&self.remote, self.channel, Duration::from_secs(2)).await;
                        let _ = self.peers.close(&self.remote).await;
                        return self.close(&mut state, &mut tracker).await;
                    }
                }
            };
            let ok = match input {
                None | Some(LinkInput::Closed) => {
                    return self.close(&mut state, &mut tracker).await
                }
                Some(LinkInput::BufferedLow) => {
                    if waiting {
                        self.stats.waited(waiting_since.elapsed());
                    }
                    waiting = false;
                    last_progress = Instant::now();
                    true
                }
                Some(LinkInput::Text(t)) => {
                    last_progress = Instant::now();
                    tracker.incoming(&String::from_utf8_lossy(&t.data));
                    self.step(&mut state, Step::Text(t), &mut pending).await
                }
                Some(LinkInput::Binary(b)) => {
                    last_progress = Instant::now();
                    self.step(&mut state, Step::Binary(b), &mut pending).await
                }
            };
            if !ok {
                return;
            }
        }
    }

    /// Runs one step on a blocking thread (it may write or read files); false if the state is
    /// lost (a panic in the step), which ends the link.
    async fn step(
        &self,
        state: &mut Option<State>,
        step: Step,
        pending: &mut VecDeque<Outgoing>,
    ) -> bool {
        let Some(mut st) = state.take() else {
            return false;
        };
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || {
            let out = match step {
                Step::Pump => st.edge.pump(&mut st.session, PUMP_FRAMES),
                step => {
                    let acts = match step {
                        Step::Actions(a) => a,
                        Step::Text(t) => match std::str::from_utf8(&t.data) {
                            Ok(text) => st.session.on_text(text),
                            Err(_) => st.session.on_text("\u{fffd}"),
                        },
                        Step::Binary(b) => st.session.on_binary(&b.data),
                        Step::Pump => unreachable!("handled above"),
                    };
                    let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                    st.edge.apply(&mut st.session, &mut store, acts)
                }
            };
            (st, out)
        })
        .await;
        match result {
            Ok((st, out)) => {
                tracing::trace!(remote = %self.remote, out = out.len(), "link step");
                *state = Some(st);
                pending.extend(out);
                true
            }
            Err(e) => {
                tracing::error!(remote = %self.remote, error = %e, "transfer step failed");
                false
            }
        }
    }

    /// The browser left: interrupted uploads keep their partial for resume.
    async fn close(&self, state: &mut Option<State>, tracker: &mut Tracker) {
        tracker.closed();
        // The connection's buffers are freed now.
        self.trim.request();
        let Some(st) = state.as_mut() else { return };
        let acts = st.session.closed();
        let mut ignored = VecDeque::new();
        self.step(state, Step::Actions(acts), &mut ignored).await;
        tracing::debug!(remote = %self.remote, "transfer link closed");
    }
}
