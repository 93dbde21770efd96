//! Checks made before routing: the Host allow-list and the plain-HTTP to HTTPS redirect.

use std::net::IpAddr;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::{text, Body};
use crate::app::App;

/// DNS rebinding: a page on another site whose name now resolves to this box sends requests
/// with its own name in `Host`. With `server.allowed_hosts` set, only those names, IP literals
/// and localhost get through; everything else is 403, before any route runs.
pub fn host_refused(app: &App, req: &Request<Incoming>) -> Option<Response<Body>> {
    let allowed = &app.config.server.allowed_hosts;
    if allowed.is_empty() {
        return None;
    }
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return Some(text(StatusCode::BAD_REQUEST, "missing Host header"));
    };
    let name = host_without_port(host);
    let ok = name.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed
            .iter()
            .any(|a| a.trim_end_matches('.').eq_ignore_ascii_case(name));
    if ok {
        return None;
    }
    tracing::debug!(host = %host.escape_debug(), "request refused: Host not in server.allowed_hosts");
    Some(text(
        StatusCode::FORBIDDEN,
        "this host name is not allowed (server.allowed_hosts)",
    ))
}

/// `[::1]:8080` -> `::1`, `box.lan.:8080` -> `box.lan`.
fn host_without_port(host: &str) -> &str {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.trim_end_matches('.')
}

/// With TLS on, a phone that typed `http://` is sent to the same port over https, where it gets
/// a secure context. Machine endpoints (signaling, health, metrics, file downloads) are served
/// on plain HTTP as well: the seeder's loopback WebSocket and monitoring use them.
pub fn https_redirect(app: &App, secure: bool, req: &Request<Incoming>) -> Option<Response<Body>> {
    let tls = &app.config.server.tls;
    if secure || !tls.enabled || !tls.redirect_http {
        return None;
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let path = req.uri().path();
    if matches!(
        path,
        "/ws" | "/healthz" | "/metrics" | "/client.json" | "/catalog.json"
    ) || path.starts_with("/files/")
        || path.starts_with("/uploads")
    {
        return None;
    }
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = HeaderValue::from_str(&format!("https://{host}{target}")).ok()?;
    let mut res = text(StatusCode::PERMANENT_REDIRECT, "use https");
    res.headers_mut().insert(header::LOCATION, location);
    Some(res)
}

#[cfg(test)]
mod tests {
    use super::host_without_port;

    #[test]
    fn ports_and_brackets_are_stripped() {
        for (h, want) in [
            ("box.lan:8080", "box.lan"),
            ("box.lan", "box.lan"),
            ("box.lan.:80", "box.lan"),
            ("[::1]:8080", "::1"),
            ("[fe80::1]", "fe80::1"),
            ("10.0.0.2:1", "10.0.0.2"),
        ] {
            assert_eq!(host_without_port(h), want);
        }
    }
}
