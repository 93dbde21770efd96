//! Transfer frames: header encode/decode of a full-size chunk. `cargo bench --bench frame`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use peerbox::seeder::frame;

fn encode_decode(c: &mut Criterion) {
    let data = vec![7u8; frame::MAX_PAYLOAD_BYTES];
    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("encode", |b| {
        b.iter(|| frame::encode(1, 1 << 30, std::hint::black_box(&data)))
    });
    let framed = frame::encode(1, 1 << 30, &data);
    g.bench_function("decode", |b| {
        b.iter(|| {
            frame::decode(std::hint::black_box(&framed))
                .expect("valid")
                .offset
        })
    });
    g.finish();
}

criterion_group!(benches, encode_decode);
criterion_main!(benches);
