//! The real `peerbox` binary as a child process, for tests that signal or kill it.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_peerbox");

/// A command with no system config, no inherited PEERBOX_* variables, run inside `dir`.
pub fn peerbox(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .arg("--system-config")
        .arg(dir.join("no-system-config.toml"))
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM");
    for (k, _) in std::env::vars() {
        if k.starts_with("PEERBOX_") {
            cmd.env_remove(k);
        }
    }
    // The TURN relay listens on the machine's own addresses by default: tests stay on loopback
    // (and two daemons at once would race for its port). The relay has its own tests.
    cmd.env("PEERBOX_TURN__ENABLED", "false");
    cmd
}

/// Spawns `cmd` (which listens on 127.0.0.1:0) and reads the bound address from the banner,
/// so no test races another for a port.
pub fn launch(cmd: &mut Command) -> (Child, SocketAddr) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("peerbox is running"), "{first}");
    let url = lines.next().unwrap().unwrap();
    let addr: SocketAddr = url
        .trim()
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("no address in {url:?}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "daemon never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, addr)
}
