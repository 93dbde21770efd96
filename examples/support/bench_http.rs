//! The HTTP side shared by the transport benches (`peer_bench`, `peer_bench_webrtc_rs`): serves
//! `peer_bench.html` and `POST /offer?size=N` (non-trickle SDP exchange), so both stacks are
//! driven by the very same page and only the server's WebRTC stack differs.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const PAGE: &str = include_str!("../peer_bench.html");
/// Bytes per DataChannel message, header included (the transfer protocol's limit).
pub const FRAME: usize = 65536;
/// The chunk frame header of docs/protocol.md (kind, transfer id, offset).
pub const HEADER: usize = 13;

/// The address to serve on and bind UDP to: the first argument, else the test namespace's.
pub fn ip_arg() -> IpAddr {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "10.77.0.1".into())
        .parse()
        .expect("an IP address")
}

/// Byte `i` of the stream; the page checks bytes against the same formula.
pub fn pattern(i: u64) -> u8 {
    ((i.wrapping_mul(7)) % 251) as u8
}

/// One chunk frame carrying the pattern bytes `offset..offset + n`.
pub fn frame(offset: u64, n: usize) -> Vec<u8> {
    let mut frame = vec![0u8; HEADER + n];
    frame[0] = 1;
    frame[5..13].copy_from_slice(&offset.to_be_bytes());
    for (k, b) in frame[HEADER..].iter_mut().enumerate() {
        *b = pattern(offset + k as u64);
    }
    frame
}

/// A browser's offer: the SDP, the byte count the page asked for, and a unique remote name.
pub struct Offer {
    pub remote: String,
    pub size: u64,
    pub sdp: String,
}

/// Serves the page and the offer endpoint on `ip` (any port) forever; prints
/// `listening on http://…/` once bound. `answer` turns an offer into answer SDP (or `error: …`).
pub async fn serve<F, Fut>(ip: IpAddr, answer: F)
where
    F: Fn(Offer) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    let answer = Arc::new(answer);
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .await
        .unwrap();
    println!("listening on http://{}/", listener.local_addr().unwrap());
    let mut next = 0u64;
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let answer = answer.clone();
        next += 1;
        let conn = next;
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let answer = answer.clone();
                async move {
                    if req.method() == hyper::Method::GET {
                        let mut res = Response::new(Full::new(Bytes::from(PAGE)));
                        res.headers_mut()
                            .insert("content-type", "text/html".parse().unwrap());
                        return Ok::<_, Infallible>(res);
                    }
                    let size: u64 = req
                        .uri()
                        .query()
                        .and_then(|q| q.strip_prefix("size="))
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(1 << 20);
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let offer = Offer {
                        remote: format!("browser-{conn}-{}", nanos()),
                        size,
                        sdp: String::from_utf8_lossy(&body).into_owned(),
                    };
                    Ok(Response::new(Full::new(Bytes::from(answer(offer).await))))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Counts an upload's bytes; true once `size` have arrived (the server then answers `done`).
pub fn count_upload(got: &mut u64, size: u64, data: &[u8]) -> bool {
    let before = *got;
    *got += data.len().saturating_sub(HEADER) as u64;
    before < size && *got >= size
}
