//! Heliograph relay node: Waku v2 relay over libp2p with an nwaku-compatible
//! REST API. The binary only parses configuration and calls [`Node::start`];
//! everything else lives here so tests can drive it.

pub mod access;
pub mod bridge;
pub mod config;
pub mod http_server;
pub mod identity;
pub mod light;
pub mod logging;
pub mod metrics;
pub mod metrics_server;
pub mod p2p;
pub mod process_metrics;
pub mod publish;
pub mod rate_limit;
pub mod rest;
pub mod store;
pub mod turn;

pub use heliograph_waku as waku;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use libp2p::{Multiaddr, PeerId};
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{Cli, Config};

/// The cluster id of The Waku Network, where RLN validation is expected.
pub const TWN_CLUSTER: u16 = 1;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The libp2p side could not start.
    #[error(transparent)]
    Network(#[from] p2p::NetworkError),
    /// The light-client services could not start.
    #[error(transparent)]
    Light(#[from] light::LightError),
    /// The bridge could not start.
    #[error(transparent)]
    Bridge(#[from] bridge::BridgeError),
    /// The REST listener could not be bound.
    #[error("cannot bind the REST API on {addr}: {source}")]
    Rest {
        /// The configured address.
        addr: SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
    /// The metrics listener could not be bound.
    #[error("cannot bind the metrics listener on {addr}: {source}")]
    Metrics {
        /// The configured address.
        addr: SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
}

/// A running node.
pub struct Node {
    /// The node's peer id.
    pub peer_id: PeerId,
    /// Bound libp2p listen addresses.
    pub listen_addrs: Vec<Multiaddr>,
    /// Bound REST address, if the REST API is on.
    pub rest_addr: Option<SocketAddr>,
    /// Bound bridge (WebSocket JSON-RPC) address, if the bridge is on.
    pub bridge_addr: Option<SocketAddr>,
    /// Bound metrics address, if `metrics.addr` gives `/metrics` a listener of its own.
    pub metrics_addr: Option<SocketAddr>,
    /// Handle to the swarm task.
    pub network: p2p::NetworkHandle,
    store: Option<store::Store>,
    registry: Arc<Registry>,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Starts every part of the node; returns once all listeners are bound.
    /// Cancelling `shutdown` stops it; then await [`Node::stopped`].
    pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Node, StartError> {
        Self::start_with_transport(config, Arc::new(p2p::transport::build), shutdown).await
    }

    /// Starts the node as [`Node::start`] does, with libp2p connections made by
    /// `transport` instead of TCP and WebSocket (bench/ runs nodes over a simulated network).
    pub async fn start_with_transport(
        config: Config,
        transport: p2p::transport::TransportFactory,
        shutdown: CancellationToken,
    ) -> Result<Node, StartError> {
        config.validate()?;
        if config.relay.cluster_id == TWN_CLUSTER {
            tracing::warn!(
                cluster = TWN_CLUSTER,
                "cluster 1 is The Waku Network, whose nodes require RLN proofs; this node neither \
                 checks nor attaches them (it relays the proof field as it is), so TWN peers may score \
                 it down or drop what it forwards. Use --cluster-id with another id for a private mesh \
                 (see README, \"The Waku Network and RLN\")"
            );
        }
        let mut registry = Registry::default();
        let metrics = metrics::NodeMetrics::default();
        metrics.register(&mut registry);
        let refusals = http_server::Refusals::default();
        refusals.register(&mut registry);
        process_metrics::register(&mut registry);
        let bridge_metrics = bridge::BridgeMetrics { refusals: refusals.clone(), ..Default::default() };
        bridge_metrics.register(&mut registry);
        let store = if config.store.enabled {
            match store::Store::open(&config.store, &config.data_dir, metrics.clone(), shutdown.clone()) {
                Ok(store) => Some(store),
                Err(e) => {
                    // The node still relays; store queries get "service unavailable".
                    tracing::error!(error = %e, "running without a message store");
                    None
                }
            }
        } else {
            None
        };
        let (network, network_task) = {
            let server = store
                .clone()
                .map(|s| Arc::new(store::server::StoreServer::new(s)) as Arc<dyn p2p::inbound::InboundService>);
            p2p::spawn(&config, transport, &mut registry, metrics.clone(), server, shutdown.clone()).await?
        };
        let info = network.info().await;
        let mut tasks = vec![network_task];
        let publisher = publish::Publisher::new(network.clone(), store.clone());
        let light::Started { px_cache, filter: filter_hub, tasks: light_tasks } = light::spawn(
            light::Services {
                network: network.clone(),
                store: store.clone(),
                metrics: metrics.clone(),
                policy: light::TopicPolicy::from_config(&config),
                filter_limits: light::filter::Limits::default(),
                config: config.light.clone(),
                own_enr: info.as_ref().map(|i| i.enr.clone()),
                seeds: config.network.bootstrap.iter().filter_map(|p| p.enr().cloned()).collect(),
                target_outbound_peers: config.network.target_outbound_peers,
            },
            shutdown.clone(),
        )
        .await?;
        tasks.extend(light_tasks);
        let trees: Vec<waku::enrtree::EnrTreeUrl> =
            config.network.dns_discovery_urls.iter().filter_map(|u| u.parse().ok()).collect();
        if !trees.is_empty() {
            let seed = move |record: &waku::enr::NodeEnr| {
                px_cache.seed(record);
            };
            tasks.push(p2p::discovery::spawn(trees, network.clone(), seed, shutdown.clone()));
        }
        if let Some(store) = &store {
            tasks.push(store.spawn_ingest(network.messages(), shutdown.clone()));
            tasks.push(store::retention::spawn(
                store.clone(),
                (&config.store).into(),
                config.store.retention_interval,
                shutdown.clone(),
            ));
            if config.store.gap_fill {
                tasks.push(store::sync::spawn(
                    store.clone(),
                    network.clone(),
                    metrics.clone(),
                    config.store.gap_fill_max_window,
                    shutdown.clone(),
                ));
            }
        }
        let mut bridge_addr = None;
        let mut tokens = bridge::tokens::Tokens::new(&config.bridge.token_keys).map_err(bridge::BridgeError::from)?;
        if !config.bridge.token_keys.is_empty() {
            let seen = config.data_dir.join(bridge::tokens::SEEN_JTI_FILE);
            tokens = tokens.with_seen_file(&seen, waku::time::now_secs()).map_err(bridge::BridgeError::from)?;
        }
        if config.bridge.enabled {
            let file = config.data_dir.join(bridge::tokens::TOKEN_FILE);
            tokens = tokens.with_token_file(&file, waku::time::now_secs()).map_err(bridge::BridgeError::from)?;
        }
        let bridge_tokens = Arc::new(tokens);
        if config.bridge.enabled {
            let (addr, bridge_tasks) = bridge::spawn(
                &config,
                network.clone(),
                publisher.clone(),
                store.clone(),
                bridge_metrics,
                bridge_tokens.clone(),
                shutdown.clone(),
            )
            .await?;
            tasks.extend(bridge_tasks);
            bridge_addr = Some(addr);
        }
        let registry = Arc::new(registry);
        let mut rest_addr = None;
        if config.rest.enabled {
            // As nwaku, the REST cache holds the configured topics from the start.
            let mut relay_cache = rest::cache::RelayCache::new(config.relay.cache_size);
            relay_cache
                .subscribe_pubsub(&config.pubsub_topics()?)
                .map_err(|e| config::ConfigError::Invalid(e.to_string()))?;
            let state = rest::AppState {
                network: network.clone(),
                cache: Arc::new(Mutex::new(relay_cache)),
                registry: registry.clone(),
                metrics,
                store: store.clone(),
                publisher,
                cluster_id: config.relay.cluster_id,
                num_shards: config.relay.num_shards,
                static_dir: config.rest.static_dir.clone(),
                bridge_tokens: config.bridge.enabled.then(|| bridge_tokens.clone()),
                lightpush_node: config.light.lightpush_node.clone(),
                store_node: config.light.store_node.clone(),
                filter_hub,
                publish_without_peers: config.rest.publish_without_peers,
                filter: config.light.filter_node.clone().map(|node| rest::filter::FilterClient {
                    node,
                    cache: Arc::new(Mutex::new(rest::cache::RelayCache::new(config.relay.cache_size))),
                }),
                health: rest::health::Checks::from_config(&config),
            };
            tasks.push(rest::spawn_cache_filler(&state, shutdown.clone()));
            if let Some(client) = &state.filter {
                tasks.extend(client.spawn_receiver(&state, shutdown.clone())?);
            }
            let admin = config.rest.admin_secret()?;
            let (addr, task) = rest::serve(&config, state, admin.as_ref(), refusals.listener("rest"), shutdown.clone())
                .await
                .map_err(|source| StartError::Rest { addr: config.rest.addr, source })?;
            tasks.push(task);
            rest_addr = Some(addr);
        }
        let mut metrics_addr = None;
        if let Some(addr) = config.metrics.addr {
            let (bound, task) = metrics_server::serve(addr, &config, registry.clone(), &refusals, shutdown.clone())
                .await
                .map_err(|source| StartError::Metrics { addr, source })?;
            tasks.push(task);
            metrics_addr = Some(bound);
        }
        Ok(Node {
            peer_id: network.peer_id(),
            listen_addrs: info.map(|i| i.listen_addrs).unwrap_or_default(),
            rest_addr,
            bridge_addr,
            metrics_addr,
            network,
            store,
            registry,
            tasks,
        })
    }

    /// The node's message store, if it has one.
    pub fn store(&self) -> Option<&store::Store> {
        self.store.as_ref()
    }

    /// The node's metrics in the Prometheus text format, as `GET /metrics` serves them.
    pub fn metrics_text(&self) -> String {
        // Writing into a String cannot fail.
        metrics::encode(&self.registry).unwrap_or_default()
    }

    /// Waits until every task of the node has stopped (after shutdown).
    pub async fn stopped(self) {
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a node task panicked");
            }
        }
        // Close RocksDB before the process exits, not in a race with it.
        if let Some(store) = self.store {
            store.close().await;
        }
    }
}
