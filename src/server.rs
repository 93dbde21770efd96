//! The accept loop and graceful shutdown.
//!
//! `run` takes an already-bound listener and a shutdown future, so tests bind `127.0.0.1:0`
//! and the binary binds the configured address and passes SIGINT/SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};

use crate::app::App;
use crate::config::Config;
use crate::logging::LogHandle;

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

/// What the binary adds around [`run`]: configuration reloads (SIGHUP) and the log handle
/// they act on. Tests use [`run`], which has neither.
#[derive(Default)]
pub struct Control {
    pub reloads: Option<mpsc::Receiver<Config>>,
    pub log: Option<LogHandle>,
}

/// Serves until `shutdown` completes, then stops accepting and lets in-flight requests and
/// sessions finish within `server.shutdown_grace_secs`.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_with(listener, config, shutdown, Control::default()).await
}

/// [`run`] with reloads and logging control.
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
    control: Control,
) -> std::io::Result<()> {
    let local_addr = listener.local_addr()?;
    serve(listener, App::new(config, local_addr), shutdown, control).await
}

/// `run` with an `App` the caller built, so in-process parts (and tests) can reach it, e.g.
/// for `app.signal.seeder_token()`.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
    mut control: Control,
) -> std::io::Result<()> {
    let local_addr = app.local_addr;
    let grace = Duration::from_secs(app.config.server.shutdown_grace_secs);
    let slots = Arc::new(Semaphore::new(app.config.server.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(
            app.config.server.header_read_timeout_secs,
        ))
        .max_buf_size(app.config.server.max_header_bytes);
    let tls = match app.config.server.tls.enabled {
        false => None,
        true => {
            let tls = crate::http::tls::load(&app.config.server.tls, &app.config.storage.state_dir)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            tracing::info!(cert = %tls.cert_path.display(), sha256 = %tls.fingerprint,
                "HTTPS on; check this fingerprint when a browser asks about the certificate");
            Some(tls.acceptor)
        }
    };
    tracing::info!(addr = %local_addr, tls = tls.is_some(), "listening");
    crate::systemd::spawn_watchdog();
    // READY=1 once the seeder has joined its rooms (it needs this accept loop running to do
    // so), or at once when it is off or failed to start.
    start_turn(&app).await;
    let mut seeder_ready = start_seeder(&app)
        .await
        .map(|rx| (rx, tokio::time::Instant::now() + SEEDER_READY_TIMEOUT));
    if seeder_ready.is_none() {
        crate::systemd::ready();
    }
    let mut running = (*app.config).clone();

    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            () = wait_ready(&mut seeder_ready) => {
                seeder_ready = None;
                crate::systemd::ready();
                continue;
            }
            Some(new) = recv_reload(&mut control.reloads) => {
                apply_reload(&app, &mut running, new, control.log.as_ref());
                continue;
            }
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
        crate::http::conn::spawn(app.clone(), http.clone(), stream, peer, permit, tls.clone());
    }

    drop(listener);
    crate::systemd::stopping();
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

/// Starts the relay when enabled; a failure (the port is taken, no address) is logged and the
/// daemon serves on without it: browsers then only get host candidates.
async fn start_turn(app: &Arc<App>) {
    if !app.config.turn.enabled {
        return;
    }
    let started = crate::turn::Relay::start(
        app.config.turn.clone(),
        app.signal.liveness(),
        app.shutdown.clone(),
    )
    .await;
    match started {
        Ok(relay) => {
            app.metrics.register(relay.clone());
            app.signal.set_ice_issuer(Arc::new(relay));
        }
        Err(e) => tracing::warn!(error = %e, "TURN relay not started"),
    }
}

/// How long READY=1 waits for the seeder to join its rooms before giving up on it.
const SEEDER_READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Starts the catalog and the seeder when enabled; a failure is logged and the daemon goes on
/// serving signaling and the web app without them.
async fn start_seeder(app: &Arc<App>) -> Option<tokio::sync::oneshot::Receiver<()>> {
    let c = &app.config;
    if !c.seeder.enabled {
        return None;
    }
    let mut roots = vec![crate::watch::Root {
        dir: c.storage.share_dir.clone(),
        prefix: String::new(),
    }];
    if c.seeder.drop_box {
        roots.push(crate::watch::Root {
            dir: c.storage.incoming_dir.clone(),
            prefix: "incoming".into(),
        });
    }
    let catalog = match crate::watch::Catalog::start(
        c.watch.clone(),
        roots,
        &c.storage.state_dir,
        app.shutdown.clone(),
    )
    .await
    {
        Ok(catalog) => {
            app.metrics.register(catalog.stats());
            let _ = app.catalog.set(catalog.clone());
            catalog
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot watch the share folder; seeder not started");
            return None;
        }
    };
    let ctx = crate::seeder::service::Context {
        config: c.seeder.clone(),
        incoming_dir: c.storage.incoming_dir.clone(),
        listen: app.local_addr,
        token: app.signal.seeder_token().to_owned(),
        catalog,
        shutdown: app.shutdown.clone(),
        tasks: app.tasks.clone(),
        metrics: app.metrics.clone(),
    };
    match crate::seeder::service::start(ctx).await {
        Ok(handle) => {
            let _ = app.seeder_rooms.set(handle.rooms);
            let _ = app.incoming.set(handle.store);
            Some(handle.ready)
        }
        Err(e) => {
            tracing::error!(error = %e, "seeder not started; serving signaling and the web app only");
            None
        }
    }
}

async fn wait_ready(
    ready: &mut Option<(tokio::sync::oneshot::Receiver<()>, tokio::time::Instant)>,
) {
    match ready {
        Some((rx, deadline)) => {
            if tokio::time::timeout_at(*deadline, rx).await.is_err() {
                tracing::warn!("the seeder has not joined its rooms yet; reporting ready anyway");
            }
        }
        None => std::future::pending().await,
    }
}

async fn recv_reload(rx: &mut Option<mpsc::Receiver<Config>>) -> Option<Config> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Applies what can change live and names in the log what needs a restart.
fn apply_reload(app: &App, running: &mut Config, new: Config, log: Option<&LogHandle>) {
    crate::systemd::reloading();
    let plan = crate::reload::plan(running, &new, &[]);
    let changed = |prefix: &str| plan.applied.iter().any(|k| k.starts_with(prefix));
    if changed("log.level") {
        if let Some(log) = log {
            match log.set_level(&new.log.level) {
                Ok(()) => running.log.level = new.log.level.clone(),
                Err(e) => tracing::warn!(error = %e, "log.level not applied"),
            }
        }
    }
    if changed("signal.") {
        app.signal.reload(new.signal.clone());
        running.signal = new.signal.clone();
    }
    if changed("seeder.rooms") {
        if let Some(rooms) = app.seeder_rooms.get() {
            let _ = rooms.send(new.seeder.rooms.clone());
            running.seeder.rooms = new.seeder.rooms.clone();
        }
    }
    if plan.applied.is_empty() && plan.need_restart.is_empty() {
        tracing::info!("configuration reloaded: nothing changed");
    } else {
        tracing::info!(
            applied = %plan.applied.join(", "),
            need_restart = %plan.need_restart.join(", "),
            "configuration reloaded"
        );
    }
    crate::systemd::ready();
}
