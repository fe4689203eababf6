//! The `heliograph` binary: parses configuration, sets up logging, runs the
//! node until SIGINT or SIGTERM, then shuts it down gracefully.

use anyhow::Context;
use clap::Parser;
use heliograph_node::config::{Command, KeyCommand};
use heliograph_node::identity::NodeKey;
use heliograph_node::{Cli, Config, Node};
use tokio_util::sync::CancellationToken;

fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    if let Some(Command::Key(KeyCommand::Generate { out })) = cli.command.take() {
        return generate_key(out.as_deref());
    }
    let print_config = cli.print_config;
    let config = Config::load(cli)?;
    if print_config {
        print!("{}", toml::to_string_pretty(&config).context("cannot render the configuration")?);
        return Ok(());
    }
    heliograph_node::logging::init(&config.log, config.log_format)?;

    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(config))
}

/// `heliograph key generate`: the key on stdout, or into a new file.
fn generate_key(out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let key = NodeKey::generate();
    match out {
        Some(path) => {
            key.write_new(path)?;
            println!("{}", key.peer_id());
        }
        None => {
            println!("{}", key.to_hex());
            eprintln!("peer id: {}", key.peer_id());
        }
    }
    Ok(())
}

async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    // Listen for signals before announcing readiness, so an early SIGTERM is graceful too.
    let signal = shutdown_signal()?;
    let node = Node::start(config, shutdown.clone()).await.context("cannot start the node")?;

    // One machine-readable line on stdout for supervisors and scripts.
    let ready = serde_json::json!({
        "event": "ready",
        "peerId": node.peer_id.to_string(),
        "listenAddresses": node.listen_addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "rest": node.rest_addr.map(|a| a.to_string()),
        "bridge": node.bridge_addr.map(|a| a.to_string()),
        "metrics": node.metrics_addr.map(|a| a.to_string()),
    });
    println!("{ready}");

    signal.await?;
    tracing::info!("shutting down");
    shutdown.cancel();
    node.stopped().await;
    tracing::info!("stopped");
    Ok(())
}

/// Registers SIGINT and SIGTERM handlers now; the future resolves on either.
fn shutdown_signal() -> std::io::Result<impl Future<Output = std::io::Result<()>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    })
}
