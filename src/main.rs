//! The `peerbox` binary: parse the command line, load config, set up logging, run the library.

use std::process::ExitCode;

use clap::Parser;
use peerbox::cli::{Cli, Command};

/// sysexits.h codes, so service managers and scripts can tell causes apart.
const EX_CONFIG: u8 = 78;
const EX_CANTCREAT: u8 = 73;
const EX_OSERR: u8 = 71;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The terminal client (`ls`, `get`, `send`) needs no daemon configuration.
    if let Some(code) = cli.run_client() {
        return ExitCode::from(code);
    }
    let config = match cli.sources().load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("peerbox: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    if let Some(Command::CheckConfig) = cli.command {
        print!("{}", config.to_toml());
        eprintln!("peerbox: configuration is valid");
        return ExitCode::SUCCESS;
    }
    peerbox::memory::limit_arenas();
    let log = peerbox::logging::init(&config.log.level);
    for name in cli.sources().ignored_env() {
        tracing::warn!(variable = %name, "environment variable is not a configuration key; ignored");
    }
    if let Err(e) = peerbox::server::prepare_storage(&config) {
        eprintln!("peerbox: {e}");
        return ExitCode::from(EX_CANTCREAT);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peerbox: cannot start the async runtime: {e}");
            return ExitCode::from(EX_OSERR);
        }
    };
    runtime.block_on(async move {
        // Handlers are installed before the port is bound, so a SIGTERM that arrives as soon as
        // the daemon is reachable still drains instead of killing it.
        let shutdown = match shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("peerbox: cannot install signal handlers: {e}");
                return ExitCode::from(EX_OSERR);
            }
        };
        let control = peerbox::server::Control {
            reloads: Some(reload_on_sighup(cli.sources())),
            log: Some(log),
        };
        let listener = match peerbox::server::bind(config.server.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("peerbox: {e}");
                return ExitCode::from(EX_OSERR);
            }
        };
        if let Ok(addr) = listener.local_addr() {
            peerbox::addrs::print_banner(addr, config.server.tls.enabled);
        }
        match peerbox::server::run_with(listener, config, shutdown, control).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("peerbox: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Re-reads the configuration on every SIGHUP; an invalid file is logged and ignored, so a
/// typo never takes a running daemon down.
fn reload_on_sighup(
    sources: peerbox::config::Sources,
) -> tokio::sync::mpsc::Receiver<peerbox::Config> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    // Registered here, before the port is bound: an early SIGHUP must not kill the daemon.
    let hup = signal(SignalKind::hangup());
    tokio::spawn(async move {
        let Ok(mut hup) = hup else {
            return;
        };
        while hup.recv().await.is_some() {
            match sources.load() {
                Ok(config) => {
                    if tx.send(config).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "reload refused; keeping the running configuration")
                }
            }
        }
    });
    rx
}

/// A future that resolves on the first SIGINT or SIGTERM; the handlers are live on return.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}
