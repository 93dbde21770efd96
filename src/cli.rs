//! Command-line interface: `peerbox [run]`, `peerbox check-config`, and the terminal client
//! `peerbox ls|get|send URL ...` ([`remote`]).

mod files;
mod progress;
pub mod remote;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{Overrides, Sources, SYSTEM_CONFIG};

#[derive(Debug, Parser)]
#[command(
    name = "peerbox",
    version,
    about = "Self-hosted peer-to-peer file drop for your home network",
    after_help = remote::EXIT_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// A TOML config file layered over /etc/peerbox/config.toml.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address and port to listen on (overrides every other setting).
    #[arg(long, global = true, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Directory whose files are offered to the rooms.
    #[arg(long, global = true, value_name = "DIR")]
    pub share_dir: Option<PathBuf>,
    /// Directory that received files are saved into.
    #[arg(long, global = true, value_name = "DIR")]
    pub incoming_dir: Option<PathBuf>,
    /// Directory for the hash cache, partial uploads and certificates.
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Serve the web client from this directory instead of the embedded copy.
    #[arg(long, global = true, value_name = "DIR")]
    pub web_dir: Option<PathBuf>,
    /// The system-wide config file (read only when it exists).
    #[arg(long, global = true, value_name = "PATH", default_value = SYSTEM_CONFIG, hide = true)]
    pub system_config: PathBuf,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Start the daemon (the default).
    Run,
    /// Validate the configuration and print the effective settings.
    CheckConfig,
    /// List the files a peerbox daemon offers: SIZE<TAB>PATH, one line each.
    #[command(after_help = remote::EXIT_HELP)]
    Ls(Remote),
    /// Download files or folders (as `ls` names them) from a daemon, hash-checked; an
    /// interrupted download resumes from its `.part` file when run again.
    #[command(after_help = remote::EXIT_HELP)]
    Get {
        #[command(flatten)]
        remote: Remote,
        /// Files or folders to fetch (a folder brings everything below it, in its tree).
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
        /// Directory to save into.
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        output: PathBuf,
        /// Overwrite a file that exists and differs.
        #[arg(long)]
        force: bool,
    },
    /// Send files or folders (kept as a tree) to a daemon's incoming folder; an interrupted
    /// upload resumes when the same command runs again.
    #[command(after_help = remote::EXIT_HELP)]
    Send {
        #[command(flatten)]
        remote: Remote,
        /// Files or folders to send.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// Where the terminal client connects.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// The daemon's address as the banner prints it (`http://192.168.1.20:8080/`;
    /// `?room=NAME` for another room than `home`).
    #[arg(value_name = "URL")]
    pub url: String,
    /// Seconds that connecting, and each wait for the daemon, may take.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
}

impl Cli {
    pub fn sources(&self) -> Sources {
        Sources {
            system_file: Some(self.system_config.clone()),
            user_file: self.config.clone(),
            overrides: Overrides {
                listen: self.listen,
                share_dir: self.share_dir.clone(),
                incoming_dir: self.incoming_dir.clone(),
                state_dir: self.state_dir.clone(),
                web_dir: self.web_dir.clone(),
            },
        }
    }

    /// Runs `ls`, `get` or `send` and returns the exit code; `None` for the daemon's commands.
    pub fn run_client(&self) -> Option<u8> {
        let conn = |r: &Remote| remote::Connect {
            url: r.url.clone(),
            timeout: Duration::from_secs(r.timeout.max(1)),
            state_dir: remote::default_state_dir(),
        };
        Some(match self.command.as_ref()? {
            Command::Run | Command::CheckConfig => return None,
            Command::Ls(r) => remote::run(async { remote::ls(&conn(r)).await }),
            Command::Get {
                remote: r,
                paths,
                output,
                force,
            } => remote::run(async { remote::get(&conn(r), paths, output, *force).await }),
            Command::Send { remote: r, files } => {
                remote::run(async { remote::send(&conn(r), files).await })
            }
        })
    }
}
