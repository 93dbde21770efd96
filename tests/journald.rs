//! Under systemd the daemon logs natively to journald with structured fields.
//!
//! The journal is the OS boundary here: inside a private user+mount namespace a tmpfs covers
//! /run/systemd/journal and a small receiver binds the journal socket there, then starts the
//! real binary with `JOURNAL_STREAM` naming its stderr, as systemd would.

use std::process::Command;

const RECEIVER: &str = r#"
import json, os, signal, socket, subprocess, sys, time
bin_path, port = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("/run/systemd/journal/socket")
sock.settimeout(0.2)
err = open("/tmp/peerbox-journal-test-stderr", "w+")
st = os.fstat(err.fileno())
env = {k: v for k, v in os.environ.items() if not k.startswith("PEERBOX_") and k != "RUST_LOG"}
env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
p = subprocess.Popen([bin_path, "run", "--system-config", "/nonexistent", "--listen", "127.0.0.1:" + port,
                      "--state-dir", "/tmp/pbj/state", "--share-dir", "/tmp/pbj/share",
                      "--incoming-dir", "/tmp/pbj/incoming"],
                     stdout=subprocess.DEVNULL, stderr=err, env=env)

def parse(data):
    rec, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            rec[k.decode()] = v.decode("utf-8", "replace")
            i = nl + 1
        else:
            n = int.from_bytes(data[nl + 1:nl + 9], "little")
            rec[line.decode()] = data[nl + 9:nl + 9 + n].decode("utf-8", "replace")
            i = nl + 9 + n + 1
    return rec

records, deadline, stopped = [], time.time() + 15, False
while time.time() < deadline:
    try:
        records.append(parse(sock.recv(65536)))
    except socket.timeout:
        pass
    if not stopped and any("listening" in r.get("MESSAGE", "") for r in records):
        p.send_signal(signal.SIGTERM)
        stopped = True
    if stopped and p.poll() is not None:
        break
err.seek(0)
print(json.dumps({"records": records, "exit": p.wait(), "stderr": err.read()}))
"#;

#[test]
fn logs_natively_to_journald_with_structured_fields() {
    // Port 0: the daemon picks a free port, so no other test can race for it.
    let port = "0".to_string();
    let script = "mkdir -p /run/systemd/journal && mount -t tmpfs none /run/systemd/journal \
                  && rm -rf /tmp/pbj && exec python3 -c \"$0\" \"$1\" \"$2\"";
    let out = Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            script,
            RECEIVER,
            env!("CARGO_BIN_EXE_peerbox"),
            &port,
        ])
        .output()
        .expect("unshare runs");
    assert!(
        out.status.success(),
        "namespace set-up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("receiver output");
    assert_eq!(v["exit"], 0, "{v}");
    let records = v["records"].as_array().unwrap();
    let listening = records
        .iter()
        .find(|r| {
            r["MESSAGE"]
                .as_str()
                .is_some_and(|m| m.starts_with("listening"))
        })
        .unwrap_or_else(|| panic!("no listening record in {v}"));
    let addr = listening["ADDR"].as_str().unwrap_or_default();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{listening}"
    );
    // systemd-journal-logger maps info to LOG_NOTICE.
    assert_eq!(listening["PRIORITY"], "5", "{listening}");
    assert_eq!(listening["SYSLOG_IDENTIFIER"], "peerbox", "{listening}");
    assert!(listening["CODE_FILE"].as_str().is_some(), "{listening}");
    assert!(
        records.iter().any(|r| r["MESSAGE"]
            .as_str()
            .is_some_and(|m| m.contains("shutting down"))),
        "{v}"
    );
    // Nothing is written twice: stderr stays quiet when the journal takes the records.
    assert_eq!(v["stderr"], "", "{v}");
}
