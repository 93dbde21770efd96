//! The accept loop and graceful shutdown.
//!
//! `run` takes an already-bound listener and a shutdown future, so tests bind `127.0.0.1:0`
//! and the binary binds the configured address and passes SIGINT/SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::app::App;
use crate::config::Config;

/// Failures that stop the daemon before or while it serves.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {}", describe_bind(.source))]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{what} {path} is not usable: {source}")]
    Directory {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn describe_bind(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "the port is already in use by another program".into(),
        std::io::ErrorKind::AddrNotAvailable => {
            "no interface of this machine has that address".into()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges)".into()
        }
        _ => e.to_string(),
    }
}

/// Binds the listener, turning the OS error into one line that names the cause.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })
}

/// Creates the share, incoming and state directories when missing and proves that the daemon
/// can write where it must, so a bad path fails at start rather than at the first upload.
pub fn prepare_storage(config: &Config) -> Result<(), StartupError> {
    let s = &config.storage;
    let dirs: [(&'static str, &Path, bool); 3] = [
        ("share directory", &s.share_dir, false),
        ("incoming directory", &s.incoming_dir, true),
        ("state directory", &s.state_dir, true),
    ];
    for (what, path, must_write) in dirs {
        let fail = |source| StartupError::Directory {
            what,
            path: path.to_owned(),
            source,
        };
        std::fs::create_dir_all(path).map_err(fail)?;
        std::fs::read_dir(path).map_err(fail)?;
        if must_write {
            let probe = path.join(format!(".peerbox-write-test-{}", std::process::id()));
            std::fs::File::create(&probe).map_err(fail)?;
            let _ = std::fs::remove_file(&probe);
        }
    }
    Ok(())
}

/// Serves until `shutdown` completes, then stops accepting and lets in-flight requests and
/// sessions finish within `server.shutdown_grace_secs`.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local_addr = listener.local_addr()?;
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let app = App::new(config, local_addr);
    let slots = Arc::new(Semaphore::new(app.config.server.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(
            app.config.server.header_read_timeout_secs,
        ))
        .max_buf_size(app.config.server.max_header_bytes);
    tracing::info!(addr = %local_addr, "listening");

    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning; the daemon stays up.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = app.config.server.max_connections,
                "connection refused: server.max_connections reached");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app2 = app.clone();
        let service = service_fn(move |req| crate::http::handle(app2.clone(), peer, req));
        let conn = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let app3 = app.clone();
        app.tasks.spawn(async move {
            app3.http_connections.fetch_add(1, Ordering::Relaxed);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = app3.shutdown.cancelled() => {
                    // Finish the request in flight (if any), then close; idle ones close now.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            app3.http_connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }

    drop(listener);
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: no new connections"
    );
    app.shutdown.cancel();
    app.tasks.close();
    let drained = tokio::time::timeout(grace, app.tasks.wait()).await;
    match drained {
        Ok(()) => tracing::info!("all work finished; bye"),
        Err(_) => tracing::warn!(
            grace_secs = grace.as_secs(),
            "grace period over; closing what is still running"
        ),
    }
    Ok(())
}
