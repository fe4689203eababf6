//! Framing shared by every Waku request/response protocol: one unsigned-varint
//! length prefix, then the protobuf bytes. The codecs move bytes only; each
//! protocol decodes them itself, so a malformed request can get a proper error
//! status instead of a dropped stream. [`LightCodec`] goes one step further for
//! the light-client protocols: an oversized or unframed request is handed up as
//! an error to answer (413/400), not a failed stream.
//!
//! The varint itself is `unsigned-varint`'s (as in rust-libp2p): it refuses
//! overlong and non-minimal prefixes. Reading the frame stays here rather than in
//! an `asynchronous-codec` `Framed` with `UviBytes`: `request_response` hands
//! the codec a bare stream for exactly one message, and a framed reader buffers
//! ahead and reserves the announced length before its bytes arrive, where this
//! reader's buffer grows only with what the peer has sent (tested below) and
//! stops at the frame's end (the light codec then drains what follows).

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;
use unsigned_varint::io::ReadError;

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
    let len = unsigned_varint::aio::read_usize(&mut *io).await.map_err(|e| match e {
        ReadError::Io(e) => e,
        e => io::Error::new(io::ErrorKind::InvalidData, format!("length prefix is not a valid varint: {e}")),
    })?;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {max}-byte limit"),
        ));
    }
    // The buffer grows with the bytes that arrive, never to the announced
    // length up front: a peer announcing a large frame and sending nothing
    // holds no memory.
    let mut buf = Vec::new();
    (&mut *io).take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("stream ended after {} of {len} frame bytes", buf.len()),
        ));
    }
    Ok(buf)
}

/// Writes one length-prefixed frame and flushes it.
pub async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    io.write_all(unsigned_varint::encode::usize(frame.len(), &mut unsigned_varint::encode::usize_buffer())).await?;
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

/// Bytes of an unreadable request that are read and discarded before answering,
/// so the peer's muxer never sees data for a stream we closed.
const MAX_DRAIN: usize = 2 * 1024 * 1024;

/// A request as the light-client codec reads it: the frame, or why it was refused.
pub type LightRequest = Result<Vec<u8>, String>;

/// [`FrameCodec`] for protocols that answer every request, even one that is not a
/// valid frame: such a request is drained (up to [`MAX_DRAIN`] bytes) and handed up
/// as `Err(reason)`. Only a stream that ends or fails before a whole frame is a failure.
#[derive(Debug, Clone, Copy)]
pub struct LightCodec(FrameCodec);

impl LightCodec {
    /// A codec refusing requests over `max_request` and responses over `max_response` bytes.
    pub fn new(max_request: usize, max_response: usize) -> Self {
        LightCodec(FrameCodec::new(max_request, max_response))
    }
}

impl request_response::Codec for LightCodec {
    type Protocol = StreamProtocol;
    type Request = LightRequest;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<LightRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_frame(io, self.0.max_request).await {
            Ok(frame) => Ok(Ok(frame)),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let mut sink = [0u8; 4096];
                let mut drained = 0usize;
                while drained < MAX_DRAIN {
                    match io.read(&mut sink).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => drained += n,
                    }
                }
                Ok(Err(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.0.max_response).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: LightRequest) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let frame = req.map_err(|reason| io::Error::new(io::ErrorKind::InvalidInput, reason))?;
        write_frame(io, &frame).await
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
        assert!(err.to_string().contains("not a valid varint"), "{err}");
        let err = block_on(read_frame(&mut Cursor::new(vec![0x81, 0x00, 7]), 100)).expect_err("non-minimal");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "a padded prefix is refused: {err}");
        let err = block_on(read_frame(&mut Cursor::new(vec![0x81]), 100)).expect_err("prefix cut short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    /// A stream that announces a frame of `announced` bytes, sends `sent` of
    /// them and ends, noting the largest read buffer it was offered.
    struct Announcer {
        bytes: Cursor<Vec<u8>>,
        largest_read: usize,
    }

    impl Announcer {
        fn new(announced: usize, sent: usize) -> Self {
            let mut prefix = Cursor::new(Vec::new());
            block_on(write_frame(&mut prefix, &vec![9u8; announced])).expect("write");
            let mut bytes = prefix.into_inner();
            bytes.truncate(bytes.len() - announced + sent);
            Announcer { bytes: Cursor::new(bytes), largest_read: 0 }
        }
    }

    impl AsyncRead for Announcer {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<io::Result<usize>> {
            self.largest_read = self.largest_read.max(buf.len());
            std::pin::Pin::new(&mut self.bytes).poll_read(cx, buf)
        }
    }

    #[test]
    fn buffers_grow_with_the_bytes_that_arrive_not_with_the_announced_length() {
        let announced = 1024 * 1024;
        let mut stream = Announcer::new(announced, 100);
        let err = block_on(read_frame(&mut stream, announced)).expect_err("cut short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("after 100 of 1048576"), "{err}");
        assert!(
            stream.largest_read <= 4096,
            "a 1 MiB frame announced with 100 bytes sent got a {}-byte buffer",
            stream.largest_read
        );

        // A whole large frame still arrives intact.
        let mut whole = Announcer::new(300_000, 300_000);
        assert_eq!(block_on(read_frame(&mut whole, announced)).expect("read"), vec![9u8; 300_000]);
    }

    #[test]
    fn the_light_codec_hands_up_unreadable_requests_to_answer() {
        use request_response::Codec;
        let protocol = StreamProtocol::new("/test/1");
        let mut codec = LightCodec::new(63, 100);
        let mut out = Cursor::new(Vec::new());
        block_on(write_frame(&mut out, &[1u8; 64])).expect("write");
        let mut input = Cursor::new(out.into_inner());
        let read = block_on(codec.read_request(&protocol, &mut input)).expect("an answerable request");
        assert!(read.expect_err("too big").contains("exceeds"));
        assert_eq!(input.position(), 65, "the oversized frame was drained");
        let mut ok = Cursor::new(vec![2, 7, 7]);
        assert_eq!(block_on(codec.read_request(&protocol, &mut ok)).expect("read"), Ok(vec![7, 7]));
        let err = block_on(codec.read_request(&protocol, &mut Cursor::new(vec![5, 1]))).expect_err("cut short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
