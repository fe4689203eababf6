//! The client side of the light-client protocols, for this node's own requests
//! (peer-exchange polling, REST lightpushes through a service node) and for
//! tools and tests acting as light clients:
//! one request frame on a fresh `libp2p-stream` stream, write side closed, then
//! the single response frame read.

use std::io;
use std::time::Duration;

use futures::AsyncWriteExt;
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use libp2p_stream::Control;

use super::lightpush::{self, PushReply, Version, status};
use crate::p2p::NetworkHandle;
use crate::p2p::behaviour::MAX_LIGHT_RESPONSE;
use crate::p2p::codec::{read_frame, write_frame};
use crate::waku::RelayMessage;
use heliograph_proto::protocol_id;

/// Why a request to a service node failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The stream to the service peer could not be opened.
    #[error("cannot open a stream to {peer}: {reason}")]
    Open {
        /// The peer.
        peer: PeerId,
        /// What went wrong.
        reason: String,
    },
    /// The exchange failed or timed out.
    #[error("request to {peer} failed: {source}")]
    Io {
        /// The peer.
        peer: PeerId,
        /// The IO error.
        source: io::Error,
    },
    /// The answer did not decode.
    #[error("the peer sent an invalid response: {0}")]
    BadResponse(String),
}

/// How long opening the stream, and then writing the request, may take each.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the answer may take once the request is written.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends one request frame to `peer` on a new stream of `protocol` and reads the answer.
pub async fn request(
    control: &mut Control,
    peer: PeerId,
    protocol: &'static str,
    frame: &[u8],
    max_response: usize,
) -> Result<Vec<u8>, RequestError> {
    let open = tokio::time::timeout(WRITE_TIMEOUT, control.open_stream(peer, StreamProtocol::new(protocol))).await;
    let mut stream = match open {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(RequestError::Open { peer, reason: e.to_string() }),
        Err(_) => return Err(RequestError::Open { peer, reason: "timed out".into() }),
    };
    let sent = tokio::time::timeout(WRITE_TIMEOUT, async {
        write_frame(&mut stream, frame).await?;
        stream.close().await
    })
    .await;
    match sent {
        Ok(Ok(())) => {}
        Ok(Err(source)) => return Err(RequestError::Io { peer, source }),
        Err(_) => return Err(RequestError::Io { peer, source: io::ErrorKind::TimedOut.into() }),
    }
    match tokio::time::timeout(RESPONSE_TIMEOUT, read_frame(&mut stream, max_response)).await {
        Ok(result) => result.map_err(|source| RequestError::Io { peer, source }),
        Err(_) => Err(RequestError::Io { peer, source: io::ErrorKind::TimedOut.into() }),
    }
}

/// Lightpushes `message` to a service `peer`, by v3 or legacy v2.
pub async fn lightpush(
    control: &mut Control,
    peer: PeerId,
    version: Version,
    message: &RelayMessage,
) -> Result<PushReply, RequestError> {
    let request_id = format!("{:016x}", rand::random::<u64>());
    let (protocol, frame) = match version {
        Version::V3 => (protocol_id::LIGHTPUSH_V3, lightpush::request_v3(request_id, message)),
        Version::V2 => (protocol_id::LIGHTPUSH_V2, lightpush::request_v2(request_id, message)),
    };
    let answer = request(control, peer, protocol, &frame, MAX_LIGHT_RESPONSE).await?;
    lightpush::parse_response(version, &answer).map_err(RequestError::BadResponse)
}

/// Lightpushes `message` by `version` through the service node at `addr` (which
/// ends in `/p2p/<peer id>`), dialling it first when not connected. Failures to
/// reach it come back as a 503 reply whose description starts with nwaku's
/// words: `dial_failure` when no stream could be opened (unreachable, or the
/// node does not serve lightpush), `lightpush error` when the exchange broke.
pub async fn push_through(
    network: &NetworkHandle,
    addr: &Multiaddr,
    version: Version,
    message: &RelayMessage,
) -> PushReply {
    let unavailable = |desc: String| PushReply { status: status::UNAVAILABLE, desc, relay_peers: None };
    // Answers at once with the peer id when it is already connected.
    let peer = match network.dial(addr.clone()).await {
        Ok(peer) => peer,
        Err(e) => return unavailable(format!("dial_failure: cannot reach lightpush node {addr}: {e}")),
    };
    match lightpush(&mut network.streams(), peer, version, message).await {
        Ok(reply) => reply,
        Err(e @ RequestError::Open { .. }) => unavailable(format!("dial_failure: lightpush node {peer}: {e}")),
        Err(e) => unavailable(format!("lightpush error: lightpush node {peer}: {e}")),
    }
}
