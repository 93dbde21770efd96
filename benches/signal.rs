//! The signaling hot path per message: parsing a client's `signal` strictly and building the
//! forwarded one. `cargo bench --bench signal`.

use criterion::{criterion_group, criterion_main, Criterion};
use peerbox::signal::protocol::{self, ServerMsg, Signal};

const CANDIDATE: &str = r#"{"type":"signal","to":"brave-otter","signal":{"kind":"candidate","candidate":"candidate:842163049 1 udp 1677729535 192.168.1.20 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}}"#;

fn parse_and_forward(c: &mut Criterion) {
    c.bench_function("parse_signal_candidate", |b| {
        b.iter(|| protocol::parse(std::hint::black_box(CANDIDATE)).expect("valid"))
    });
    let signal = Signal::Candidate {
        candidate: "candidate:842163049 1 udp 1677729535 192.168.1.20 50000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: Some("abcd".into()),
    };
    c.bench_function("serialize_forwarded_signal", |b| {
        b.iter(|| {
            let m = ServerMsg::Signal {
                from: "calm-heron".into(),
                signal: signal.clone(),
            };
            serde_json::to_string(&m).expect("serializable")
        })
    });
}

criterion_group!(benches, parse_and_forward);
criterion_main!(benches);
