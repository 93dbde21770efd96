//! BLAKE3 of a file through `peerbox::watch::hash`, by file size, warm page cache; and with the
//! swarm's piece hashes from the same read (`digest_file`, what the catalog runs).
//!
//! `cargo bench --bench hash`. The end-to-end comparison with `b3sum` is in
//! `examples/bench_catalog.rs`; this isolates the routine so a change to it shows up here.

use std::fs::File;
use std::io::Write;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use peerbox::watch::hash;

fn file_of(len: usize) -> (tempfile::NamedTempFile, u64) {
    let mut data = vec![0u8; len];
    rand::fill(&mut data[..]);
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(&data).expect("write");
    (f, len as u64)
}

fn by_size(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash_file");
    for (label, len) in [
        ("4KiB", 4 << 10),
        ("64KiB", 64 << 10),
        ("1MiB", 1 << 20),
        ("16MiB", 16 << 20),
        ("256MiB", 256 << 20),
    ] {
        let (tmp, len) = file_of(len);
        let file = File::open(tmp.path()).expect("open");
        g.throughput(Throughput::Bytes(len));
        if len >= 16 << 20 {
            g.sample_size(10);
        }
        g.bench_with_input(BenchmarkId::from_parameter(label), &len, |b, &len| {
            b.iter(|| hash::hash_file(&file, len).expect("hash"))
        });
    }
    g.finish();
}

/// The catalog's routine: the file hash and the swarm's piece hashes from one read.
fn with_pieces(c: &mut Criterion) {
    let mut g = c.benchmark_group("digest_file");
    for (label, len) in [("16MiB", 16 << 20), ("256MiB", 256 << 20)] {
        let (tmp, len) = file_of(len);
        let file = File::open(tmp.path()).expect("open");
        g.throughput(Throughput::Bytes(len));
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::from_parameter(label), &len, |b, &len| {
            b.iter(|| hash::digest_file(&file, len).expect("hash"))
        });
    }
    g.finish();
}

criterion_group!(benches, by_size, with_pieces);
criterion_main!(benches);
