//! Signaling: WebSocket rooms where browsers and the seeder find each other.
//! (Placeholder until the signaling server lands.)

mod config;
pub use config::SignalConfig;

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::http::{text, Body};

/// The signaling server shared by all connections.
pub struct Hub {
    _config: SignalConfig,
}

impl Hub {
    pub fn new(config: SignalConfig) -> Self {
        Hub { _config: config }
    }

    /// Handles `GET /ws`.
    pub async fn upgrade(
        &self,
        _app: &App,
        _peer: SocketAddr,
        _req: Request<Incoming>,
    ) -> Response<Body> {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "signaling is not available yet",
        )
    }

    /// Appends this module's Prometheus counters.
    pub fn render_metrics(&self, _out: &mut String) {}
}
