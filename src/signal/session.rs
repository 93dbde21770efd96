//! The socket edge of one client: a reader task (this one) and a writer task fed by a
//! bounded queue. Everything here is plumbing; decisions live in `state`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::protocol::ErrorCode;
use super::state::ConnId;
use super::{Kill, Outgoing, Shared};

/// Small read buffer: idle connections dominate, and tungstenite allocates it eagerly
/// (its 128 KiB default is most of the memory of an idle socket).
const READ_BUFFER_BYTES: usize = 4096;
/// How long a closing connection waits for the peer's close reply.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

pub(super) struct Ctx {
    pub shared: Arc<Shared>,
    pub id: ConnId,
    pub tx: mpsc::Sender<Outgoing>,
    pub kill: Arc<Kill>,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
}

/// A token bucket: `rate` per second, up to `burst` saved up.
pub(super) struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Bucket {
            tokens: burst,
            rate,
            burst,
            last: now,
        }
    }

    pub fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub(super) fn ws_config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(2 * max_message_bytes + 4096)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

/// Takes the connection out of the rooms however the task ends, even by a panic, so gauges
/// and per-address slots never leak.
struct LeaveOnDrop(Arc<Shared>, ConnId);

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        self.0.leave(self.1);
    }
}

pub(super) async fn run(ctx: Ctx, on_upgrade: OnUpgrade, rx: mpsc::Receiver<Outgoing>) {
    let _leave = LeaveOnDrop(ctx.shared.clone(), ctx.id);
    let cfg = ctx.shared.cfg();
    let handshake = Duration::from_secs(cfg.handshake_timeout_secs);
    let upgraded = tokio::select! {
        r = tokio::time::timeout(handshake, on_upgrade) => match r {
            Ok(Ok(u)) => Some(u),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                None
            }
            Err(_) => {
                tracing::debug!("websocket upgrade timed out");
                None
            }
        },
        () = ctx.shutdown.cancelled() => None,
    };
    let Some(upgraded) = upgraded else {
        return;
    };
    let ws = WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Server,
        Some(ws_config(cfg.max_message_bytes)),
    )
    .await;
    let (sink, stream) = ws.split();
    let writer = ctx.tasks.spawn(write_loop(sink, rx, ctx.kill.clone()));
    read_loop(&ctx, stream).await;
    drop(_leave);
    drop(ctx.tx);
    let _ = tokio::time::timeout(CLOSE_WAIT, writer).await;
}

type Sink =
    futures_util::stream::SplitSink<WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>, Message>;
type Stream = futures_util::stream::SplitStream<WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>>;

async fn write_loop(mut sink: Sink, mut rx: mpsc::Receiver<Outgoing>, kill: Arc<Kill>) {
    loop {
        let next = tokio::select! {
            () = kill.hard.cancelled() => break,
            m = rx.recv() => m,
        };
        let (msg, last) = match next {
            None => break,
            Some(Outgoing::Text(t)) => (Message::Text(t), false),
            Some(Outgoing::Ping) => (Message::Ping(Bytes::new()), false),
            Some(Outgoing::Close(code, reason)) => (
                Message::Close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                })),
                true,
            ),
        };
        let sent = tokio::select! {
            () = kill.hard.cancelled() => break,
            r = sink.send(msg) => r,
        };
        if sent.is_err() || last {
            break;
        }
    }
}

/// Reads until the client leaves or must go.
async fn read_loop(ctx: &Ctx, mut stream: Stream) {
    let cfg = ctx.shared.cfg();
    let start = Instant::now();
    let mut rate = Bucket::new(cfg.rate_per_sec.into(), cfg.rate_burst.into(), start);
    let per_min = f64::from(cfg.max_errors_per_min);
    let mut errors = Bucket::new(per_min / 60.0, per_min, start);
    let ping_every = Duration::from_secs(cfg.ping_interval_secs);
    let idle = Duration::from_secs(cfg.idle_timeout_secs);
    let mut ping = tokio::time::interval_at((start + ping_every).into(), ping_every);
    let deadline = tokio::time::sleep(Duration::from_secs(cfg.handshake_timeout_secs));
    tokio::pin!(deadline);
    let mut deadline_done = false;
    let mut last_rx = start;
    let id = ctx.id;

    let (code, reason) = loop {
        let frame = tokio::select! {
            () = ctx.shutdown.cancelled() => break (1001, "server shutting down"),
            () = ctx.kill.token.cancelled() => {
                let code = ctx.kill.code.load(Ordering::Relaxed);
                if code == 4000 {
                    break (4000, "replaced by a resumed connection");
                }
                // The queue is full: a close frame cannot get through, just hang up.
                ctx.shared.count_close(code);
                return;
            }
            _ = ping.tick() => {
                if last_rx.elapsed() >= idle {
                    break (1000, "idle timeout");
                }
                let _ = ctx.tx.try_send(Outgoing::Ping);
                continue;
            }
            () = &mut deadline, if !deadline_done => {
                deadline_done = true;
                if !ctx.shared.has_joined(id) {
                    break (1008, "no join within the handshake timeout");
                }
                continue;
            }
            f = stream.next() => f,
        };
        let now = Instant::now();
        let mut faults: Vec<ErrorCode> = Vec::new();
        match frame {
            None => return,
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                ctx.shared
                    .send_error(id, ErrorCode::TooBig, "message too big");
                break (1009, "message too big");
            }
            Some(Err(WsError::Utf8(_))) => break (1007, "invalid UTF-8"),
            Some(Err(WsError::Protocol(_))) => break (1002, "protocol error"),
            Some(Err(_)) => return,
            Some(Ok(msg)) => {
                last_rx = now;
                if matches!(msg, Message::Close(_)) {
                    return;
                }
                if !rate.take(now) {
                    ctx.shared
                        .send_error(id, ErrorCode::RateLimited, "slow down");
                    faults.push(ErrorCode::RateLimited);
                } else {
                    match msg {
                        Message::Text(t) => faults = ctx.shared.process(id, t.as_str()),
                        Message::Binary(_) => {
                            let m = "binary messages are not part of the protocol";
                            ctx.shared.send_error(id, ErrorCode::Unsupported, m);
                            faults.push(ErrorCode::Unsupported);
                        }
                        _ => {}
                    }
                }
            }
        }
        if faults.iter().any(|_| !errors.take(now)) {
            if ctx.shared.logs.allow() {
                tracing::info!(id, "closing a connection that keeps sending bad messages");
            }
            break (1008, "too many bad messages");
        }
    };
    ctx.shared.count_close(code);
    if ctx.tx.try_send(Outgoing::Close(code, reason)).is_err() {
        ctx.kill.fire(code);
        return;
    }
    // Let the writer send the close frame and wait for the client's reply (or give up).
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_rate_and_caps_at_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(2.0, 3.0, t0);
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        assert!(b.take(t0 + Duration::from_millis(500)));
        assert!(!b.take(t0 + Duration::from_millis(500)));
        let later = t0 + Duration::from_secs(100);
        assert!((0..3).all(|_| b.take(later)));
        assert!(!b.take(later));
    }
}
