//! Client adapter for Mosquitto over WebSocket: MQTT 3.1.1 with QoS 0
//! (`CONNECT`, `SUBSCRIBE`, `PUBLISH`), subprotocol `mqtt`, binary frames.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Buf as _;

use super::ws::{self, WsBatch, WsBytes};
use super::{Client, Delivery, Writer};

/// One control packet from the broker.
#[derive(Debug, PartialEq)]
enum Packet {
    /// CONNACK with its return code (0 = accepted).
    ConnAck(u8),
    /// SUBACK with the granted QoS (0x80 = refused).
    SubAck(u8),
    /// PUBLISH; `None` if its payload had no bench header.
    Publish(Option<Delivery>),
    /// Anything else.
    Other,
}

/// Appends the variable-length "remaining length" encoding of `len`.
fn put_len(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

/// Appends a length-prefixed UTF-8 string.
fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends a packet of `kind` (first header byte) with `body`.
fn put_packet(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.push(kind);
    put_len(out, body.len());
    out.extend_from_slice(body);
}

/// Parses one packet from the start of `buf`; returns it and the bytes it used, or `None` if incomplete.
fn parse(buf: &[u8]) -> Option<(Packet, usize)> {
    let (mut len, mut at, mut shift) = (0usize, 1, 0);
    loop {
        let byte = *buf.get(at)?;
        len |= usize::from(byte & 0x7f) << shift;
        at += 1;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let body = buf.get(at..at + len)?;
    let packet = match buf[0] >> 4 {
        2 => Packet::ConnAck(*body.get(1)?),
        9 => Packet::SubAck(*body.get(2)?),
        3 => {
            let topic = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
            let id = if (buf[0] >> 1) & 3 > 0 { 2 } else { 0 };
            Packet::Publish(body.get(2 + topic + id..).and_then(Delivery::parse))
        }
        _ => Packet::Other,
    };
    Some((packet, at + len))
}

/// A Mosquitto WebSocket connection.
pub struct MqttClient {
    link: WsBytes,
}

impl MqttClient {
    async fn packet(&mut self) -> anyhow::Result<Packet> {
        loop {
            if let Some((packet, used)) = parse(&self.link.buf) {
                self.link.buf.advance(used);
                return Ok(packet);
            }
            self.link.fill().await?;
        }
    }
}

impl Client for MqttClient {
    type Writer = MqttWriter;

    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut client = MqttClient { link: WsBytes::new(ws::connect(addr, "/", Some("mqtt")).await?) };
        let mut body = Vec::new();
        put_str(&mut body, "MQTT");
        // Level 4 (3.1.1), clean session, keep-alive off.
        body.extend_from_slice(&[4, 0x02, 0, 0]);
        put_str(&mut body, &format!("bench-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        let mut packet = Vec::new();
        put_packet(&mut packet, 0x10, &body);
        client.link.send(packet).await?;
        match client.packet().await? {
            Packet::ConnAck(0) => Ok(client),
            other => anyhow::bail!("MQTT connect refused: {other:?}"),
        }
    }

    async fn subscribe(&mut self, topic: &str) -> anyhow::Result<()> {
        let mut body = 1u16.to_be_bytes().to_vec();
        put_str(&mut body, topic);
        body.push(0);
        let mut packet = Vec::new();
        put_packet(&mut packet, 0x82, &body);
        self.link.send(packet).await?;
        loop {
            match self.packet().await? {
                Packet::SubAck(0) => return Ok(()),
                Packet::SubAck(code) => anyhow::bail!("MQTT subscribe refused: {code:#x}"),
                _ => {}
            }
        }
    }

    async fn next(&mut self) -> anyhow::Result<Delivery> {
        loop {
            if let Packet::Publish(Some(delivery)) = self.packet().await? {
                return Ok(delivery);
            }
        }
    }

    fn into_writer(self) -> MqttWriter {
        MqttWriter(self.link.into_batch())
    }
}

/// Publishes with QoS 0, many packets to a frame.
pub struct MqttWriter(WsBatch);

impl Writer for MqttWriter {
    async fn publish(&mut self, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
        let buf = &mut self.0.buf;
        buf.push(0x30);
        put_len(buf, 2 + topic.len() + payload.len());
        put_str(buf, topic);
        buf.extend_from_slice(payload);
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
    fn publish_packets_round_trip_through_the_parser() {
        let payload = Clock::start().payload(9, 300);
        let mut buf = Vec::new();
        buf.push(0x30);
        put_len(&mut buf, 2 + 5 + payload.len());
        put_str(&mut buf, "bench");
        buf.extend_from_slice(&payload);
        assert_eq!(buf[1..3], [0xb3, 0x02], "307 = 2 × 128 + 51 takes two length bytes");
        buf.extend_from_slice(&[0x90, 3, 0, 1, 0]);
        let (first, used) = parse(&buf).expect("publish");
        assert_eq!(first, Packet::Publish(Delivery::parse(&payload)));
        assert_eq!(parse(&buf[used..]), Some((Packet::SubAck(0), 5)));
        assert_eq!(parse(&buf[..used - 1]), None, "an incomplete packet waits for more bytes");
    }
}
