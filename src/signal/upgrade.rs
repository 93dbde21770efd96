//! The HTTP side of `/ws`: everything that can be refused before a socket exists.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::protocol::{Kind, ServerMsg};
use super::state::AdmitError;
use super::{now_ms, session, Kill, Link, Outgoing, Shared};
use crate::app::App;
use crate::http::{empty, text, Body};

fn header(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn has_token(h: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Cross-site WebSocket hijacking guard. No Origin: not a browser, allowed. Otherwise the
/// Origin's host:port must equal the Host header, or the Origin must be listed.
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, extra: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim().trim_end_matches('/');
    if extra
        .iter()
        .any(|e| e.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let (scheme, authority) = match origin.split_once("://") {
        Some(p) => p,
        None => return false,
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let Some(host) = host else {
        return false;
    };
    let norm = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.strip_suffix(default_port).map(str::to_owned).unwrap_or(s)
    };
    !authority.is_empty() && norm(authority) == norm(host.trim())
}

/// The client's address for per-address limits: the TCP peer, or the last hop a trusted
/// proxy appended to `X-Forwarded-For`.
pub fn client_ip(h: &HeaderMap, peer: SocketAddr, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for {
        let last = h
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty());
        if let Some(ip) = last.and_then(|s| s.parse().ok()) {
            return ip;
        }
    }
    peer.ip()
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Compares without an early exit so the token cannot be guessed byte by byte from timing.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) fn upgrade(
    shared: &Arc<Shared>,
    app: &App,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let refuse = |status, msg: &str| {
        shared.metrics.refused_total.fetch_add(1, Ordering::Relaxed);
        if shared.logs.allow() {
            tracing::info!(%peer, %status, msg, "websocket upgrade refused");
        }
        text(status, msg)
    };
    let h = req.headers();
    if req.method() != Method::GET {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET to open a WebSocket",
        );
    }
    if !has_token(h, header::CONNECTION, "upgrade") || !has_token(h, header::UPGRADE, "websocket") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "this endpoint only speaks WebSocket",
        );
    }
    if header(h, header::SEC_WEBSOCKET_VERSION) != Some("13") {
        let mut res = refuse(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket version 13 is required",
        );
        res.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return res;
    }
    let Some(key) = h.get(header::SEC_WEBSOCKET_KEY) else {
        return refuse(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    let accept = derive_accept_key(key.as_bytes());
    let origin = header(h, header::ORIGIN);
    if !origin_allowed(
        origin,
        header(h, header::HOST),
        &shared.cfg().allowed_origins,
    ) {
        return refuse(
            StatusCode::FORBIDDEN,
            "this Origin may not open a WebSocket here",
        );
    }
    let kind = match header(h, header::AUTHORIZATION) {
        None => Kind::Browser,
        Some(v) => match v.strip_prefix("Bearer ") {
            Some(t) if same_secret(t.trim().as_bytes(), shared.seeder_token.as_bytes()) => {
                Kind::Seeder
            }
            _ => return refuse(StatusCode::UNAUTHORIZED, "invalid Authorization"),
        },
    };
    let query = req.uri().query().unwrap_or("");
    // Only the seeder picks its name; browsers get a generated one whatever they ask for.
    let wanted = match kind {
        Kind::Seeder => query_param(query, "name"),
        Kind::Browser => None,
    };
    let resume = query_param(query, "resume");
    let ip = client_ip(h, peer, shared.cfg().trust_forwarded_for);
    let cfg = shared.cfg();

    let (tx, rx) = mpsc::channel(cfg.outbound_queue_len);
    let kill = Arc::new(Kill::default());
    let id = {
        let inner = &mut *shared.lock();
        if inner.links.len() >= cfg.max_connections {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many connections");
        }
        if inner.per_addr.get(&ip).copied().unwrap_or(0) >= cfg.max_connections_per_address {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from your address",
            );
        }
        let mut admitted = match inner.state.admit(kind, wanted, resume, now_ms()) {
            Ok(a) => a,
            Err(e @ AdmitError::BadName) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
            Err(e @ AdmitError::NameTaken) => return refuse(StatusCode::CONFLICT, &e.to_string()),
        };
        if let (Some(issuer), Some(host)) = (shared.issuer.get(), header(h, header::HOST)) {
            if let ServerMsg::Welcome {
                ice_servers,
                name,
                kind: Kind::Browser,
                ..
            } = &mut admitted.welcome
            {
                ice_servers.extend(issuer.ice_servers(name, host));
            }
        }
        let welcome = serde_json::to_string(&admitted.welcome).unwrap_or_default();
        // The queue is empty, so the welcome always fits and is the first thing sent.
        let _ = tx.try_send(Outgoing::Text(welcome.into()));
        inner.links.insert(
            admitted.id,
            Link {
                tx: tx.clone(),
                kill: kill.clone(),
                addr: ip,
            },
        );
        *inner.per_addr.entry(ip).or_default() += 1;
        if let Some(old) = admitted.evicted {
            if let Some(link) = inner.links.get(&old) {
                link.kill.fire_soft(4000);
            }
        }
        shared.deliver(inner, admitted.outs, None);
        admitted.id
    };
    shared
        .metrics
        .connections_total
        .fetch_add(1, Ordering::Relaxed);

    let on_upgrade = hyper::upgrade::on(&mut req);
    let ctx = session::Ctx {
        shared: shared.clone(),
        id,
        tx,
        kill,
        shutdown: app.shutdown.clone(),
        tasks: app.tasks.clone(),
    };
    app.tasks.spawn(session::run(ctx, on_upgrade, rx));

    let mut res = Response::new(empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let none: &[String] = &[];
        assert!(origin_allowed(None, Some("x:1"), none));
        assert!(origin_allowed(
            Some("http://box.lan:8080"),
            Some("box.lan:8080"),
            none
        ));
        assert!(origin_allowed(
            Some("http://BOX.lan"),
            Some("box.lan:80"),
            none
        ));
        assert!(origin_allowed(
            Some("https://box.lan"),
            Some("box.lan"),
            none
        ));
        assert!(!origin_allowed(
            Some("http://evil.com"),
            Some("box.lan:8080"),
            none
        ));
        assert!(!origin_allowed(
            Some("http://box.lan:8081"),
            Some("box.lan:8080"),
            none
        ));
        assert!(!origin_allowed(Some("null"), Some("box.lan"), none));
        assert!(!origin_allowed(Some("http://box.lan"), None, none));
        let extra = ["https://app.example".to_string()];
        assert!(origin_allowed(
            Some("https://app.example"),
            Some("box.lan"),
            &extra
        ));
    }

    #[test]
    fn forwarded_for_only_when_trusted() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.9"),
        );
        let peer: SocketAddr = "127.0.0.1:5".parse().unwrap();
        assert_eq!(client_ip(&h, peer, false), peer.ip());
        assert_eq!(
            client_ip(&h, peer, true),
            "10.0.0.9".parse::<IpAddr>().unwrap()
        );
    }
}
