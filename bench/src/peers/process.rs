//! The servers under test as child processes: each gets its own config in a
//! tempdir, loopback ports, and (on two or more cores) core 0, while the load
//! generator keeps core 1. Heliograph runs as the `heliograph` binary
//! (`HELIOGRAPH_BIN`, or the one built next to this bench) and otherwise, like
//! the bare server and the echo baseline, as this binary's hidden `serve`
//! subcommand; either way every server's memory is its own process's RSS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::Peer;

/// The core servers are pinned to; the generator takes the next one.
const SERVER_CORE: &str = "0";
/// The generator's core.
const GENERATOR_CORE: &str = "1";
/// Open files allowed to this process and its children (10k connections and then some).
const OPEN_FILES: u64 = 65_536;

/// The in-process servers the hidden `serve` subcommand can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Own {
    /// A Heliograph node (bridge on, RocksDB store in `--dir`).
    Heliograph,
    /// The bare WebSocket broadcast server.
    Bare,
    /// A TCP echo server for the loopback round trip.
    Echo,
}

/// Raises the open-file limit and pins this process to the generator core when
/// there are two cores or more. Returns whether servers and generator are pinned.
pub fn prepare() -> anyhow::Result<bool> {
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    rlimit::Resource::NOFILE.set(OPEN_FILES.min(hard), hard)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 {
        return Ok(false);
    }
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", GENERATOR_CORE, &pid])
        .stdout(Stdio::null())
        .status();
    Ok(matches!(status, Ok(s) if s.success()))
}

/// A running server; killed when dropped.
pub struct Server {
    /// Where clients connect.
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server of `peer`.
    pub async fn start(peer: Peer, pinned: bool) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let path = dir.path();
        let (child, addr) = match peer {
            Peer::Heliograph => match node_binary() {
                Some(binary) => node(&binary, path, pinned).await?,
                None => own(Own::Heliograph, path, pinned).await?,
            },
            Peer::Bare => own(Own::Bare, path, pinned).await?,
            Peer::Redis => {
                let port = free_port().await?;
                let args = [
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "no",
                    "--maxclients",
                    "20000",
                    "--loglevel",
                    "warning",
                    "--dir",
                    &path.to_string_lossy(),
                ];
                external("redis-server", &args, path, pinned, port).await?
            }
            Peer::Nats => {
                let (client, ws) = (free_port().await?, free_port().await?);
                let conf = path.join("nats.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "listen: \"127.0.0.1:{client}\"\nwebsocket {{\n  listen: \"127.0.0.1:{ws}\"\n  no_tls: true\n}}\n"
                    ),
                )?;
                external("nats-server", &["-c", &conf.to_string_lossy()], path, pinned, ws).await?
            }
            Peer::Mosquitto => {
                // Mosquitto 2.0.11 exits when every listener is a WebSocket one, hence the unused MQTT listener.
                let (mqtt, port) = (free_port().await?, free_port().await?);
                let conf = path.join("mosquitto.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "listener {mqtt} 127.0.0.1\nlistener {port} 127.0.0.1\nprotocol websockets\nallow_anonymous true\npersistence false\n\
                         max_queued_messages 0\nlog_dest stderr\nlog_type error\nlog_type warning\n"
                    ),
                )?;
                external("mosquitto", &["-c", &conf.to_string_lossy()], path, pinned, port).await?
            }
        };
        Ok(Server { addr, child, _dir: dir })
    }

    /// Starts the TCP echo server of the loopback round-trip baseline.
    pub async fn echo(pinned: bool) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let (child, addr) = own(Own::Echo, dir.path(), pinned).await?;
        Ok(Server { addr, child, _dir: dir })
    }

    /// The server's CPU time so far; `None` once it has exited.
    pub fn cpu(&self) -> Option<Duration> {
        super::drive::cpu_time(self.child.id()?)
    }

    /// The server's resident memory.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let pid = self.child.id().context("the server has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kib| kib * 1024)
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        Ok(Memory { rss: field("VmRSS:")?, anon: field("RssAnon:")? })
    }
}

/// Resident memory of a process, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// All resident pages (VmRSS), including the executable's and libraries' file pages.
    pub rss: u64,
    /// Resident anonymous pages (RssAnon): heap, stacks, buffers.
    pub anon: u64,
}

/// The `heliograph` binary to run: `HELIOGRAPH_BIN`, or the one next to this executable.
fn node_binary() -> Option<PathBuf> {
    std::env::var_os("HELIOGRAPH_BIN")
        .map(PathBuf::from)
        .or_else(|| std::env::current_exe().ok().map(|exe| exe.with_file_name("heliograph")))
        .filter(|path| path.is_file())
}

/// How Heliograph is run, for the reports.
pub fn heliograph_program() -> String {
    match node_binary() {
        Some(path) => format!("the `heliograph` binary ({})", path.display()),
        None => "this bench's `serve heliograph` subcommand (the node library; no `heliograph` binary found)".into(),
    }
}

/// Runs the `heliograph` binary with the bench config; it prints a ready line with the bridge address.
async fn node(binary: &Path, dir: &Path, pinned: bool) -> anyhow::Result<(Child, SocketAddr)> {
    let config = dir.join("heliograph.toml");
    std::fs::write(&config, toml::to_string(&super::heliograph::node_config(dir)?)?)?;
    let mut child = command(binary, pinned).arg("--config").arg(&config).stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).read_line(&mut line))
        .await
        .context("heliograph did not start within 30 s")??;
    let ready: serde_json::Value = serde_json::from_str(&line).with_context(|| format!("ready line {line:?}"))?;
    let addr = ready["bridge"].as_str().context("no bridge in the ready line")?.parse()?;
    Ok((child, addr))
}

/// A command, run on the server core when `pinned`.
fn command(program: &Path, pinned: bool) -> Command {
    let mut command = if pinned {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(SERVER_CORE).arg(program);
        c
    } else {
        Command::new(program)
    };
    command.kill_on_drop(true).stdin(Stdio::piped());
    command
}

/// Runs this binary's `serve` subcommand; it prints its address on stdout when ready.
async fn own(what: Own, dir: &Path, pinned: bool) -> anyhow::Result<(Child, SocketAddr)> {
    let exe = std::env::current_exe()?;
    let kind = clap::ValueEnum::to_possible_value(&what).context("serve kind")?;
    let mut child =
        command(&exe, pinned).arg("serve").arg(kind.get_name()).arg("--dir").arg(dir).stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).read_line(&mut line))
        .await
        .with_context(|| format!("{what:?} did not start within 30 s"))??;
    let addr = line.trim().parse().with_context(|| format!("{what:?} printed {line:?}, not an address"))?;
    Ok((child, addr))
}

/// Runs an installed server and waits until `port` accepts connections.
async fn external(
    program: &str,
    args: &[&str],
    dir: &Path,
    pinned: bool,
    port: u16,
) -> anyhow::Result<(Child, SocketAddr)> {
    let log = dir.join("server.log");
    let mut child = command(&installed(program), pinned)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("cannot run {program}: install it (scripts/setup --bench)"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).await.is_err() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            anyhow::bail!("{program} did not listen on {addr}: {log}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((child, addr))
}

/// Where `program` is installed: on the PATH, or in /usr/sbin (Debian puts nats-server and
/// mosquitto there, which a non-root PATH lacks).
fn installed(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// A loopback port free right now (the server binds it a moment later).
async fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port())
}

/// The hidden `serve` subcommand: runs `what`, prints its address, and stops when stdin closes.
pub async fn serve(what: Own, dir: &Path) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let (node, addr) = match what {
        Own::Heliograph => {
            let node = heliograph_node::Node::start(super::heliograph::node_config(dir)?, shutdown.clone()).await?;
            let addr = node.bridge_addr.context("bridge off")?;
            (Some(node), addr)
        }
        Own::Bare => {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(super::bare::serve(listener, shutdown.clone()));
            (None, addr)
        }
        Own::Echo => {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(crate::baseline::echo(listener));
            (None, addr)
        }
    };
    println!("{addr}");
    // The parent holds our stdin: EOF means it is gone or done with us.
    tokio::task::spawn_blocking(|| std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())).await??;
    shutdown.cancel();
    if let Some(node) = node {
        node.stopped().await;
    }
    Ok(())
}
