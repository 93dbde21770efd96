//! Layered configuration.
//!
//! Precedence, lowest first: built-in defaults, `/etc/peerbox/config.toml` (when present), the
//! `--config` file, `PEERBOX_*` environment variables (nested keys joined with `__`; see
//! [`env`] for variables that only share the prefix), CLI flags.
//! Every section denies unknown keys so that a typo is an error naming the key and its source
//! rather than a silently ignored setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

mod env;

use crate::seeder::SeederConfig;
use crate::signal::SignalConfig;
use crate::watch::WatchConfig;

/// The system-wide file read when it exists; packaged installs put their settings here.
pub const SYSTEM_CONFIG: &str = "/etc/peerbox/config.toml";

/// The whole effective configuration of the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub log: LogConfig,
    pub signal: SignalConfig,
    pub watch: WatchConfig,
    pub seeder: SeederConfig,
    pub turn: crate::turn::TurnConfig,
    pub thumbnails: crate::thumbs::ThumbsConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port of the one HTTP/WebSocket listener.
    pub listen: SocketAddr,
    /// How long in-flight requests and sessions may run on after SIGTERM/SIGINT.
    pub shutdown_grace_secs: u64,
    /// Serve the web bundle from this directory instead of the embedded copy (UI development).
    pub web_dir: Option<PathBuf>,
    /// A client must send its complete request head within this time.
    pub header_read_timeout_secs: u64,
    /// Upper bound on the bytes of one request head; larger heads are refused.
    pub max_header_bytes: usize,
    /// Open HTTP connections in total; further connections are closed at accept.
    pub max_connections: usize,
    /// Serve shared files over plain HTTP at `/files/<catalog id>` (with Range and ETag).
    pub http_downloads: bool,
    /// How the web client uses plain HTTP for transfers with this box (`/files/<id>` downloads
    /// and `/uploads` tus uploads): as a fallback when WebRTC fails, always, or never.
    pub http_transfers: HttpTransfers,
    /// Folder downloads (`/archive?folder=`, one zip each) streaming at once; 0 turns them off.
    pub max_folder_downloads: usize,
    /// Host names (besides IP literals and localhost) that requests may carry in `Host`;
    /// empty allows any. Guards against DNS rebinding.
    pub allowed_hosts: Vec<String>,
    pub tls: crate::http::tls::TlsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            shutdown_grace_secs: 10,
            web_dir: None,
            header_read_timeout_secs: 10,
            max_header_bytes: 16 * 1024,
            max_connections: 2048,
            http_downloads: true,
            http_transfers: HttpTransfers::Fallback,
            max_folder_downloads: 4,
            allowed_hosts: Vec::new(),
            tls: Default::default(),
        }
    }
}

/// When the web client moves files with the appliance over plain HTTP instead of WebRTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpTransfers {
    /// WebRTC first; HTTP when ICE or DTLS to the seeder fails or times out.
    Fallback,
    /// HTTP always for transfers with the appliance (browser-to-browser stays WebRTC).
    Prefer,
    /// Never: no HTTP transfers from the page, and `/uploads` answers 404.
    Off,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Files dropped here are offered to the rooms.
    pub share_dir: PathBuf,
    /// Files that browsers send are saved here.
    pub incoming_dir: PathBuf,
    /// Hash cache, partial uploads, certificates.
    pub state_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            share_dir: PathBuf::from("./share"),
            incoming_dir: PathBuf::from("./incoming"),
            state_dir: PathBuf::from("./.peerbox"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter directive (`info`, `peerbox=debug,hyper=warn`); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

/// Values given on the command line; they override every other layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub share_dir: Option<PathBuf>,
    pub incoming_dir: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub web_dir: Option<PathBuf>,
}

impl Overrides {
    fn into_figment(self) -> Figment {
        let mut f = Figment::new();
        if let Some(v) = self.listen {
            f = f.merge(Serialized::default("server.listen", v));
        }
        if let Some(v) = self.web_dir {
            f = f.merge(Serialized::default("server.web_dir", v));
        }
        if let Some(v) = self.share_dir {
            f = f.merge(Serialized::default("storage.share_dir", v));
        }
        if let Some(v) = self.incoming_dir {
            f = f.merge(Serialized::default("storage.incoming_dir", v));
        }
        if let Some(v) = self.state_dir {
            f = f.merge(Serialized::default("storage.state_dir", v));
        }
        f
    }
}

/// A configuration that could not be loaded, worded for one line on a terminal.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Where the layers come from; tests point `system_file` at a temp file or at nothing.
#[derive(Debug, Clone)]
pub struct Sources {
    pub system_file: Option<PathBuf>,
    pub user_file: Option<PathBuf>,
    pub overrides: Overrides,
}

impl Sources {
    /// The layers a normal start uses.
    pub fn standard(user_file: Option<PathBuf>, overrides: Overrides) -> Self {
        Self {
            system_file: Some(PathBuf::from(SYSTEM_CONFIG)),
            user_file,
            overrides,
        }
    }

    pub fn figment(&self) -> Result<Figment, ConfigError> {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        if let Some(sys) = &self.system_file {
            if sys.exists() {
                f = f.merge(Toml::file_exact(checked_readable(sys)?));
            }
        }
        if let Some(user) = &self.user_file {
            f = f.merge(Toml::file_exact(checked_readable(user)?));
        }
        let keys = env::classify(std::env::vars())?.keys;
        f = f.merge(
            Env::prefixed(env::PREFIX)
                .split("__")
                .filter(move |k| keys.iter().any(|x| k == x.as_str())),
        );
        Ok(f.merge(self.overrides.clone().into_figment()))
    }

    /// `PEERBOX_*` variables that set no configuration key and are not a typo of one; they are
    /// not applied, and the daemon says so once logging is up.
    pub fn ignored_env(&self) -> Vec<String> {
        env::classify(std::env::vars())
            .map(|e| e.ignored)
            .unwrap_or_default()
    }

    pub fn load(&self) -> Result<Config, ConfigError> {
        let config: Config = self
            .figment()?
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(&e)))?;
        config.validate()?;
        Ok(config)
    }
}

/// Figment reads a missing `--config` file as empty; an explicit file must exist and be readable.
fn checked_readable(path: &Path) -> Result<&Path, ConfigError> {
    std::fs::File::open(path)
        .map(|_| path)
        .map_err(|source| ConfigError::Unreadable {
            path: path.to_owned(),
            source,
        })
}

/// One line per error naming the key and where its value came from.
fn describe(err: &figment::Error) -> String {
    err.clone()
        .into_iter()
        .map(|e| {
            let mut path = e.path.clone();
            if let figment::error::Kind::UnknownField(field, _) = &e.kind {
                // Figment sometimes already ends the path with the unknown field.
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
            }
            let key = path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(src) => format!("{src}"),
                    None => m.name.to_string(),
                })
                .unwrap_or_else(|| "unknown source".into());
            let what = match &e.kind {
                figment::error::Kind::UnknownField(field, _) => format!("unknown key `{field}`"),
                other => other.to_string(),
            };
            if key.is_empty() {
                format!("{what} (from {source})")
            } else {
                format!("key `{key}`: {what} (from {source})")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Config {
    /// Checks that serde cannot express: relations between values and non-zero limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::Invalid(format!("key `{key}`: {why}")));
        // hyper refuses read buffers below 8 KiB.
        if self.server.max_header_bytes < 8192 {
            return bad("server.max_header_bytes", "must be at least 8192");
        }
        if self.server.max_connections == 0 {
            return bad("server.max_connections", "must be at least 1");
        }
        let tls = &self.server.tls;
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return bad(
                "server.tls.cert_file",
                "set it together with server.tls.key_file",
            );
        }
        if let Some(h) = self
            .server
            .allowed_hosts
            .iter()
            .find(|h| !valid_host_name(h))
        {
            return bad("server.allowed_hosts", &format!("`{h}` is not a host name"));
        }
        if self.log.level.trim().is_empty() {
            return bad("log.level", "must not be empty");
        }
        if let Err(e) = self
            .log
            .level
            .trim()
            .parse::<tracing_subscriber::filter::Targets>()
        {
            return bad("log.level", &e.to_string());
        }
        self.signal.validate().map_err(ConfigError::Invalid)?;
        self.watch.validate().map_err(ConfigError::Invalid)?;
        self.seeder.validate().map_err(ConfigError::Invalid)?;
        self.turn.validate().map_err(ConfigError::Invalid)?;
        self.thumbnails.validate().map_err(ConfigError::Invalid)?;
        Ok(())
    }

    /// The effective configuration as TOML, for `peerbox check-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// A DNS name as it appears in `Host`, without port: letters, digits, `-` and `.`.
fn valid_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &toml::Value) -> Vec<String> {
        let mut out = std::collections::BTreeMap::new();
        crate::reload::flatten("", v, &mut out);
        out.into_keys().collect()
    }

    /// The repository's config.toml documents every key, with the defaults the code uses.
    #[test]
    fn config_toml_documents_every_key_with_its_default() {
        let text = include_str!("../config.toml");
        let file: Config = toml::from_str(text).expect("config.toml parses");
        assert_eq!(
            file,
            Config::default(),
            "a documented default differs from the code"
        );
        let documented = keys(&toml::from_str(text).unwrap());
        for key in keys(&toml::Value::try_from(Config::default()).unwrap()) {
            assert!(documented.contains(&key), "config.toml lacks `{key}`");
        }
        Config::default().validate().expect("defaults are valid");
    }
}
