//! Command-line interface: `peerbox [run]`, `peerbox check-config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Overrides, Sources, SYSTEM_CONFIG};

#[derive(Debug, Parser)]
#[command(
    name = "peerbox",
    version,
    about = "Self-hosted peer-to-peer file drop for your home network"
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

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Start the daemon (the default).
    Run,
    /// Validate the configuration and print the effective settings.
    CheckConfig,
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
}
