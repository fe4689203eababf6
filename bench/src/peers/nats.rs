//! Client adapter for NATS over its WebSocket listener: the NATS text
//! protocol (`CONNECT`, `SUB`, `PUB`, `MSG`, `PING`/`PONG`) in binary frames.

use std::net::SocketAddr;

use bytes::Buf as _;

use super::ws::{self, WsBatch, WsBytes};
use super::{Client, Delivery, Writer};

/// One server operation parsed from the byte stream.
#[derive(Debug, PartialEq)]
enum Op {
    /// A message; `None` if its payload had no bench header.
    Msg(Option<Delivery>),
    /// A keep-alive the client must answer.
    Ping,
    /// `PONG`: the server has processed everything sent before our `PING`.
    Pong,
    /// `-ERR`, with the server's text.
    Err(String),
    /// `INFO`, `+OK` and the like.
    Other,
}

/// Parses one operation from the start of `buf`; returns it and the bytes it used, or `None` if incomplete.
fn parse(buf: &[u8]) -> Option<(Op, usize)> {
    let eol = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = &buf[..eol];
    if let Some(args) = line.strip_prefix(b"MSG ") {
        let len: usize = std::str::from_utf8(args.rsplit(|&b| b == b' ').next()?).ok()?.parse().ok()?;
        let start = eol + 2;
        let end = start + len + 2;
        if buf.len() < end {
            return None;
        }
        return Some((Op::Msg(Delivery::parse(&buf[start..start + len])), end));
    }
    let op = match line {
        b"PING" => Op::Ping,
        b"PONG" => Op::Pong,
        _ if line.starts_with(b"-ERR") => Op::Err(String::from_utf8_lossy(line).into_owned()),
        _ => Op::Other,
    };
    Some((op, eol + 2))
}

/// A NATS WebSocket connection.
pub struct NatsClient {
    link: WsBytes,
    next_sid: u64,
}

impl NatsClient {
    /// The next operation, answering pings on the way.
    async fn op(&mut self) -> anyhow::Result<Op> {
        loop {
            if let Some((op, used)) = parse(&self.link.buf) {
                self.link.buf.advance(used);
                match op {
                    Op::Ping => self.link.send(b"PONG\r\n".to_vec()).await?,
                    Op::Err(e) => anyhow::bail!("NATS error: {e}"),
                    op => return Ok(op),
                }
            } else {
                self.link.fill().await?;
            }
        }
    }

    /// Sends `PING` and waits for the `PONG`: everything sent before it was processed.
    async fn sync(&mut self) -> anyhow::Result<()> {
        self.link.send(b"PING\r\n".to_vec()).await?;
        while self.op().await? != Op::Pong {}
        Ok(())
    }
}

impl Client for NatsClient {
    type Writer = NatsWriter;

    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let mut client = NatsClient { link: WsBytes::new(ws::connect(addr, "/", None).await?), next_sid: 1 };
        let connect =
            r#"CONNECT {"verbose":false,"pedantic":false,"echo":false,"protocol":1,"lang":"rust","version":"bench"}"#;
        client.link.send(format!("{connect}\r\n").into_bytes()).await?;
        client.sync().await?;
        Ok(client)
    }

    async fn subscribe(&mut self, topic: &str) -> anyhow::Result<()> {
        let sid = self.next_sid;
        self.next_sid += 1;
        self.link.send(format!("SUB {topic} {sid}\r\n").into_bytes()).await?;
        self.sync().await
    }

    async fn next(&mut self) -> anyhow::Result<Delivery> {
        loop {
            if let Op::Msg(Some(delivery)) = self.op().await? {
                return Ok(delivery);
            }
        }
    }

    fn into_writer(self) -> NatsWriter {
        NatsWriter(self.link.into_batch())
    }
}

/// Publishes with `PUB`, many to a frame.
pub struct NatsWriter(WsBatch);

impl Writer for NatsWriter {
    async fn publish(&mut self, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
        let buf = &mut self.0.buf;
        buf.extend_from_slice(format!("PUB {topic} {}\r\n", payload.len()).as_bytes());
        buf.extend_from_slice(payload);
        buf.extend_from_slice(b"\r\n");
        self.0.spill().await
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.0.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::Clock;

    #[test]
    fn parses_server_operations() {
        let payload = Clock::start().payload(3, 20);
        let mut stream = b"INFO {}\r\nPING\r\n".to_vec();
        stream.extend_from_slice(format!("MSG bench 1 {}\r\n", payload.len()).as_bytes());
        stream.extend_from_slice(&payload);
        stream.extend_from_slice(b"\r\nPONG\r\n");
        let mut ops = Vec::new();
        let mut at = 0;
        while let Some((op, used)) = parse(&stream[at..]) {
            ops.push(op);
            at += used;
        }
        assert_eq!(at, stream.len());
        assert_eq!(ops, [Op::Other, Op::Ping, Op::Msg(Delivery::parse(&payload)), Op::Pong]);
        assert_eq!(parse(b"MSG bench 1 20\r\nabc"), None, "an incomplete message waits for more bytes");
    }
}
