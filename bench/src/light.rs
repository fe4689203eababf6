//! Light clients against one in-process service node (plus one relay peer so
//! lightpush has somewhere to relay): filter push latency from a lightpush to
//! every subscriber, then the lightpush request rate of many concurrent clients.
//! Clients are raw rust-libp2p peers on loopback TCP speaking the Waku frames.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use heliograph_node::Node;
use heliograph_node::config::Config;
use heliograph_node::light::client::{lightpush, request};
use heliograph_node::light::lightpush::{Version, status};
use heliograph_node::p2p::codec::read_frame;
use heliograph_node::waku::{PubsubTopic, RelayMessage};
use heliograph_proto::filter::filter_subscribe_request::FilterSubscribeType;
use heliograph_proto::filter::{FilterSubscribeRequest, FilterSubscribeResponse, MessagePush};
use heliograph_proto::{Message, WakuMessage, protocol_id};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, SwarmBuilder};
use libp2p_stream::Control;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const FILTERED: &str = "/bench/1/filter/proto";
const UNFILTERED: &str = "/bench/1/push/proto";

/// What one run measured.
pub struct LightResult {
    /// Lightpush sent → filter push read, one sample per subscriber and message.
    pub push_latencies: Vec<Duration>,
    /// Lightpush requests answered 200 in the rate phase.
    pub pushed: usize,
    /// Requests answered otherwise or failed.
    pub failed: usize,
    /// Length of the rate phase.
    pub elapsed: Duration,
}

fn message(client: usize, seq: u64, content_topic: &str, size: usize) -> RelayMessage {
    let mut payload = seq.to_be_bytes().to_vec();
    payload.extend_from_slice(&(client as u64).to_be_bytes());
    payload.resize(size.max(16), 0xab);
    let m = WakuMessage {
        payload,
        content_topic: content_topic.into(),
        timestamp: Some(heliograph_node::waku::time::now_ns()),
        ..Default::default()
    };
    RelayMessage::encode(PubsubTopic::Sharded { cluster: 1, shard: 0 }, m).expect("bench messages are valid")
}

/// A raw light client connected to `target`; returns its control and the service's peer id.
async fn connect(target: &Multiaddr) -> anyhow::Result<(Control, PeerId)> {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(heliograph_node::p2p::transport::build)?
        .with_behaviour(|_| libp2p_stream::Behaviour::new())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();
    swarm.dial(target.clone())?;
    let control = swarm.behaviour().new_control();
    let (tx, mut rx) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::ConnectionEstablished { peer_id, .. } = swarm.select_next_some().await {
                let _ = tx.try_send(peer_id);
            }
        }
    });
    let peer = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await?
        .ok_or_else(|| anyhow::anyhow!("client swarm stopped"))?;
    Ok((control, peer))
}

/// Runs the scenario with `clients` light clients.
pub async fn run(clients: usize, paced: usize, per_client: usize, size: usize) -> anyhow::Result<LightResult> {
    let dirs = tempfile::tempdir()?;
    let shutdown = CancellationToken::new();
    // The relay peer listens on 127.0.0.2: gossipsub's IP-colocation score would
    // otherwise count the light clients on 127.0.0.1 against it and stop publishing.
    let mut config = Config { data_dir: dirs.path().join("relay"), ..Config::default() };
    config.rest.enabled = false;
    config.bridge.enabled = false;
    config.relay.shards = vec![0];
    config.network.listen = vec!["/ip4/127.0.0.2/tcp/0".parse()?];
    let relay = Node::start(config.clone(), shutdown.clone()).await?;
    config.data_dir = dirs.path().join("service");
    config.network.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    config.network.bootstrap = vec![relay.listen_addrs[0].clone().into()];
    config.network.max_connections = config.network.max_connections.max(clients as u32 + 16);
    let service = Node::start(config, shutdown.clone()).await?;
    let target = service.listen_addrs[0].clone();

    // Every client subscribes and forwards (sequence number, arrival) of each push.
    let (arrivals_tx, mut arrivals) = mpsc::channel::<(u64, Instant)>(65_536);
    let mut controls = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (mut control, peer) = connect(&target).await?;
        let mut pushes = control
            .accept(StreamProtocol::new(protocol_id::FILTER_PUSH))
            .map_err(|e| anyhow::anyhow!("accept: {e}"))?;
        let tx = arrivals_tx.clone();
        tokio::spawn(async move {
            while let Some((_, mut stream)) = pushes.next().await {
                while let Ok(frame) = read_frame(&mut stream, 1 << 20).await {
                    let at = Instant::now();
                    let seq = MessagePush::decode(frame.as_slice())
                        .ok()
                        .and_then(|p| p.waku_message)
                        .and_then(|m| m.payload.get(..8).and_then(|b| b.try_into().ok()))
                        .map(u64::from_be_bytes);
                    if let Some(seq) = seq {
                        let _ = tx.try_send((seq, at));
                    }
                }
            }
        });
        let sub = FilterSubscribeRequest {
            request_id: "bench".into(),
            filter_subscribe_type: FilterSubscribeType::Subscribe as i32,
            pubsub_topic: Some("/waku/2/rs/1/0".into()),
            content_topics: vec![FILTERED.into()],
        };
        let answer = request(&mut control, peer, protocol_id::FILTER_SUBSCRIBE, &sub.encode_to_vec(), 4096).await?;
        let answer = FilterSubscribeResponse::decode(answer.as_slice())?;
        anyhow::ensure!(answer.status_code == 200, "subscribe refused: {answer:?}");
        controls.push((control, peer));
    }
    drop(arrivals_tx);

    // Wait for the relay peer, so lightpush succeeds.
    let (publisher, service_peer) = controls.first().cloned().ok_or_else(|| anyhow::anyhow!("no clients"))?;
    let mut publisher = publisher;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply =
            lightpush(&mut publisher, service_peer, Version::V3, &message(0, 1 << 62, UNFILTERED, size)).await?;
        if reply.status == status::SUCCESS {
            break;
        }
        if Instant::now() > deadline {
            let peers = service.network.peers().await;
            let relays: Vec<_> =
                peers.iter().filter(|p| !p.topics.is_empty()).map(|p| (p.peer_id, &p.topics)).collect();
            anyhow::bail!("lightpush never succeeded: {reply:?}; {} peers, relay peers {relays:?}", peers.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Paced: one lightpush at a time; every subscriber's push is a sample.
    let mut push_latencies = Vec::with_capacity(paced * clients);
    for seq in 0..paced as u64 {
        let sent = Instant::now();
        let reply = lightpush(&mut publisher, service_peer, Version::V3, &message(0, seq, FILTERED, size)).await?;
        anyhow::ensure!(reply.status == status::SUCCESS, "paced lightpush: {reply:?}");
        let mut got = 0;
        while got < clients {
            let (s, at) = tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("subscribers stopped"))?;
            if s == seq {
                push_latencies.push(at - sent);
                got += 1;
            }
        }
    }

    // Rate: every client pushes `per_client` messages back to back, all at once.
    let pushed = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, (mut control, peer)) in controls.into_iter().enumerate() {
        let (pushed, failed) = (pushed.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            for seq in 0..per_client as u64 {
                let m = message(i + 1, (1 << 40) + seq, UNFILTERED, size);
                match lightpush(&mut control, peer, Version::V3, &m).await {
                    Ok(r) if r.status == status::SUCCESS => pushed.fetch_add(1, Ordering::Relaxed),
                    // Counted, not retried: the report gives the failure count.
                    Ok(_) | Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = start.elapsed();
    shutdown.cancel();
    service.stopped().await;
    relay.stopped().await;
    Ok(LightResult {
        push_latencies,
        pushed: pushed.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        elapsed,
    })
}
