//! The terminal client: `peerbox ls URL`, `peerbox get URL PATH...`, `peerbox send URL FILE...`,
//! on the library's client of the transfer protocol ([`crate::client`]): the same signaling,
//! DataChannel and messages a browser uses.
//!
//! Resumable: a download writes `<name>.part` and a later run continues from it; an upload cut
//! off is continued by the daemon from its durable offset when the same file is sent again
//! under the same peer name, which a resume token kept in the state directory gives back.
//! Exit codes (sysexits.h) let scripts tell causes apart; see [`Exit`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::{part_path, Client, ClientError, Options};
use crate::seeder::protocol::FileInfo;

use super::files::{holds, select, sources};
use super::progress::{human_bytes, Progress};

/// What a run of the terminal client ended with, as the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    /// A malformed URL or arguments (EX_USAGE).
    Usage = 64,
    /// Received bytes did not match the catalog's hash (EX_DATAERR).
    Data = 65,
    /// A path not in the daemon's catalog, or a local file to send that does not exist
    /// (EX_NOINPUT).
    NoInput = 66,
    /// No daemon at that address, or no seeding peer in the room (EX_UNAVAILABLE).
    Unavailable = 69,
    /// A local file that cannot be created (exists and differs; EX_CANTCREAT).
    CantCreate = 73,
    /// Reading or writing a local file failed (EX_IOERR).
    Io = 74,
    /// The connection was lost or timed out; running again resumes (EX_TEMPFAIL).
    TempFail = 75,
    /// The daemon broke the protocol (EX_PROTOCOL).
    Protocol = 76,
    /// The daemon refused: a name it does not take, no space, too busy (EX_NOPERM).
    Refused = 77,
}

/// The text for `peerbox --help`.
pub const EXIT_HELP: &str = "\
Exit codes of ls, get and send (sysexits.h):
  0   done
  64  bad URL or arguments
  65  received bytes do not match the daemon's hash (nothing kept)
  66  a PATH not offered by the daemon, or a FILE to send that does not exist
  69  no daemon at URL, or no seeding peer in the room
  73  a file to download exists and differs (--force overwrites)
  74  a local read or write failed
  75  connection lost or timed out: run the same command again to resume
  76  the daemon broke the protocol
  77  the daemon refused (a name it does not take, no space, busy)";

/// An error of one command, with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub(super) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let exit = match &e {
            ClientError::Url(_) => Exit::Usage,
            ClientError::Signaling(_) | ClientError::NoSeeder(_) => Exit::Unavailable,
            ClientError::Peer(_) | ClientError::Closed(_) | ClientError::Timeout(_) => {
                Exit::TempFail
            }
            ClientError::Refused(_) => Exit::Refused,
            ClientError::Transfer(m) if m.contains("hash") => Exit::Data,
            ClientError::Transfer(_) => Exit::Protocol,
            ClientError::Io(..) => Exit::Io,
        };
        Failure::new(exit, e.to_string())
    }
}

/// How the commands connect.
#[derive(Debug, Clone)]
pub struct Connect {
    pub url: String,
    /// How long connecting, and each wait for the daemon, may take.
    pub timeout: Duration,
    /// Where the resume token for uploads is kept (`None`: no resume across runs).
    pub state_dir: Option<PathBuf>,
}

impl Connect {
    async fn open(&self, resume: Option<String>) -> Result<Client, Failure> {
        let opts = Options {
            resume,
            timeout: self.timeout,
            ..Options::default()
        };
        Ok(Client::connect(&self.url, opts).await?)
    }
}

/// The default directory for the client's resume tokens: `$XDG_STATE_HOME/peerbox`, else
/// `~/.local/state/peerbox`.
pub fn default_state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state"))
        })?;
    Some(base.join("peerbox"))
}

/// Runs a command on a runtime of its own; prints errors and returns the exit code.
pub fn run(command: impl std::future::Future<Output = Result<(), Failure>>) -> u8 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peerbox: cannot start the async runtime: {e}");
            return 71;
        }
    };
    match rt.block_on(command) {
        Ok(()) => Exit::Ok as u8,
        Err(f) => {
            eprintln!("peerbox: {}", f.message);
            f.exit as u8
        }
    }
}

/// Waits until a whole list of the seeder's files has arrived (it follows `hello`).
async fn whole_catalog(c: &mut Client) -> Result<Vec<FileInfo>, Failure> {
    Ok(c.wait_catalog().await?.files.values().cloned().collect())
}

/// `peerbox ls URL`: one line per offered file, `SIZE<TAB>PATH` (bytes).
pub async fn ls(conn: &Connect) -> Result<(), Failure> {
    let mut c = conn.open(None).await?;
    let files = whole_catalog(&mut c).await;
    c.close().await;
    let mut files = files?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::new();
    for f in &files {
        out.push_str(&format!("{}\t{}\n", f.size, f.path));
    }
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .map_err(|e| Failure::new(Exit::Io, format!("stdout: {e}")))
}

/// `peerbox get URL PATH... [-o DIR]`.
pub async fn get(conn: &Connect, paths: &[String], out: &Path, force: bool) -> Result<(), Failure> {
    let mut c = conn.open(None).await?;
    let result = get_on(&mut c, paths, out, force).await;
    c.close().await;
    result
}

async fn get_on(c: &mut Client, paths: &[String], out: &Path, force: bool) -> Result<(), Failure> {
    let catalog = whole_catalog(c).await?;
    let chosen = select(&catalog, paths, out)?;
    for (file, dest) in &chosen {
        if dest.exists() {
            if holds(dest, file)? {
                eprintln!("{}: already here", dest.display());
                continue;
            }
            if !force {
                return Err(Failure::new(
                    Exit::CantCreate,
                    format!("{} exists and differs (--force overwrites)", dest.display()),
                ));
            }
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::new(Exit::CantCreate, format!("{}: {e}", dir.display())))?;
        }
        let held = std::fs::metadata(part_path(dest)).map_or(0, |m| m.len().min(file.size));
        let mut bar = Progress::new(&file.path, file.size, held);
        let done = c.download(file, dest, |n, _| bar.update(n)).await?;
        bar.finish(&format!(
            "{}: {} verified{}",
            dest.display(),
            human_bytes(file.size),
            if done.resumed_at > 0 {
                format!(" (resumed at {})", human_bytes(done.resumed_at))
            } else {
                String::new()
            }
        ));
    }
    Ok(())
}

/// `peerbox send URL FILE...`.
pub async fn send(conn: &Connect, files: &[PathBuf]) -> Result<(), Failure> {
    let list = sources(files)?;
    // The peer name uploads belong to, kept across runs so a cut-off upload resumes; one run
    // at a time holds it (a second one, in parallel, goes under a name of its own).
    let token = conn
        .state_dir
        .as_deref()
        .and_then(|d| TokenFile::open(d, &conn.url));
    let mut c = conn.open(token.as_ref().and_then(|t| t.read())).await?;
    if let Some(t) = &token {
        t.write(c.resume_token());
    }
    let mut result = Ok(());
    for (path, name, folder) in &list {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let label = folder
            .as_ref()
            .map_or(name.clone(), |f| format!("{f}/{name}"));
        let mut bar = Progress::new(&label, size, 0);
        match c
            .upload(path, name, folder.as_deref(), |n, _| bar.update(n))
            .await
        {
            Ok(up) => bar.finish(&format!(
                "{}: {} sent, saved as {}{}",
                path.display(),
                human_bytes(size),
                up.saved_as,
                if up.resumed_at > 0 {
                    format!(" (resumed at {})", human_bytes(up.resumed_at))
                } else {
                    String::new()
                }
            )),
            Err(e) => {
                let refused = matches!(e, ClientError::Refused(_));
                bar.finish(&format!("{}: not sent: {e}", path.display()));
                let exit = Failure::from(e).exit;
                result = Err(Failure::new(exit, "not every file was sent (see above)"));
                // A refusal is about this file: the others still go.
                if !refused {
                    break;
                }
            }
        }
    }
    c.close().await;
    result
}

/// The resume token of uploads to one daemon and room, in a file locked while a run uses it.
struct TokenFile {
    file: std::fs::File,
}

impl TokenFile {
    fn open(dir: &Path, url: &str) -> Option<TokenFile> {
        let dir = dir.join("client");
        std::fs::create_dir_all(&dir).ok()?;
        let key = blake3::hash(url.trim_end_matches('/').as_bytes()).to_hex();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(&key[..16]))
            .ok()?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
        Some(TokenFile { file })
    }

    fn read(&self) -> Option<String> {
        use std::io::{Read, Seek};
        let mut f = &self.file;
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0)).ok()?;
        f.read_to_string(&mut s).ok()?;
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    }

    fn write(&self, token: &str) {
        use std::io::{Seek, Write};
        let mut f = &self.file;
        let _ = f.set_len(0);
        let _ = f.seek(std::io::SeekFrom::Start(0));
        let _ = f.write_all(token.as_bytes());
        let _ = f.sync_data();
    }
}
