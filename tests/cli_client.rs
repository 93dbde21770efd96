//! The terminal client (`peerbox ls|get|send URL ...`) as a user runs it: the real binary as a
//! child process against a real daemon (signaling, WebRTC DataChannel, transfer protocol), with
//! hash checks, resume after a killed run, and the exit codes scripts rely on.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::daemon::BIN;
use common::{random_bytes, write_settled, TestServer};

async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec!["127.0.0.1".parse().unwrap()];
        c.seeder.progress_ack_bytes = 1 << 20;
        c.watch.settle_ms = 50;
    })
    .await
}

/// `peerbox ARGS...` with its client state in `state`.
fn cli(state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("XDG_STATE_HOME", state)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs the client to its end (killed after two minutes): exit code, stdout, stderr.
async fn run(state: &Path, args: &[&str]) -> (i32, String, String) {
    let mut child = cli(state, args).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("peerbox {args:?} never finished");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out: Output = child.wait_with_output().unwrap();
    let code = out.status.code().expect("exited by a signal");
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Kills a run of the client (as a closed laptop lid or Ctrl-C would end it).
fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn b3(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap())
        .to_hex()
        .to_string()
}

/// Waits until a file below `dir` whose name passes `pick` holds more than `bytes`.
async fn grown(dir: &Path, pick: impl Fn(&str) -> bool, bytes: u64) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if pick(&name) && e.metadata().is_ok_and(|m| m.len() > bytes) {
                return e.path();
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing grew past {bytes} in {dir:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_get_and_send_with_hash_checks() {
    let srv = server().await;
    let share = srv.dirs.path().join("share");
    write_settled(&share.join("album/day 1/beach.bin"), &random_bytes(3 << 20));
    write_settled(&share.join("album/cover.bin"), &random_bytes(70_000));
    write_settled(&share.join("top.txt"), b"hello\n");
    common::wait_offered(srv.addr, 3).await;
    let url = format!("http://{}/", srv.addr);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");

    let (code, out, err) = run(&state, &["ls", &url]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "70000\talbum/cover.bin\n{}\talbum/day 1/beach.bin\n6\ttop.txt\n",
            3 << 20
        )
    );

    let dest = tmp.path().join("down");
    let d = dest.to_str().unwrap();
    let (code, _, err) = run(&state, &["get", &url, "album", "top.txt", "-o", d]).await;
    assert_eq!(code, 0, "{err}");
    for rel in ["album/day 1/beach.bin", "album/cover.bin", "top.txt"] {
        assert_eq!(b3(&dest.join(rel)), b3(&share.join(rel)), "{rel}");
    }
    // Again: everything is already there.
    let (code, _, err) = run(&state, &["get", &url, "album", "-o", d]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches("already here").count(), 2, "{err}");
    // A different file in the way is not overwritten without --force.
    std::fs::write(dest.join("top.txt"), b"mine").unwrap();
    let (code, _, err) = run(&state, &["get", &url, "top.txt", "-o", d]).await;
    assert_eq!(code, 73, "{err}");
    assert_eq!(std::fs::read(dest.join("top.txt")).unwrap(), b"mine");
    let (code, _, err) = run(&state, &["get", &url, "top.txt", "-o", d, "--force"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(dest.join("top.txt")).unwrap(), b"hello\n");

    // Send a file and a folder: the folder keeps its tree in incoming.
    let src = tmp.path().join("src");
    write_settled(&src.join("one.bin"), &random_bytes(2 << 20));
    write_settled(&src.join("trip/a.txt"), b"a\n");
    write_settled(&src.join("trip/deep/b.bin"), &random_bytes(100_000));
    let (code, _, err) = run(
        &state,
        &[
            "send",
            &url,
            src.join("one.bin").to_str().unwrap(),
            src.join("trip").to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let incoming = srv.dirs.path().join("incoming");
    for (from, to) in [
        ("one.bin", "one.bin"),
        ("trip/a.txt", "trip/a.txt"),
        ("trip/deep/b.bin", "trip/deep/b.bin"),
    ] {
        assert_eq!(b3(&incoming.join(to)), b3(&src.join(from)), "{to}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_send_resume_after_a_killed_run() {
    let srv = server().await;
    let share = srv.dirs.path().join("share");
    write_settled(&share.join("big.bin"), &random_bytes(64 << 20));
    common::wait_offered(srv.addr, 1).await;
    let url = format!("http://{}/", srv.addr);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");

    // A download killed half way leaves big.bin.part; the next run continues from it.
    let dest = tmp.path().join("down");
    let d = dest.to_str().unwrap();
    let child = cli(&state, &["get", &url, "big.bin", "-o", d])
        .spawn()
        .unwrap();
    std::fs::create_dir_all(&dest).unwrap();
    grown(&dest, |n| n == "big.bin.part", 4 << 20).await;
    kill(child);
    let held = std::fs::metadata(dest.join("big.bin.part")).unwrap().len();
    assert!(held < 64 << 20, "the download was not cut off");
    let (code, _, err) = run(&state, &["get", &url, "big.bin", "-o", d]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("(resumed at "), "{err}");
    assert_eq!(b3(&dest.join("big.bin")), b3(&share.join("big.bin")));
    assert!(!dest.join("big.bin.part").exists());

    // An upload killed half way is continued by the daemon from its durable offset.
    let src = tmp.path().join("up.bin");
    std::fs::write(&src, random_bytes(64 << 20)).unwrap();
    let s = src.to_str().unwrap();
    let partial = srv.dirs.path().join("incoming/.peerbox-partial");
    let child = cli(&state, &["send", &url, s]).spawn().unwrap();
    grown(&partial, |n| !n.ends_with(".json"), 8 << 20).await;
    kill(child);
    let (code, _, err) = run(&state, &["send", &url, s]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("(resumed at "), "{err}");
    assert_eq!(b3(&srv.dirs.path().join("incoming/up.bin")), b3(&src));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_errors_with_exit_codes() {
    let srv = server().await;
    write_settled(&srv.dirs.path().join("share/a.txt"), b"a\n");
    common::wait_offered(srv.addr, 1).await;
    let url = format!("http://{}/", srv.addr);
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");

    // A URL that is not one.
    let (code, _, err) = run(&state, &["ls", "http:///"]).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("bad daemon URL"), "{err}");
    // Nothing listening there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let (code, _, err) = run(&state, &["ls", &gone, "--timeout", "5"]).await;
    assert_eq!(code, 69, "{err}");
    // A path the daemon does not offer: nothing is fetched, nothing created.
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    let (code, _, err) = run(&state, &["get", &url, "a.txt", "nope.bin", "-o", o]).await;
    assert_eq!(code, 66, "{err}");
    assert!(err.contains("nope.bin"), "{err}");
    assert!(!out.join("a.txt").exists());
    // A file to send that does not exist.
    let missing = tmp.path().join("missing.bin");
    let (code, _, err) = run(&state, &["send", &url, missing.to_str().unwrap()]).await;
    assert_eq!(code, 66, "{err}");
    assert!(err.contains("missing.bin"), "{err}");
    // A name the daemon refuses (a backslash, fine on Linux, not in the box); the other file
    // of the same run still goes.
    let odd = tmp.path().join("back\\slash.txt");
    let fine = tmp.path().join("fine.txt");
    std::fs::write(&odd, b"x").unwrap();
    std::fs::write(&fine, b"y").unwrap();
    let (code, _, err) = run(
        &state,
        &["send", &url, odd.to_str().unwrap(), fine.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 77, "{err}");
    assert!(err.contains("back\\slash.txt: not sent"), "{err}");
    assert_eq!(
        std::fs::read(srv.dirs.path().join("incoming/fine.txt")).unwrap(),
        b"y"
    );
    srv.stop().await;
}
