//! The real `peerbox` binary: config layering, exit codes, start-up errors, SIGTERM drain.

mod common;

use common::daemon::{launch, peerbox, BIN};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn effective(out: &Output) -> toml::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    toml::from_str(&String::from_utf8_lossy(&out.stdout)).expect("check-config prints TOML")
}

#[test]
fn config_layers_defaults_file_system_env_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let v = effective(&peerbox(d).arg("check-config").output().unwrap());
    assert_eq!(v["server"]["listen"].as_str(), Some("0.0.0.0:8080"));
    assert_eq!(v["storage"]["share_dir"].as_str(), Some("./share"));
    assert_eq!(v["log"]["level"].as_str(), Some("info"));

    let system = d.join("system.toml");
    std::fs::write(
        &system,
        "[server]\nlisten = \"127.0.0.1:7000\"\n[log]\nlevel = \"warn\"\n",
    )
    .unwrap();
    let file = d.join("peerbox.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:7001\"\nshutdown_grace_secs = 3\n",
    )
    .unwrap();

    let mut cmd = peerbox(d);
    cmd.args(["check-config", "--system-config"]).arg(&system);
    let v = effective(&cmd.output().unwrap());
    assert_eq!(v["server"]["listen"].as_str(), Some("127.0.0.1:7000"));
    assert_eq!(v["log"]["level"].as_str(), Some("warn"));

    let mut cmd = peerbox(d);
    cmd.args(["check-config", "--system-config"])
        .arg(&system)
        .arg("--config")
        .arg(&file);
    let v = effective(&cmd.output().unwrap());
    assert_eq!(
        v["server"]["listen"].as_str(),
        Some("127.0.0.1:7001"),
        "file beats system file"
    );
    assert_eq!(v["server"]["shutdown_grace_secs"].as_integer(), Some(3));
    assert_eq!(
        v["log"]["level"].as_str(),
        Some("warn"),
        "system file value kept"
    );

    let mut cmd = peerbox(d);
    cmd.args(["check-config", "--config"])
        .arg(&file)
        .env("PEERBOX_SERVER__LISTEN", "127.0.0.1:7002")
        .env("PEERBOX_STORAGE__SHARE_DIR", "/srv/share");
    let v = effective(&cmd.output().unwrap());
    assert_eq!(
        v["server"]["listen"].as_str(),
        Some("127.0.0.1:7002"),
        "env beats file"
    );
    assert_eq!(v["storage"]["share_dir"].as_str(), Some("/srv/share"));

    let mut cmd = peerbox(d);
    cmd.args(["check-config", "--config"])
        .arg(&file)
        .args([
            "--listen",
            "127.0.0.1:7003",
            "--share-dir",
            "/x/s",
            "--incoming-dir",
            "/x/i",
        ])
        .args(["--state-dir", "/x/st"])
        .env("PEERBOX_SERVER__LISTEN", "127.0.0.1:7002");
    let v = effective(&cmd.output().unwrap());
    assert_eq!(
        v["server"]["listen"].as_str(),
        Some("127.0.0.1:7003"),
        "flag beats env"
    );
    assert_eq!(v["storage"]["share_dir"].as_str(), Some("/x/s"));
    assert_eq!(v["storage"]["incoming_dir"].as_str(), Some("/x/i"));
    assert_eq!(v["storage"]["state_dir"].as_str(), Some("/x/st"));
}

#[test]
fn unknown_key_names_key_and_file_and_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 9\n",
    )
    .unwrap();
    let out = peerbox(dir.path())
        .arg("check-config")
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key `server.listen_port`:"), "{err}");
    assert!(err.contains("bad.toml"), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");

    let out = peerbox(dir.path())
        .arg("check-config")
        .env("PEERBOX_SERVR__LISTEN", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("environment variable PEERBOX_SERVR__LISTEN: unknown key `servr.listen`; did you mean `server.listen` (PEERBOX_SERVER__LISTEN)?"),
        "names the variable and the nearest key: {err}"
    );

    // A variable that merely shares the prefix is not configuration: the daemon starts.
    let out = peerbox(dir.path())
        .arg("check-config")
        .env("PEERBOX_HOME", "/home/someone")
        .env("PEERBOX_LOG__LEVEL", "debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("level = \"debug\""));

    let bad_value = dir.path().join("value.toml");
    std::fs::write(&bad_value, "[server]\nlisten = \"not an address\"\n").unwrap();
    let out = peerbox(dir.path())
        .args(["run", "--config"])
        .arg(&bad_value)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "run refuses it too");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.listen") && err.contains("value.toml"),
        "{err}"
    );

    let out = peerbox(dir.path())
        .arg("check-config")
        .arg("--config")
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn version_flag() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

fn assert_one_clear_line(out: &Output, needle: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("peerbox: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains(needle), "{err}");
}

#[test]
fn port_in_use_and_bad_directories_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = peerbox(dir.path())
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert_one_clear_line(&out, "already in use");
    assert_one_clear_line(&out, &addr);

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = peerbox(dir.path())
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(file.join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(73));
    assert_one_clear_line(&out, "state directory");
}

/// Starts `run --config conf` with stderr in `log`.
fn launch_with_config(dir: &Path, conf: &Path, log: &Path) -> (Child, SocketAddr) {
    launch(
        peerbox(dir)
            .args(["run", "--listen", "127.0.0.1:0", "--config"])
            .arg(conf)
            .stderr(std::fs::File::create(log).unwrap()),
    )
}

/// Waits until the log file contains `needle`; returns the whole log.
fn wait_for_log(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(needle) {
            return log;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Rewrites the config, sends SIGHUP and returns the daemon's "configuration reloaded" line.
fn reload(child: &Child, conf: &Path, text: &str, log: &Path) -> String {
    std::fs::write(conf, text).unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let log = wait_for_log(log, "configuration reloaded");
    let line = log.lines().find(|l| l.contains("configuration reloaded"));
    line.unwrap().to_owned()
}

/// Starts the daemon on a free port and waits until it answers.
fn start_daemon(dir: &Path, extra: &[&str]) -> (Child, SocketAddr) {
    launch(
        peerbox(dir)
            .args(["run", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("PEERBOX_SERVER__SHUTDOWN_GRACE_SECS", "20")
            .stderr(Stdio::piped()),
    )
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn sigterm_lets_a_slow_request_finish_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    // A large file served from --web-dir gives a response that takes a slow client a while.
    let web = dir.path().join("web");
    std::fs::create_dir(&web).unwrap();
    let big: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(web.join("big.bin"), &big).unwrap();
    let (mut child, addr) = start_daemon(dir.path(), &["--web-dir", "web"]);
    assert!(dir.path().join(".peerbox").is_dir(), "state dir created");
    assert!(dir.path().join("share").is_dir() && dir.path().join("incoming").is_dir());

    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow.write_all(b"GET /big.bin HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = vec![0u8; 4096];
    let mut got = slow.read(&mut raw).unwrap();
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still draining the slow download"
    );
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
    raw.truncate(got);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = slow.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        got += n;
        if got % (4 << 20) < n {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(raw.starts_with(b"HTTP/1.1 200"));
    assert!(raw[split + 4..] == big[..], "the whole body arrived intact");

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "daemon did not exit after draining"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("shutting down"), "{err}");
}

#[test]
fn idle_daemon_exits_0_on_sigterm_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _addr) = start_daemon(dir.path(), &[]);
    sigterm(&child);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            assert_eq!(s.code(), Some(0));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "idle daemon should not wait for the grace period"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_applies_log_level_and_names_what_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("peerbox.toml");
    std::fs::write(&conf, "[log]\nlevel = \"info\"\n").unwrap();
    let log_path = dir.path().join("stderr.log");
    let (mut child, _) = launch_with_config(dir.path(), &conf, &log_path);
    let wait_for = |needle: &str| wait_for_log(&log_path, needle);
    wait_for("listening");
    let line = reload(
        &child,
        &conf,
        "[log]\nlevel = \"debug\"\n[server]\nshutdown_grace_secs = 3\n",
        &log_path,
    );
    assert!(line.contains("applied=log.level"), "{line}");
    assert!(
        line.contains("need_restart=server.shutdown_grace_secs"),
        "{line}"
    );

    // A broken file on reload is refused and the daemon keeps running.
    std::fs::write(&conf, "[log]\nlevle = 1\n").unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    wait_for("reload refused");
    assert!(child.try_wait().unwrap().is_none());
    sigterm(&child);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn notifies_systemd_ready_then_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut child, addr) = launch(
        peerbox(dir.path())
            .args(["run", "--listen", "127.0.0.1:0"])
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "1000000")
            .stderr(Stdio::null()),
    );
    let mut buf = [0u8; 512];
    let mut recv = || {
        let n = sock.recv(&mut buf).expect("notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // Watchdog pings may come first; READY=1 must come (after the seeder joined its rooms).
    let ready = (0..10).map(|_| recv()).find(|m| m.contains("READY=1"));
    assert!(ready.is_some(), "no READY=1");
    // The daemon is reachable by the time it says it is ready.
    assert!(TcpStream::connect(addr).is_ok());
    let mut saw_watchdog = false;
    for _ in 0..5 {
        if recv().contains("WATCHDOG=1") {
            saw_watchdog = true;
            break;
        }
    }
    assert!(saw_watchdog, "watchdog pings when WATCHDOG_USEC is set");
    sigterm(&child);
    let mut saw_stopping = false;
    for _ in 0..10 {
        if recv().contains("STOPPING=1") {
            saw_stopping = true;
            break;
        }
    }
    assert!(saw_stopping);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn log_level_comes_from_config_and_rust_log_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let run = |rust_log: Option<&str>| {
        let mut cmd = peerbox(dir.path());
        cmd.args(["run", "--listen", "127.0.0.1:0"])
            .env("PEERBOX_LOG__LEVEL", "warn")
            .stderr(std::fs::File::create(&log_path).unwrap());
        if let Some(v) = rust_log {
            cmd.env("RUST_LOG", v);
        }
        let (mut child, _) = launch(&mut cmd);
        sigterm(&child);
        assert_eq!(child.wait().unwrap().code(), Some(0));
        std::fs::read_to_string(&log_path).unwrap()
    };
    let log = run(None);
    assert!(
        !log.contains("listening"),
        "log.level=warn hides info lines:\n{log}"
    );
    let log = run(Some("info"));
    assert!(
        log.contains("listening"),
        "RUST_LOG=info wins over log.level:\n{log}"
    );
}

#[test]
fn sighup_moves_the_seeder_to_new_rooms_and_applies_signaling_limits() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("peerbox.toml");
    std::fs::write(&conf, "[seeder]\nrooms = [\"home\"]\n").unwrap();
    let log_path = dir.path().join("stderr.log");
    let (mut child, addr) = launch_with_config(dir.path(), &conf, &log_path);
    let wait_for = |needle: &str| wait_for_log(&log_path, needle);
    wait_for("seeder joined its rooms");
    let line = reload(
        &child,
        &conf,
        "[seeder]\nrooms = [\"lab\"]\n[signal]\nmax_peers_per_room = 2\n",
        &log_path,
    );
    assert!(
        line.contains("seeder.rooms") && line.contains("signal.max_peers_per_room"),
        "{line}"
    );
    assert!(
        !line.contains("need_restart=seeder") && !line.contains("need_restart=signal"),
        "{line}"
    );
    wait_for("seeder rooms changed");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("ws://{addr}/ws");
        let (mut a, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        recv(&mut a).await; // welcome
        a.send(Message::text(r#"{"type":"join","room":"lab"}"#))
            .await
            .unwrap();
        let peers = recv(&mut a).await;
        assert_eq!(peers["type"], "peers", "{peers}");
        let kinds: Vec<&str> = peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["kind"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"seeder"),
            "the seeder moved to the new room: {peers}"
        );
        let (mut b, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        recv(&mut b).await; // welcome
        b.send(Message::text(r#"{"type":"join","room":"lab"}"#))
            .await
            .unwrap();
        let err = recv(&mut b).await;
        assert_eq!(
            err["code"], "room_full",
            "the new limit of 2 applies: {err}"
        );
    });
    sigterm(&child);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next signaling message as JSON.
async fn recv(ws: &mut Ws) -> serde_json::Value {
    use futures_util::StreamExt;
    let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    serde_json::from_str(m.to_text().unwrap()).unwrap()
}
