//! Framing shared by every Waku request/response protocol: one unsigned-varint
//! length prefix, then the protobuf bytes. The codec moves bytes only; each
//! protocol decodes them itself, so a malformed request can get a proper error
//! status instead of a dropped stream.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// A varint-length-prefixed frame codec with per-direction size limits.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_request: usize,
    max_response: usize,
}

impl FrameCodec {
    /// A codec refusing requests over `max_request` and responses over `max_response` bytes.
    pub fn new(max_request: usize, max_response: usize) -> Self {
        FrameCodec { max_request, max_response }
    }
}

/// Reads one length-prefixed frame of at most `max` bytes.
pub async fn read_frame<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        len |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("frame of {len} bytes exceeds the {max}-byte limit"),
                ));
            }
            let mut buf = vec![0u8; len];
            io.read_exact(&mut buf).await?;
            return Ok(buf);
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "length prefix is not a valid varint"))
}

/// Writes one length-prefixed frame and flushes it.
pub async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    let mut prefix = Vec::with_capacity(10);
    let mut len = frame.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            prefix.push(byte);
            break;
        }
        prefix.push(byte | 0x80);
    }
    io.write_all(&prefix).await?;
    io.write_all(frame).await?;
    io.flush().await
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Vec<u8>) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: Vec<u8>) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;

    #[test]
    fn frames_round_trip_across_varint_widths() {
        for len in [0usize, 1, 127, 128, 300, 70_000] {
            let payload = vec![7u8; len];
            let mut out = Cursor::new(Vec::new());
            block_on(write_frame(&mut out, &payload)).expect("write");
            let mut input = Cursor::new(out.into_inner());
            assert_eq!(block_on(read_frame(&mut input, 100_000)).expect("read"), payload);
        }
    }

    #[test]
    fn oversized_truncated_and_endless_prefixes_are_errors() {
        let mut out = Cursor::new(Vec::new());
        block_on(write_frame(&mut out, &[1u8; 64])).expect("write");
        let bytes = out.into_inner();
        let err = block_on(read_frame(&mut Cursor::new(bytes.clone()), 63)).expect_err("too big");
        assert!(err.to_string().contains("exceeds"), "{err}");
        let err = block_on(read_frame(&mut Cursor::new(bytes[..10].to_vec()), 100)).expect_err("short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let err = block_on(read_frame(&mut Cursor::new(vec![0xff; 11]), 100)).expect_err("bad varint");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
