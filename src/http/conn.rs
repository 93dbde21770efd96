//! One accepted connection: TLS or plain HTTP on the same port, then HTTP/1.1 with upgrades.
//!
//! With TLS on, the first byte decides: a TLS handshake starts with 0x16 (handshake record),
//! an HTTP request with a method letter. So `http://` and `https://` both work on one port,
//! and the seeder's loopback WebSocket stays plain.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::rt::{Read, Write};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsAcceptor;

use crate::app::App;

const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Serves one connection on the app's task tracker, so shutdown waits for it.
pub fn spawn(
    app: Arc<App>,
    http: http1::Builder,
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    tls: Option<TlsAcceptor>,
) {
    let _ = stream.set_nodelay(true);
    let tasks = app.tasks.clone();
    tasks.spawn(async move {
        app.http_connections.fetch_add(1, Ordering::Relaxed);
        let Some(acceptor) = tls else {
            drive(&app, &http, TokioIo::new(stream), peer, false).await;
            return finish(&app, permit);
        };
        // The handshake shares the request-head deadline: a client that connects and says
        // nothing, or stalls mid-handshake, is dropped just like a slow plain request.
        let deadline = Duration::from_secs(app.config.server.header_read_timeout_secs);
        let mut first = [0u8; 1];
        match tokio::time::timeout(deadline, stream.peek(&mut first)).await {
            Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => {
                match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => drive(&app, &http, TokioIo::new(tls), peer, true).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            }
            Ok(Ok(1)) => drive(&app, &http, TokioIo::new(stream), peer, false).await,
            _ => tracing::debug!(%peer, "connection closed or silent before its first byte"),
        }
        finish(&app, permit);
    });
}

fn finish(app: &App, permit: OwnedSemaphorePermit) {
    app.http_connections.fetch_sub(1, Ordering::Relaxed);
    drop(permit);
}

async fn drive<I>(app: &Arc<App>, http: &http1::Builder, io: I, peer: SocketAddr, secure: bool)
where
    I: Read + Write + Unpin + Send + 'static,
{
    let app2 = app.clone();
    let service = service_fn(move |req| super::handle(app2.clone(), peer, secure, req));
    let conn = http.serve_connection(io, service).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = app.shutdown.cancelled() => {
            // Finish the request in flight (if any), then close; idle ones close now.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
