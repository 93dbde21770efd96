//! State shared by every connection of one running daemon.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::http::bundle::Bundle;
use crate::signal::token::{self, Tokens};
use crate::signal::Hub;

pub struct App {
    pub config: Arc<Config>,
    pub started: Instant,
    /// The address the listener is bound to (the real port when the config said `:0`).
    pub local_addr: SocketAddr,
    pub bundle: Bundle,
    pub signal: Hub,
    /// Cancelled when shutdown begins; long-lived sessions (WebSockets, transfers) watch it to
    /// finish up and leave.
    pub shutdown: CancellationToken,
    /// Tasks that outlive their HTTP request (upgraded WebSockets); shutdown waits for them
    /// within the grace period.
    pub tasks: TaskTracker,
    pub http_connections: AtomicUsize,
    /// The running seeder's room list, set once it has started; SIGHUP changes it.
    pub seeder_rooms: std::sync::OnceLock<tokio::sync::watch::Sender<Vec<String>>>,
    /// The live catalog of shared files, set once the seeder's watcher has started; plain HTTP
    /// downloads (`/files/<id>`) serve the same entries the seeder offers.
    pub catalog: std::sync::OnceLock<crate::watch::Catalog>,
    /// The seeder's incoming store, set once it has started; HTTP (tus) uploads save through it,
    /// with the same checks as DataChannel uploads.
    pub incoming:
        std::sync::OnceLock<Arc<std::sync::Mutex<crate::seeder::incoming::IncomingStore>>>,
    /// Image thumbnails for the file list (`/thumbs/<id>`).
    pub thumbs: Arc<crate::thumbs::Thumbs>,
    /// `/files/<id>` figures for `/metrics`.
    pub file_stats: Arc<crate::http::files::Stats>,
    /// Folder downloads (`/archive`) streaming now.
    pub archives: crate::http::archive::Archives,
    /// Figures for `/metrics`; modules register their sources when they start.
    pub metrics: Arc<crate::metrics::Registry>,
}

impl App {
    pub fn new(config: Config, local_addr: SocketAddr) -> Arc<Self> {
        let config = Arc::new(config);
        let metrics: Arc<crate::metrics::Registry> = Arc::default();
        let thumbs = Arc::new(crate::thumbs::Thumbs::new(
            config.thumbnails.clone(),
            &config.storage.state_dir,
        ));
        metrics.register(thumbs.clone());
        let file_stats = Arc::new(crate::http::files::Stats::default());
        metrics.register(file_stats.clone());
        Arc::new(App {
            bundle: Bundle::new(config.server.web_dir.as_deref()),
            signal: Hub::new(config.signal.clone(), token_key(&config)),
            config,
            started: Instant::now(),
            local_addr,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            http_connections: AtomicUsize::new(0),
            seeder_rooms: std::sync::OnceLock::new(),
            catalog: std::sync::OnceLock::new(),
            incoming: std::sync::OnceLock::new(),
            archives: Default::default(),
            thumbs,
            file_stats,
            metrics,
        })
    }
}

/// The resume-token key from the state directory; without one, names only survive reconnects,
/// not restarts, which is worth a warning but not a refusal to start.
fn token_key(config: &Config) -> Tokens {
    let key = token::load_or_create_key(&config.storage.state_dir).unwrap_or_else(|e| {
        tracing::warn!(dir = %config.storage.state_dir.display(), error = %e,
            "cannot keep the resume-token key; names will not survive a restart");
        rand::random()
    });
    Tokens::new(key)
}
