//! Catalog and hashing (benchmark item 8).
//!
//! 1. Writes 10,000 files (a mix of sizes, ~285 MB) in 100 folders, starts the real
//!    `peerbox::watch::Catalog` on them and times the initial scan and full hashing.
//! 2. Hashing throughput with a warm page cache, median of `runs` alternating runs each:
//!    our routine (`peerbox::watch::hash`) against `b3sum` on one big file and on the 10,000
//!    files, plus the routine it replaced (4 MiB reads + `update_rayon`) for reference.
//!
//! ```text
//! target/release/examples/bench_catalog [big_file_mib] [runs]     # 1024 5
//! ```
//! Prints `key value` lines for bench/sections/08-catalog.sh; asserts nothing.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use peerbox::watch::{hash, Catalog, Root, WatchConfig};

#[path = "support/daemon.rs"]
mod daemon;

/// CPU time of this process (all threads) in ms.
fn cpu_ms() -> u64 {
    (daemon::cpu_secs(std::process::id()) * 1000.0).round() as u64
}
use tokio_util::sync::CancellationToken;

const FILES: usize = 10_000;

/// Sizes of file `i`: 60 % 1-8 KiB, 30 % 16-32 KiB, 9 % 64-128 KiB, 1 % 1 MiB.
fn size_of(i: usize, r: u64) -> usize {
    match i % 100 {
        0 => 1 << 20,
        1..=9 => (64 << 10) + (r % (64 << 10)) as usize,
        10..=39 => (16 << 10) + (r % (16 << 10)) as usize,
        _ => 1024 + (r % (7 << 10)) as usize,
    }
}

fn make_files(dir: &Path) -> std::io::Result<(Vec<PathBuf>, u64)> {
    let mut pool = vec![0u8; 2 << 20];
    rand::fill(&mut pool[..]);
    let (mut paths, mut total) = (Vec::with_capacity(FILES), 0u64);
    for i in 0..FILES {
        let r = rand::random::<u64>();
        let sub = dir.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub)?;
        }
        let size = size_of(i, r);
        let at = (r >> 32) as usize % (pool.len() - size);
        let p = sub.join(format!("f{i:05}.bin"));
        let mut f = File::create(&p)?;
        f.write_all(&(i as u64).to_le_bytes())?;
        f.write_all(&pool[at..at + size - 8])?;
        total += size as u64;
        paths.push(p);
    }
    Ok((paths, total))
}

fn make_big(path: &Path, mib: usize) -> std::io::Result<()> {
    let mut block = vec![0u8; 1 << 20];
    rand::fill(&mut block[..]);
    let mut f = std::io::BufWriter::new(File::create(path)?);
    for i in 0..mib {
        block[..8].copy_from_slice(&(i as u64).to_le_bytes());
        f.write_all(&block)?;
    }
    f.flush()
}

fn ours(path: &Path) -> blake3::Hash {
    let f = File::open(path).expect("open");
    let len = f.metadata().expect("stat").len();
    hash::hash_file(&f, len).expect("hash")
}

/// The routine before `watch::hash`: sequential 4 MiB reads, `update_rayon` on each.
fn previous(path: &Path) -> blake3::Hash {
    let mut f = File::open(path).expect("open");
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            return h.finalize();
        }
        if n >= 1 << 20 {
            h.update_rayon(&buf[..n]);
        } else {
            h.update(&buf[..n]);
        }
    }
}

/// Many files the way the catalog does it: `threads` workers, one file at a time each.
fn ours_many(paths: &[PathBuf], threads: usize) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(p) = paths.get(next.fetch_add(1, Ordering::Relaxed)) {
                    ours(p);
                }
            });
        }
    });
}

fn b3sum(paths: &[PathBuf]) -> String {
    let out = Command::new("b3sum")
        .arg("--no-names")
        .args(paths)
        .output()
        .expect("b3sum (apt-get install b3sum)");
    assert!(out.status.success(), "b3sum failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn secs(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of `runs` alternating runs of each contender (after one warm-up each).
fn race(runs: usize, contenders: &mut [(&str, &mut dyn FnMut())]) -> Vec<f64> {
    for (_, f) in contenders.iter_mut() {
        f();
    }
    let mut times = vec![Vec::new(); contenders.len()];
    for _ in 0..runs {
        for (i, (_, f)) in contenders.iter_mut().enumerate() {
            times[i].push(secs(f));
        }
    }
    times.into_iter().map(median).collect()
}

/// Seconds of wall time and ms of CPU time a fresh catalog over `share` spends hashing its `files` (scan excluded).
async fn catalog_hashing(share: &Path, tmp: &Path, files: u64) -> (f64, u64) {
    let state = tempfile::tempdir_in(tmp).expect("state dir");
    let roots = vec![Root {
        dir: share.to_owned(),
        prefix: String::new(),
    }];
    let config = WatchConfig {
        settle_ms: 0,
        ..WatchConfig::default()
    };
    let stop = CancellationToken::new();
    let t = Instant::now();
    let catalog = Catalog::start(config, roots, state.path(), stop.clone())
        .await
        .expect("catalog");
    let scanned = t.elapsed();
    let cpu = cpu_ms();
    while catalog.hashes_computed() < files && t.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let hashing = ((t.elapsed() - scanned).as_secs_f64(), cpu_ms() - cpu);
    let mut rx = catalog.subscribe();
    drop(catalog);
    stop.cancel();
    while rx.changed().await.is_ok() {}
    hashing
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let big_mib: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1024);
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let tmp = tempfile::tempdir().expect("tempdir");
    let share = tmp.path().join("share");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).unwrap();

    let t = Instant::now();
    let (paths, total) = make_files(&share).expect("write files");
    println!("files {FILES}");
    println!("files_mb {:.1}", total as f64 / 1e6);
    println!("generate_secs {:.2}", t.elapsed().as_secs_f64());

    let config = WatchConfig {
        settle_ms: 0,
        ..WatchConfig::default()
    };
    let threads = config.hash_concurrency;
    println!("hash_concurrency {threads}");
    let roots = vec![Root {
        dir: share.clone(),
        prefix: String::new(),
    }];
    let stop = CancellationToken::new();
    let t = Instant::now();
    let catalog = Catalog::start(config, roots, &state, stop.clone())
        .await
        .expect("catalog");
    let scan_secs = t.elapsed().as_secs_f64();
    println!("scan_secs {scan_secs:.3}");
    let mut hashed_at = None;
    while catalog.hashes_computed() < FILES as u64 || catalog.snapshot().entries.len() < FILES {
        if hashed_at.is_none() && catalog.hashes_computed() >= FILES as u64 {
            hashed_at = Some(t.elapsed().as_secs_f64());
        }
        if t.elapsed() > Duration::from_secs(120) {
            println!("catalog_timeout 1");
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let full = t.elapsed().as_secs_f64();
    println!("catalog_hashed_secs {:.3}", hashed_at.unwrap_or(full));
    println!("catalog_offered {}", catalog.snapshot().entries.len());
    println!("catalog_full_secs {full:.3}");
    println!("catalog_mb_s {:.0}", total as f64 / 1e6 / full);
    stop.cancel();

    // Hashing inside the catalog against the bare routine, alternating, median of `runs` each
    // (after one warm-up each): a fresh catalog (empty state dir, so every file is hashed),
    // timed from the end of its scan (hashing starts as it ends) to the last hash.
    // CPU time too (this process's, all threads): on a busy machine wall time says more about
    // the neighbours than about the work.
    let (mut inside, mut bare) = (Vec::new(), Vec::new());
    let (mut inside_cpu, mut bare_cpu) = (0, 0);
    for i in 0..=runs {
        let (t, cpu) = catalog_hashing(&share, tmp.path(), FILES as u64).await;
        let c0 = cpu_ms();
        let b = secs(|| ours_many(&paths, threads));
        if i > 0 {
            inside.push(t);
            bare.push(b);
            inside_cpu += cpu;
            bare_cpu += cpu_ms() - c0;
        }
    }
    let (inside, bare) = (median(inside), median(bare));
    println!("catalog_hash_only_mb_s {:.0}", total as f64 / 1e6 / inside);
    println!("bare_alternating_mb_s {:.0}", total as f64 / 1e6 / bare);
    println!("catalog_vs_bare {:.2}", bare / inside);
    println!("catalog_cpu_ms {inside_cpu}");
    println!("bare_cpu_ms {bare_cpu}");
    println!(
        "catalog_vs_bare_cpu {:.2}",
        bare_cpu as f64 / inside_cpu.max(1) as f64
    );

    let big = tmp.path().join("big.bin");
    make_big(&big, big_mib).expect("write big file");
    let want = b3sum(std::slice::from_ref(&big));
    assert_eq!(ours(&big).to_hex().as_str(), want, "same hash as b3sum");
    let big_ref = std::slice::from_ref(&big);
    let t = race(
        runs,
        &mut [
            ("ours", &mut || {
                std::hint::black_box(ours(&big));
            }),
            ("b3sum", &mut || drop(b3sum(big_ref))),
            ("previous", &mut || {
                std::hint::black_box(previous(&big));
            }),
        ],
    );
    let mb = (big_mib << 20) as f64 / 1e6;
    println!("big_mib {big_mib}");
    println!("big_ours_mb_s {:.0}", mb / t[0]);
    println!("big_b3sum_mb_s {:.0}", mb / t[1]);
    println!("big_previous_mb_s {:.0}", mb / t[2]);
    println!("big_ratio {:.2}", t[1] / t[0]);
    println!("big_previous_ratio {:.2}", t[1] / t[2]);

    let t = race(
        runs,
        &mut [
            ("ours", &mut || ours_many(&paths, threads)),
            ("b3sum", &mut || drop(b3sum(&paths))),
        ],
    );
    let mb = total as f64 / 1e6;
    println!("many_ours_mb_s {:.0}", mb / t[0]);
    println!("many_b3sum_mb_s {:.0}", mb / t[1]);
    println!("many_ratio {:.2}", t[1] / t[0]);
    println!("runs {runs}");
}
