//! Client adapter for Redis pub/sub: RESP2 over plain TCP, since Redis has no
//! WebSocket listener (`SUBSCRIBE`, pipelined `PUBLISH`, `message` pushes).

use std::net::SocketAddr;

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use super::{Client, Delivery, HEADER, Writer};

/// Most bytes of pipelined commands buffered before a write.
const MAX_BATCH: usize = 64 * 1024;

/// One RESP2 value. Bulk strings keep only their first [`HEADER`] bytes: enough
/// for push kinds (`message`, `subscribe`) and the payload header.
#[derive(Debug, PartialEq)]
enum Resp {
    Array(Vec<Resp>),
    Bulk(Vec<u8>),
    Int(i64),
    Simple(String),
    Error(String),
    Nil,
}

/// Parses one value from the start of `buf`; returns it and the bytes it used, or `None` if incomplete.
fn parse(buf: &[u8]) -> Option<(Resp, usize)> {
    let eol = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..eol]).ok()?;
    let after = eol + 2;
    match *buf.first()? {
        b'+' => Some((Resp::Simple(line.to_owned()), after)),
        b'-' => Some((Resp::Error(line.to_owned()), after)),
        b':' => Some((Resp::Int(line.parse().ok()?), after)),
        b'$' => {
            let Ok(len) = usize::try_from(line.parse::<i64>().ok()?) else { return Some((Resp::Nil, after)) };
            let data = buf.get(after..after + len)?;
            buf.get(after + len..after + len + 2)?;
            Some((Resp::Bulk(data[..len.min(HEADER)].to_vec()), after + len + 2))
        }
        b'*' => {
            let Ok(count) = usize::try_from(line.parse::<i64>().ok()?) else { return Some((Resp::Nil, after)) };
            let mut items = Vec::with_capacity(count.min(16));
            let mut at = after;
            for _ in 0..count {
                let (item, used) = parse(&buf[at..])?;
                items.push(item);
                at += used;
            }
            Some((Resp::Array(items), at))
        }
        _ => Some((Resp::Error(format!("unexpected RESP type in {line:?}")), after)),
    }
}

/// Appends a command as a RESP array of bulk strings.
fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// A Redis connection.
pub struct RedisClient {
    stream: TcpStream,
    buf: BytesMut,
}

impl RedisClient {
    async fn value(&mut self) -> anyhow::Result<Resp> {
        loop {
            if let Some((value, used)) = parse(&self.buf) {
                self.buf.advance(used);
                if let Resp::Error(e) = value {
                    anyhow::bail!("Redis error: {e}");
                }
                return Ok(value);
            }
            anyhow::ensure!(self.stream.read_buf(&mut self.buf).await? > 0, "Redis closed the connection");
        }
    }
}

impl Client for RedisClient {
    type Writer = RedisWriter;

    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(RedisClient { stream, buf: BytesMut::with_capacity(16 * 1024) })
    }

    async fn subscribe(&mut self, topic: &str) -> anyhow::Result<()> {
        let mut out = Vec::new();
        command(&mut out, &[b"SUBSCRIBE", topic.as_bytes()]);
        self.stream.write_all(&out).await?;
        loop {
            if let Resp::Array(items) = self.value().await?
                && items.first() == Some(&Resp::Bulk(b"subscribe".to_vec()))
            {
                return Ok(());
            }
        }
    }

    async fn next(&mut self) -> anyhow::Result<Delivery> {
        loop {
            if let Resp::Array(items) = self.value().await?
                && let [Resp::Bulk(kind), _, Resp::Bulk(payload)] = items.as_slice()
                && kind == b"message"
                && let Some(delivery) = Delivery::parse(payload)
            {
                return Ok(delivery);
            }
        }
    }

    fn into_writer(self) -> RedisWriter {
        let (mut read, write) = self.stream.into_split();
        tokio::spawn(async move {
            let mut sink = vec![0u8; 64 * 1024];
            while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        RedisWriter { write, buf: Vec::with_capacity(MAX_BATCH) }
    }
}

/// Pipelines `PUBLISH` commands; the replies are drained unread.
pub struct RedisWriter {
    write: OwnedWriteHalf,
    buf: Vec<u8>,
}

impl Writer for RedisWriter {
    async fn publish(&mut self, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
        command(&mut self.buf, &[b"PUBLISH", topic.as_bytes(), payload]);
        if self.buf.len() >= MAX_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.write.write_all(&self.buf).await?;
        self.buf.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::Clock;

    #[test]
    fn parses_pushes_and_replies() {
        let payload = Clock::start().payload(5, 100);
        let mut stream = Vec::new();
        command(&mut stream, &[b"message", b"bench", &payload]);
        stream.extend_from_slice(b":1\r\n$-1\r\n");
        let (push, used) = parse(&stream).expect("push");
        assert_eq!(
            push,
            Resp::Array(vec![
                Resp::Bulk(b"message".to_vec()),
                Resp::Bulk(b"bench".to_vec()),
                Resp::Bulk(payload[..HEADER].to_vec())
            ])
        );
        assert_eq!(parse(&stream[used..]), Some((Resp::Int(1), 4)));
        assert_eq!(parse(&stream[used + 4..]), Some((Resp::Nil, 5)));
        assert_eq!(parse(&stream[..used - 3]), None, "an incomplete push waits for more bytes");
    }
}
