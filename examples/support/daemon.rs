//! The release `peerbox` binary as a child process on loopback, for bench programs.
//!
//! A separate process rather than an in-process server so its memory can be read from /proc
//! without the bench's own clients in it. Storage lives in a temp dir removed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Daemon {
    /// Starts `bin` with `PEERBOX_*` overrides `env` and waits until it accepts TCP.
    pub fn start(bin: &Path, env: &[(&str, String)]) -> std::io::Result<Daemon> {
        let dir = tempfile::tempdir()?;
        for d in ["share", "incoming", "state"] {
            std::fs::create_dir_all(dir.path().join(d))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", &addr, "--system-config", "/nonexistent"])
            .arg("--share-dir")
            .arg(dir.path().join("share"))
            .arg("--incoming-dir")
            .arg(dir.path().join("incoming"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .env("PEERBOX_LOG__LEVEL", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn()?;
        let d = Daemon { addr, dir, child };
        d.wait_ready(Duration::from_secs(10))?;
        Ok(d)
    }

    fn wait_ready(&self, limit: Duration) -> std::io::Result<()> {
        let start = Instant::now();
        loop {
            if std::net::TcpStream::connect(&self.addr).is_ok() {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(std::io::Error::other("peerbox did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn share(&self) -> PathBuf {
        self.dir.path().join("share")
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmRSS of a process in KiB; 0 once it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

/// CPU time a process used (utime + stime, all threads) in seconds, from /proc: what "idle"
/// checks read, never wall time. 0 once it is gone.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / clock_ticks()
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on Linux in practice).
fn clock_ticks() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// VmHWM (peak RSS) of a process in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmHWM:")
}

fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Lets one process hold thousands of sockets; the default soft limit is often 1024.
pub fn raise_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    let want = Rlimit {
        current: cur.maximum,
        maximum: cur.maximum,
    };
    let _ = setrlimit(Resource::Nofile, want);
}
