//! UDP socket buffers for the WebRTC connections: webrtc-rs's tokio runtime, except that every
//! UDP socket it wraps first gets `udp_buffer_bytes` of kernel receive and send buffer.
//!
//! The kernel default (`net.core.rmem_default`, 208 KiB) holds about 170 full-size packets.
//! A receiver whose process is busy for a few milliseconds (two cores shared by a browser, the
//! daemon and a build) overflows it and the kernel drops the rest: measured as
//! `RcvbufErrors` on every upload into the seeder and every Rust client download, each drop
//! then costing a loss recovery. The size asked for is capped by the kernel at
//! `net.core.rmem_max` / `wmem_max`; what was granted is logged once at debug.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// [`TokioRuntime`] with larger UDP socket buffers.
#[derive(Debug)]
pub(super) struct BufferedRuntime {
    inner: TokioRuntime,
    bytes: usize,
    logged: AtomicBool,
}

impl BufferedRuntime {
    pub(super) fn new(bytes: usize) -> BufferedRuntime {
        BufferedRuntime {
            inner: TokioRuntime,
            bytes,
            logged: AtomicBool::new(false),
        }
    }
}

/// Asks for `bytes` of receive and send buffer (0: leave the kernel's default); returns what
/// the kernel granted (it reports twice the usable size).
pub(super) fn set_buffers(socket: &std::net::UdpSocket, bytes: usize) -> (usize, usize) {
    let s = socket2::SockRef::from(socket);
    if bytes > 0 {
        if let Err(e) = s.set_recv_buffer_size(bytes) {
            tracing::debug!(error = %e, "cannot set the UDP receive buffer");
        }
        if let Err(e) = s.set_send_buffer_size(bytes) {
            tracing::debug!(error = %e, "cannot set the UDP send buffer");
        }
    }
    (
        s.recv_buffer_size().unwrap_or(0),
        s.send_buffer_size().unwrap_or(0),
    )
}

impl Runtime for BufferedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        pool: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(pool, future)
    }

    fn wrap_udp_socket(
        &self,
        socket: std::net::UdpSocket,
    ) -> std::io::Result<Arc<dyn AsyncUdpSocket>> {
        let (recv, send) = set_buffers(&socket, self.bytes);
        if !self.logged.swap(true, Ordering::Relaxed) {
            tracing::debug!(asked = self.bytes, recv, send, "UDP socket buffers");
        }
        self.inner.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> std::io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(remote)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn name(&self) -> &'static str {
        "tokio (peerbox socket buffers)"
    }
}

#[cfg(test)]
mod tests {
    use super::set_buffers;

    #[test]
    fn asks_the_kernel_for_bigger_buffers() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (default_recv, _) = set_buffers(&s, 0);
        let (recv, send) = set_buffers(&s, 1 << 20);
        // Capped by net.core.rmem_max, but never left at the default unless that is the cap.
        let cap = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if cap > default_recv {
            assert!(recv > default_recv, "{recv} <= {default_recv}");
            assert!(send > 0);
        }
    }
}
