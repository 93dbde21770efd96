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
    peerbox::logging::init(&config.log.level);
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
        let listener = match peerbox::server::bind(config.server.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("peerbox: {e}");
                return ExitCode::from(EX_OSERR);
            }
        };
        if let Ok(addr) = listener.local_addr() {
            peerbox::addrs::print_banner(addr);
        }
        match peerbox::run(listener, config, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("peerbox: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
