//! Logging through `tracing`: readable lines on stderr, or native journald records under systemd.
//!
//! Under systemd (`JOURNAL_STREAM` set and the journal socket reachable) every event goes to
//! `systemd-journal-logger` as a `log` record whose tracing fields become journal fields
//! (`PEER=…`, `ROOM=…`), so `journalctl -o verbose` can filter on them. The filter sits behind a
//! reload handle so SIGHUP can change the level without a restart.

use std::fmt::Write as _;
use std::io::IsTerminal;

use log::Log;
use systemd_journal_logger::JournalLog;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Layer, Registry};

/// Changes the active filter at run time.
#[derive(Clone)]
pub struct LogHandle(reload::Handle<Targets, Registry>);

impl LogHandle {
    pub fn set_level(&self, directive: &str) -> Result<(), String> {
        let filter = parse(&with_quiet_webrtc(directive))?;
        self.0.reload(filter).map_err(|e| e.to_string())
    }
}

/// Parses `RUST_LOG`-style directives (`info`, `warn,peerbox::seeder=debug`): a default level
/// and `target=level` pairs, the syntax `tracing_subscriber::filter::Targets` reads (no span or
/// field filters, which would bring a regex engine into the binary).
pub fn parse(directive: &str) -> Result<Targets, String> {
    directive
        .trim()
        .parse::<Targets>()
        .map_err(|e| format!("`{directive}`: {e}"))
}

/// The WebRTC crates narrate every state change at info and warn about normal situations
/// (a check before the remote's candidates arrived): below warn (ICE: error) unless the
/// directive names one of them (`RUST_LOG=info,rtc_sctp=debug`).
fn with_quiet_webrtc(directive: &str) -> String {
    if directive.contains("rtc") {
        return directive.to_owned();
    }
    format!("{directive},webrtc=warn,rtc=warn,rtc_ice=error,rtc_dtls=warn,rtc_sctp=warn,rtc_datachannel=warn")
}

/// `RUST_LOG` wins over the configured level, as operators expect.
/// A `RUST_LOG` that does not parse falls back to the configured level (already validated).
fn initial_filter(level: &str) -> Targets {
    let configured = || parse(&with_quiet_webrtc(level)).unwrap_or_else(|_| info_only());
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => parse(&with_quiet_webrtc(&v)).unwrap_or_else(|e| {
            eprintln!("peerbox: RUST_LOG ignored: {e}");
            configured()
        }),
        _ => configured(),
    }
}

fn info_only() -> Targets {
    Targets::new().with_default(Level::INFO)
}

/// Installs the global subscriber; call once, early in `main`.
pub fn init(level: &str) -> LogHandle {
    let (filter, handle) = reload::Layer::new(initial_filter(level));
    let journal = std::env::var_os("JOURNAL_STREAM")
        .is_some()
        .then(|| JournalLog::new().ok())
        .flatten()
        .filter(|_| systemd_journal_logger::connected_to_journal())
        .map(|j| j.with_syslog_identifier("peerbox".into()));
    let registry = tracing_subscriber::registry().with(filter);
    match journal {
        Some(journal) => registry.with(JournalLayer { journal }).init(),
        None => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_target(false),
            )
            .init(),
    }
    LogHandle(handle)
}

struct JournalLayer {
    journal: JournalLog,
}

/// Collects an event's message and its other fields (upper-cased, as journald wants keys).
#[derive(Default)]
struct Fields {
    message: String,
    extra: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.extra
                .push((field.name().to_ascii_uppercase(), format!("{value:?}")));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.extra
                .push((field.name().to_ascii_uppercase(), value.to_owned()));
        }
    }
}

impl<S: Subscriber> Layer<S> for JournalLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = match *meta.level() {
            Level::ERROR => log::Level::Error,
            Level::WARN => log::Level::Warn,
            Level::INFO => log::Level::Info,
            Level::DEBUG => log::Level::Debug,
            Level::TRACE => log::Level::Trace,
        };
        // Keep the fields readable in the message too, as on stderr.
        let mut text = fields.message;
        for (k, v) in &fields.extra {
            let _ = write!(text, " {}={v}", k.to_ascii_lowercase());
        }
        let kvs: Vec<(&str, &str)> = fields
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.journal.log(
            &log::Record::builder()
                .args(format_args!("{text}"))
                .level(level)
                .target(meta.target())
                .module_path(meta.module_path())
                .file(meta.file())
                .line(meta.line())
                .key_values(&kvs)
                .build(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_parse_as_rust_log_does_and_webrtc_stays_quiet() {
        let f = parse(&with_quiet_webrtc("warn,peerbox::seeder=debug,hyper=error")).unwrap();
        assert!(f.would_enable("peerbox::seeder::link", &Level::DEBUG));
        assert!(!f.would_enable("peerbox::watch", &Level::INFO));
        assert!(f.would_enable("peerbox::watch", &Level::WARN));
        assert!(!f.would_enable("hyper::proto", &Level::WARN));
        assert!(!f.would_enable("rtc_sctp::association", &Level::INFO));
        assert!(!f.would_enable("rtc_ice::agent", &Level::WARN));
        let f = parse(&with_quiet_webrtc(" info,rtc_sctp=debug ")).unwrap();
        assert!(f.would_enable("rtc_sctp::association", &Level::DEBUG));
        assert!(f.would_enable("peerbox", &Level::INFO));
        assert!(!f.would_enable("peerbox", &Level::DEBUG));
        for bad in ["info,peerbox=loud", "peerbox=debug=x", "peerbox=3=4"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
