//! The raw baseline: a 64-byte ping-pong over a loopback TCP socket, the
//! floor under any relay hop on this machine.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Round-trip times of `rounds` 64-byte ping-pongs over loopback TCP.
pub async fn loopback_rtt(rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let echo = tokio::spawn(echo(listener));
    let samples = round_trips(addr, rounds).await?;
    echo.await??;
    Ok(samples)
}

/// Echoes 64-byte blocks on the first connection `listener` accepts, until it closes.
pub async fn echo(listener: TcpListener) -> std::io::Result<()> {
    let (mut socket, _) = listener.accept().await?;
    socket.set_nodelay(true)?;
    let mut buf = [0u8; 64];
    loop {
        if socket.read_exact(&mut buf).await.is_err() {
            return Ok(());
        }
        socket.write_all(&buf).await?;
    }
}

/// Round-trip times of `rounds` 64-byte ping-pongs with the echo server at `addr`.
pub async fn round_trips(addr: SocketAddr, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let mut client = TcpStream::connect(addr).await?;
    client.set_nodelay(true)?;
    let mut buf = [7u8; 64];
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        client.write_all(&buf).await?;
        client.read_exact(&mut buf).await?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}
