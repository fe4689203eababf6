//! Node configuration: built-in defaults, overridden by a TOML file, then by
//! `HELIOGRAPH_*` environment variables and command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

pub use crate::logging::LogFormat;
use crate::waku::bootstrap::BootstrapPeer;
use crate::waku::{PubsubTopic, TopicError};

/// Most pubsub topics the node joins, configured plus added at run time.
pub const MAX_PUBSUB_TOPICS: usize = 1024;

/// The `bridge.pubsub_topics` entry that opens every pubsub topic to bridge clients.
pub const ANY_TOPIC: &str = "*";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The TOML file is not valid for this schema.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        source: Box<toml::de::Error>,
    },
    /// A topic in the configuration is malformed.
    #[error("invalid pubsub topic in configuration: {0}")]
    Topic(#[from] TopicError),
    /// Values that cannot work together.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The whole node configuration, as written in a TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder for the node key and the message store. Created if missing.
    pub data_dir: PathBuf,
    /// The node key as hex (nwaku's `--nodekey`) instead of `<data_dir>/node-key`.
    /// Never printed by `--print-config`.
    #[serde(skip_serializing)]
    pub node_key: Option<crate::identity::NodeKey>,
    /// Log filter in `tracing` syntax, e.g. `info` or `heliograph_node=debug,info`.
    pub log: String,
    /// How log lines are written to stderr: `text`, or `json` (one object per line).
    pub log_format: LogFormat,
    /// libp2p listeners, peers and connection limits.
    pub network: NetworkConfig,
    /// Waku relay (gossipsub) topics and cluster.
    pub relay: RelayConfig,
    /// The nwaku-compatible REST API.
    pub rest: RestConfig,
    /// The message store (RocksDB) and the store v3 protocol.
    pub store: StoreConfig,
    /// The WebSocket JSON-RPC bridge for dapps and wallets (waku_* and WalletConnect irn_*).
    pub bridge: BridgeConfig,
    /// The light-client protocols served (filter, lightpush, peer exchange).
    pub light: LightConfig,
    /// Where Prometheus scrapes `/metrics`.
    pub metrics: MetricsConfig,
    /// The TURN server whose short-lived credentials the bridge hands out (`turn_credentials`).
    pub turn: TurnConfig,
}

/// A TURN server the operator runs (e.g. coturn with `use-auth-secret`) that shares a
/// secret with the node: bridge clients get short-lived credentials for it from the
/// `turn_credentials` method. Off without a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {
    /// The URLs clients are given, e.g. `turn:turn.example.org:3478?transport=udp`,
    /// `turns:turn.example.org:5349` or `stun:turn.example.org:3478`.
    pub urls: Vec<String>,
    /// The secret shared with the TURN server (coturn's `static-auth-secret`, at least 16
    /// characters). Never printed by `--print-config`, never logged.
    #[serde(skip_serializing)]
    pub secret: Option<Secret>,
    /// File holding the shared secret (trailing whitespace ignored), instead of `secret`.
    pub secret_file: Option<PathBuf>,
    /// How long handed-out credentials stay valid (60 s to 24 h).
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig { urls: Vec::new(), secret: None, secret_file: None, ttl: Duration::from_secs(3600) }
    }
}

impl TurnConfig {
    /// The credential issuer, or `None` when no secret is configured.
    pub fn issuer(&self) -> Result<Option<crate::turn::Issuer>, ConfigError> {
        let Some(secret) = read_secret("turn.secret", self.secret.as_ref(), self.secret_file.as_deref())? else {
            if !self.urls.is_empty() {
                return Err(ConfigError::Invalid("turn.urls need turn.secret or turn.secret_file".into()));
            }
            return Ok(None);
        };
        if self.urls.is_empty() {
            return Err(ConfigError::Invalid("turn.secret needs at least one turn.urls entry".into()));
        }
        if let Some(url) = self.urls.iter().find(|u| !["turn:", "turns:", "stun:"].iter().any(|p| u.starts_with(p))) {
            return Err(ConfigError::Invalid(format!("turn.urls entry {url} must start with turn:, turns: or stun:")));
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(86_400)).contains(&self.ttl) {
            return Err(ConfigError::Invalid("turn.ttl must be between 60s and 24h".into()));
        }
        Ok(Some(crate::turn::Issuer::new(self.urls.clone(), secret.expose(), self.ttl)))
    }
}

/// Where Prometheus scrapes `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// A listener of its own for `GET /metrics` (plain HTTP), which the REST API then no
    /// longer serves; unset: `/metrics` is a REST route. It has the REST listener's
    /// header timeout and per-IP cap, and checks `Host` as REST does.
    pub addr: Option<SocketAddr>,
    /// Extra `Host` header values the metrics listener accepts (loopback names and the
    /// bound address always are), e.g. the name Prometheus scrapes it by.
    pub allowed_hosts: Vec<String>,
}

/// Limits of the light-client protocols served to `@waku/sdk` and other light nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LightConfig {
    /// Serve lightpush (v3 and legacy v2) to light clients.
    pub lightpush: bool,
    /// Lightpush requests (v3 and v2 together) per minute per peer, also the burst;
    /// over it a request gets 429 TOO_MANY_REQUESTS (v2: an error response). 0: no limit.
    pub lightpush_rate_limit: u32,
    /// Filter subscribe, ping and unsubscribe requests per minute per peer, also the
    /// burst; over it a request gets 429. 0: no limit.
    pub filter_rate_limit: u32,
    /// A lightpush service node (multiaddr ending in `/p2p/<peer id>`) that the REST
    /// `POST /lightpush/v3/message` pushes through, by lightpush v3, instead of this
    /// node's own relay: a node without relay peers of its own still publishes.
    pub lightpush_node: Option<Multiaddr>,
    /// A filter service node (multiaddr ending in `/p2p/<peer id>`) that the REST
    /// `/filter/v2/*` routes subscribe on, as a filter client (nwaku's `--filternode`);
    /// without it those routes answer 503.
    pub filter_node: Option<Multiaddr>,
    /// A store service node (multiaddr ending in `/p2p/<peer id>`) that REST store
    /// queries without `peerAddr` go to when this node has no store of its own
    /// (nwaku's `--storenode`).
    pub store_node: Option<Multiaddr>,
}

impl Default for LightConfig {
    fn default() -> Self {
        LightConfig {
            lightpush: true,
            lightpush_rate_limit: 600,
            filter_rate_limit: 120,
            lightpush_node: None,
            filter_node: None,
            store_node: None,
        }
    }
}

/// The WebSocket JSON-RPC bridge (see docs/bridge.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BridgeConfig {
    /// Serve the bridge at all.
    pub enabled: bool,
    /// Listener address. Loopback by default; put a TLS reverse proxy in front to expose it.
    pub addr: SocketAddr,
    /// Extra `Host` header values accepted on the upgrade (loopback hosts always are).
    pub allowed_hosts: Vec<String>,
    /// Extra `Origin` values accepted (`*` accepts any); no-Origin and loopback origins always are.
    pub allowed_origins: Vec<String>,
    /// The URLs WalletConnect clients are given for this relay (e.g. `wss://relay.example.org`):
    /// the `aud` of their auth JWT must be one. Empty: `aud` must be a ws:// or wss:// URL
    /// of the upgrade's Host header.
    pub public_urls: Vec<String>,
    /// Interval of WebSocket ping frames (WalletConnect clients drop a socket silent for 35 s).
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// Largest incoming frame in bytes; larger ones close the socket with 1009.
    pub max_frame_size: usize,
    /// Most subscriptions (content or WalletConnect topics) one connection holds.
    pub max_subscriptions: usize,
    /// Pubsub topics bridge clients may subscribe, publish and read history on; `"*"`
    /// opens any. Empty: the node's own topics and every shard of its cluster.
    pub pubsub_topics: Vec<String>,
    /// Most pubsub topics one connection may have the node join beyond its own.
    pub max_pubsub_topics_per_connection: usize,
    /// Most pubsub topics all bridge connections together may have the node join beyond its
    /// own; the operator's REST subscriptions keep the rest of the node's topic room.
    pub max_pubsub_topics: usize,
    /// Most bytes of topic names one connection's subscriptions may hold.
    pub max_topic_bytes_per_connection: usize,
    /// Most bytes of topic names all bridge subscriptions together may hold.
    pub max_topic_bytes: usize,
    /// Bytes queued for one connection before it is disconnected as a slow consumer.
    pub max_pending_bytes: usize,
    /// Longest a single socket write may take before the connection is dropped as a slow consumer.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// Requests per minute per client (WalletConnect client id); 0 disables the limit.
    /// Bad frames count as requests here too; acks do not.
    pub rate_limit_per_client: u32,
    /// Requests per minute per IP address, bad frames included; 0 disables the limit.
    pub rate_limit_per_ip: u32,
    /// Bad frames per minute per connection, also the burst: frames that are not JSON or
    /// not JSON-RPC, binary frames, unknown methods and params that fail validation. Each
    /// gets its JSON-RPC error; past the budget the connection is closed with 1008. 0: off.
    pub bad_frame_limit: u32,
    /// Most connections at once.
    pub max_connections: usize,
    /// Most connections open at once from one IP address, counted from the TCP accept,
    /// so half-open handshakes count too; more get HTTP 503. Trusted proxies are not counted.
    pub max_connections_per_ip: usize,
    /// Longest a client may take to send its whole WebSocket upgrade request; slower
    /// (half-open) connections are closed.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Refuse connections without a valid token, and waku_* calls on connections without one
    /// (a WalletConnect auth JWT admits a connection to the irn_* methods only).
    pub require_token: bool,
    /// Ed25519 public keys (hex or base64) that sign capability tokens; list two while rotating.
    pub token_keys: Vec<String>,
    /// Reverse proxies (CIDRs, e.g. `127.0.0.1/32`) whose `X-Forwarded-For` / `Forwarded`
    /// headers name the client IP for the per-IP limit; from any other peer they are ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Bytes of WalletConnect messages the relay's mailbox keeps for receivers,
    /// over all topics; a publish that finds no room is refused (-32005).
    pub wc_mailbox_max_bytes: usize,
    /// Bytes of WalletConnect messages kept on one topic.
    pub wc_topic_max_bytes: usize,
    /// Largest response frame in bytes: irn_fetchMessages, irn_batchFetchMessages
    /// and waku_history answer in pages up to it (a page holds at least one message).
    pub max_response_bytes: usize,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            enabled: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 8090)),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            public_urls: Vec::new(),
            ping_interval: Duration::from_secs(20),
            max_frame_size: 1024 * 1024,
            max_subscriptions: 1000,
            pubsub_topics: Vec::new(),
            max_pubsub_topics_per_connection: 8,
            max_pubsub_topics: 64,
            max_topic_bytes_per_connection: 64 * 1024,
            max_topic_bytes: 64 * 1024 * 1024,
            max_pending_bytes: 8 * 1024 * 1024,
            write_timeout: Duration::from_secs(10),
            rate_limit_per_client: 100,
            rate_limit_per_ip: 1000,
            bad_frame_limit: 20,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            handshake_timeout: Duration::from_secs(10),
            require_token: false,
            token_keys: Vec::new(),
            trusted_proxies: Vec::new(),
            wc_mailbox_max_bytes: 256 * 1024 * 1024,
            wc_topic_max_bytes: 4 * 1024 * 1024,
            max_response_bytes: 4 * 1024 * 1024,
        }
    }
}

/// libp2p listeners, peers and connection limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Multiaddrs to listen on; `/tcp/N/ws` for WebSocket (what js-waku dials).
    pub listen: Vec<Multiaddr>,
    /// Addresses other peers can reach this node at (put in identify and the ENR).
    pub external_addresses: Vec<Multiaddr>,
    /// Peers dialed at start and redialed with backoff whenever the connection drops:
    /// multiaddrs, or signed ENRs (`enr:…`), which peer exchange also hands out.
    pub bootstrap: Vec<BootstrapPeer>,
    /// EIP-1459 ENR trees (`enrtree://<key>@<domain>`) resolved over DNS for more
    /// peers to dial, as nwaku's `--dns-discovery-url`.
    pub dns_discovery_urls: Vec<String>,
    /// Close a connection after this long without any open stream. js-waku light
    /// clients ping only every 5 minutes, so keep this above that.
    #[serde(with = "humantime_serde")]
    pub idle_connection_timeout: Duration,
    /// Most established connections in total.
    pub max_connections: u32,
    /// Most established connections to a single peer.
    pub max_connections_per_peer: u32,
    /// Most connections still in the handshake.
    pub max_pending_connections: u32,
    /// Longest wait between two redials of a bootstrap peer.
    #[serde(with = "humantime_serde")]
    pub max_redial_backoff: Duration,
    /// Outbound connections the node keeps: while it has fewer, it dials peers it
    /// learned by peer exchange (checked every 10 s). Bootstrap peers count. This is
    /// how a node with one bootstrap address joins a mesh beyond it. 0: never dial them.
    pub target_outbound_peers: usize,
}

/// Waku relay (gossipsub) topics and cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Cluster id; peers of another cluster are disconnected.
    pub cluster_id: u16,
    /// Shards in the cluster, for autosharding content topics (1 to 1024).
    pub num_shards: u16,
    /// Shards this node relays; empty means all `num_shards`.
    pub shards: Vec<u16>,
    /// Extra pubsub topics to relay, e.g. the legacy `/waku/2/default-waku/proto`.
    pub pubsub_topics: Vec<String>,
    /// Messages kept per topic for `GET /relay/v1/messages` polling.
    pub cache_size: usize,
    /// Farthest a message timestamp may be from this node's clock, either way: messages
    /// beyond it are refused from peers (not forwarded), REST, lightpush and the bridge.
    /// Messages without a timestamp pass. nwaku's window is 20 s.
    #[serde(with = "humantime_serde")]
    pub max_timestamp_drift: Duration,
}

/// The nwaku-compatible REST API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestConfig {
    /// Serve the REST API at all.
    pub enabled: bool,
    /// Address of the REST API. Loopback by default: it can publish and dial.
    pub addr: SocketAddr,
    /// Folder of static pages (e.g. the demo dapp and wallet) served under `/demo/`.
    pub static_dir: Option<PathBuf>,
    /// Answer a relay publish that reaches no relay peer with 200, delivering it to
    /// this node's own consumers (REST cache, filter subscribers, store) only, as
    /// nwaku does. Off: such a publish gets 503, so the caller knows it went nowhere.
    pub publish_without_peers: bool,
    /// Longest a client may take to send a whole request head, and longest a
    /// keep-alive connection may sit idle; slower (half-open) connections are closed.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Most connections open at once from one IP address; more get HTTP 503.
    pub max_connections_per_ip: usize,
    /// Extra `Host` header values accepted (loopback names and the bound address always are).
    pub allowed_hosts: Vec<String>,
    /// Extra `Origin` values accepted on state-changing requests (POST, PUT, DELETE; `*`
    /// accepts any); no Origin, loopback and same-origin pages always are.
    pub allowed_origins: Vec<String>,
    /// Bearer secret for token minting and `/admin/v1/*` (at least 16 characters; empty: none).
    /// Required for them when the REST address is not loopback. Never printed by `--print-config`.
    #[serde(skip_serializing)]
    pub admin_token: Option<Secret>,
    /// File holding the admin secret (trailing whitespace ignored), instead of `admin_token`.
    pub admin_token_file: Option<PathBuf>,
}

/// Shortest admin secret accepted.
pub const MIN_SECRET_LEN: usize = 16;

/// A secret string of the configuration: `Debug` prints it redacted, and it is never serialized.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret's text, for comparing it (in constant time).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl RestConfig {
    /// The admin secret: `admin_token`, or the content of `admin_token_file`.
    /// An empty `admin_token` (e.g. an unset variable in compose) means none.
    pub fn admin_secret(&self) -> Result<Option<Secret>, ConfigError> {
        read_secret("rest.admin_token", self.admin_token.as_ref(), self.admin_token_file.as_deref())
    }
}

/// The secret named `key`: given inline, or as the content of `file` (trailing whitespace
/// ignored); at least [`MIN_SECRET_LEN`] characters. An empty inline value (e.g. an unset
/// variable in compose) means none.
fn read_secret(key: &str, inline: Option<&Secret>, file: Option<&Path>) -> Result<Option<Secret>, ConfigError> {
    let inline = inline.filter(|t| !t.0.is_empty());
    let secret = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid(format!("set {key} or {key}_file, not both")));
        }
        (Some(secret), None) => secret.clone(),
        (None, Some(path)) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
            Secret(text.trim_end().to_owned())
        }
        (None, None) => return Ok(None),
    };
    if secret.0.chars().count() < MIN_SECRET_LEN {
        return Err(ConfigError::Invalid(format!("{key} must be at least {MIN_SECRET_LEN} characters")));
    }
    Ok(Some(secret))
}

/// How hard the store works to keep what it acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Writes go to the write-ahead log before they are acknowledged, and the
    /// log is fsynced once a second: an acknowledged message survives a killed
    /// process; a power cut can lose the last second.
    GroupCommit,
    /// Every batch is fsynced before it is acknowledged: survives a power cut.
    Strict,
}

/// The message store (RocksDB) and the store v3 protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Store relayed messages and serve store queries.
    pub enabled: bool,
    /// Database folder; empty means `<data_dir>/store`.
    pub path: Option<PathBuf>,
    /// What an acknowledged write survives.
    pub durability: Durability,
    /// Evict messages older than this (0 keeps them forever).
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Evict the oldest beyond this many messages (0: no limit).
    pub max_messages: u64,
    /// Evict the oldest beyond this many bytes of messages (0: no limit).
    pub max_bytes: u64,
    /// How often retention runs.
    #[serde(with = "humantime_serde")]
    pub retention_interval: Duration,
    /// Largest page a store query gets.
    pub max_page_size: usize,
    /// After a restart or a partition, fetch missed messages from peers' stores.
    pub gap_fill: bool,
    /// Longest window gap filling looks back.
    #[serde(with = "humantime_serde")]
    pub gap_fill_max_window: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            enabled: true,
            path: None,
            durability: Durability::GroupCommit,
            max_age: Duration::from_secs(2 * 24 * 3600),
            max_messages: 10_000_000,
            max_bytes: 8 * 1024 * 1024 * 1024,
            retention_interval: Duration::from_secs(10),
            max_page_size: 100,
            gap_fill: true,
            gap_fill_max_window: Duration::from_secs(6 * 3600),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("heliograph-data"),
            node_key: None,
            log: "info".into(),
            log_format: LogFormat::Text,
            network: NetworkConfig::default(),
            relay: RelayConfig::default(),
            rest: RestConfig::default(),
            store: StoreConfig::default(),
            bridge: BridgeConfig::default(),
            light: LightConfig::default(),
            metrics: MetricsConfig::default(),
            turn: TurnConfig::default(),
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/60000".parse().expect("valid literal"),
                "/ip4/0.0.0.0/tcp/8000/ws".parse().expect("valid literal"),
            ],
            external_addresses: Vec::new(),
            bootstrap: Vec::new(),
            dns_discovery_urls: Vec::new(),
            idle_connection_timeout: Duration::from_secs(600),
            max_connections: 300,
            max_connections_per_peer: 2,
            max_pending_connections: 64,
            max_redial_backoff: Duration::from_secs(60),
            target_outbound_peers: 6,
        }
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            cluster_id: 1,
            num_shards: 8,
            shards: Vec::new(),
            pubsub_topics: Vec::new(),
            cache_size: 100,
            max_timestamp_drift: crate::waku::message::DEFAULT_MAX_TIMESTAMP_DRIFT,
        }
    }
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            enabled: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 8645)),
            static_dir: None,
            publish_without_peers: false,
            header_timeout: Duration::from_secs(10),
            max_connections_per_ip: 64,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            admin_token: None,
            admin_token_file: None,
        }
    }
}

impl Config {
    /// Reads a TOML file; missing keys keep their defaults, unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse { path: path.to_owned(), source },
            other => other,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: PathBuf::new(), source: Box::new(e) })
    }

    /// Loads the configuration the way the binary does: defaults, then the TOML
    /// file named by `--config`/`HELIOGRAPH_CONFIG`, then env vars and flags.
    pub fn load(cli: Cli) -> Result<Self, ConfigError> {
        let mut config = match &cli.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        cli.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// The shards this node relays.
    pub fn shards(&self) -> Vec<u16> {
        if self.relay.shards.is_empty() { (0..self.relay.num_shards).collect() } else { self.relay.shards.clone() }
    }

    /// Every pubsub topic the node relays: its shards, then the extra topics.
    pub fn pubsub_topics(&self) -> Result<Vec<PubsubTopic>, ConfigError> {
        let cluster = self.relay.cluster_id;
        let mut topics: Vec<PubsubTopic> =
            self.shards().into_iter().map(|shard| PubsubTopic::Sharded { cluster, shard }).collect();
        for raw in &self.relay.pubsub_topics {
            let topic: PubsubTopic = raw.parse()?;
            if let Some(other) = topic.cluster().filter(|c| *c != cluster) {
                return Err(ConfigError::Invalid(format!(
                    "pubsub topic {topic} is in cluster {other} but the node is in cluster {cluster}"
                )));
            }
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        Ok(topics)
    }

    /// Checks values that the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let max_shards = crate::waku::enr::MAX_SHARD_INDEX + 1;
        if self.relay.num_shards == 0 || self.relay.num_shards > max_shards {
            return Err(ConfigError::Invalid(format!(
                "relay.num_shards must be between 1 and {max_shards} (Waku's shard indices are 0..{})",
                max_shards - 1
            )));
        }
        if let Some(s) = self.relay.shards.iter().find(|s| **s >= self.relay.num_shards) {
            return Err(ConfigError::Invalid(format!(
                "shard {s} is out of range: the cluster has {} shards (0..{})",
                self.relay.num_shards,
                self.relay.num_shards - 1
            )));
        }
        if self.network.listen.is_empty() {
            return Err(ConfigError::Invalid("network.listen needs at least one address".into()));
        }
        if self.network.max_connections == 0 || self.network.max_connections_per_peer == 0 {
            return Err(ConfigError::Invalid("connection limits must be at least 1".into()));
        }
        let services = [
            ("lightpush_node", &self.light.lightpush_node),
            ("filter_node", &self.light.filter_node),
            ("store_node", &self.light.store_node),
        ];
        for (key, node) in services {
            if let Some(node) = node
                && crate::waku::addr::peer_of(node).is_none()
            {
                return Err(ConfigError::Invalid(format!(
                    "light.{key} {node} must end in /p2p/<peer id> so the node knows which peer serves it"
                )));
            }
        }
        if self.store.max_page_size == 0 {
            return Err(ConfigError::Invalid("store.max_page_size must be at least 1".into()));
        }
        if self.relay.max_timestamp_drift < Duration::from_secs(1) {
            return Err(ConfigError::Invalid("relay.max_timestamp_drift must be at least 1s (nwaku uses 20s)".into()));
        }
        if self.relay.cache_size == 0 {
            return Err(ConfigError::Invalid("relay.cache_size must be at least 1".into()));
        }
        for url in &self.network.dns_discovery_urls {
            url.parse::<crate::waku::enrtree::EnrTreeUrl>().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        if self.bridge.ping_interval.is_zero() || self.bridge.ping_interval >= Duration::from_secs(35) {
            return Err(ConfigError::Invalid(
                "bridge.ping_interval must be between 0 and 35 s (WalletConnect clients drop silent sockets)".into(),
            ));
        }
        if self.bridge.max_frame_size < 1024 || self.bridge.max_subscriptions == 0 || self.bridge.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "bridge.max_frame_size must be at least 1024, max_subscriptions and max_connections at least 1".into(),
            ));
        }
        for topic in self.bridge.pubsub_topics.iter().filter(|t| *t != ANY_TOPIC) {
            topic.parse::<PubsubTopic>()?;
        }
        let room = MAX_PUBSUB_TOPICS / 2;
        if self.bridge.max_pubsub_topics > room {
            return Err(ConfigError::Invalid(format!(
                "bridge.max_pubsub_topics must be at most {room}, so the operator keeps room for its own topics"
            )));
        }
        if self.bridge.max_connections_per_ip == 0 || self.rest.max_connections_per_ip == 0 {
            return Err(ConfigError::Invalid("rest and bridge max_connections_per_ip must be at least 1".into()));
        }
        if self.bridge.handshake_timeout.is_zero() || self.rest.header_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "bridge.handshake_timeout and rest.header_timeout must be above 0 (slow clients are cut off)".into(),
            ));
        }
        self.rest.admin_secret()?;
        self.turn.issuer()?;
        self.pubsub_topics()?;
        Ok(())
    }
}

/// Heliograph relay node: Waku v2 relay over libp2p, with an nwaku-compatible REST API.
///
/// Every flag can also be set by a `HELIOGRAPH_*` environment variable or in a TOML file
/// given with `--config` (see deploy/heliograph.toml for every key). Flags win over the
/// environment, the environment over the file, the file over built-in defaults.
#[derive(Debug, Default, Parser)]
#[command(name = "heliograph", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(short, long, env = "HELIOGRAPH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Folder for the node key (stable peer id) and stored messages [default: ./heliograph-data,
    /// git-ignored in the checkout].
    #[arg(long, env = "HELIOGRAPH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The node key, 64 hex characters of a secp256k1 secret (like nwaku's `--nodekey`;
    /// `heliograph key generate` makes one), instead of the key file in the data dir.
    /// Never logged; prefer the variable or the file over the flag (visible in `ps`).
    #[arg(long, env = "HELIOGRAPH_NODE_KEY", value_name = "HEX", hide_env_values = true)]
    pub node_key: Option<crate::identity::NodeKey>,

    /// Log filter, e.g. `info`, `debug`, `heliograph_node=debug,info` [default: info].
    #[arg(long, env = "HELIOGRAPH_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Log lines on stderr as `text` or `json` (one object per line, with the span fields)
    /// [default: text].
    #[arg(long, env = "HELIOGRAPH_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Serve `/metrics` on a listener of its own (plain HTTP, e.g. `0.0.0.0:9464`) instead of
    /// the REST address [default: unset: on the REST address].
    #[arg(long, env = "HELIOGRAPH_METRICS_ADDR", value_name = "IP:PORT")]
    pub metrics_addr: Option<SocketAddr>,

    /// Host header value the metrics listener accepts besides loopback names and the bound
    /// address, e.g. the name Prometheus scrapes it by (repeatable).
    #[arg(
        long = "metrics-allowed-host",
        env = "HELIOGRAPH_METRICS_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub metrics_allowed_hosts: Vec<String>,

    /// Address to listen on (repeatable). Use `/ip4/0.0.0.0/tcp/8000/ws` for WebSocket
    /// [default: /ip4/0.0.0.0/tcp/60000 and /ip4/0.0.0.0/tcp/8000/ws].
    #[arg(long = "listen", env = "HELIOGRAPH_LISTEN", value_delimiter = ',', value_name = "MULTIADDR")]
    pub listen: Vec<Multiaddr>,

    /// Publicly reachable address of this node, announced to peers (repeatable).
    #[arg(
        long = "external-address",
        env = "HELIOGRAPH_EXTERNAL_ADDRESSES",
        value_delimiter = ',',
        value_name = "MULTIADDR"
    )]
    pub external_addresses: Vec<Multiaddr>,

    /// Peer to connect to and keep connected, e.g. `/ip4/10.0.0.2/tcp/60000/p2p/16U…`, or a
    /// signed `enr:…` record, which peer exchange also hands out (repeatable).
    #[arg(long = "bootstrap", env = "HELIOGRAPH_BOOTSTRAP", value_delimiter = ',', value_name = "MULTIADDR|ENR")]
    pub bootstrap: Vec<BootstrapPeer>,

    /// Outbound connections kept by dialing peers learned by peer exchange; 0: none [default: 6].
    #[arg(long, env = "HELIOGRAPH_TARGET_OUTBOUND_PEERS", value_name = "N")]
    pub target_outbound_peers: Option<usize>,

    /// EIP-1459 ENR tree to discover peers from over DNS, `enrtree://<key>@<domain>` (repeatable).
    #[arg(
        long = "dns-discovery-url",
        env = "HELIOGRAPH_DNS_DISCOVERY_URLS",
        value_delimiter = ',',
        value_name = "ENRTREE_URL"
    )]
    pub dns_discovery_urls: Vec<String>,

    /// Waku cluster id; peers of other clusters are disconnected [default: 1].
    #[arg(long, env = "HELIOGRAPH_CLUSTER_ID", value_name = "ID")]
    pub cluster_id: Option<u16>,

    /// Number of shards in the cluster, used by autosharding, 1 to 1024 [default: 8].
    #[arg(long, env = "HELIOGRAPH_NUM_SHARDS", value_name = "N")]
    pub num_shards: Option<u16>,

    /// Shard to relay (repeatable) [default: every shard of the cluster].
    #[arg(long = "shard", env = "HELIOGRAPH_SHARDS", value_delimiter = ',', value_name = "N")]
    pub shards: Vec<u16>,

    /// Extra pubsub topic to relay, e.g. `/waku/2/default-waku/proto` (repeatable).
    #[arg(long = "pubsub-topic", env = "HELIOGRAPH_PUBSUB_TOPICS", value_delimiter = ',', value_name = "TOPIC")]
    pub pubsub_topics: Vec<String>,

    /// Farthest a message timestamp may be from this node's clock, either way, e.g. `20s`;
    /// messages beyond it are refused on every ingress [default: 20s].
    #[arg(long, env = "HELIOGRAPH_MAX_TIMESTAMP_DRIFT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub max_timestamp_drift: Option<Duration>,

    /// Address of the REST API, and of /metrics without `--metrics-addr` [default: 127.0.0.1:8645].
    #[arg(long, env = "HELIOGRAPH_REST_ADDR", value_name = "IP:PORT")]
    pub rest_addr: Option<SocketAddr>,

    /// Answer REST relay publishes that reach no relay peer with 200 (delivered to this
    /// node's own REST cache, filter subscribers and store only), as nwaku does
    /// [default: off: 503].
    #[arg(long, env = "HELIOGRAPH_REST_PUBLISH_WITHOUT_PEERS")]
    pub rest_publish_without_peers: bool,

    /// Longest a REST client may take to send a request head, or sit idle between
    /// keep-alive requests, before it is disconnected [default: 10s].
    #[arg(long, env = "HELIOGRAPH_REST_HEADER_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub rest_header_timeout: Option<Duration>,

    /// Most REST connections open at once from one IP address [default: 64].
    #[arg(long, env = "HELIOGRAPH_REST_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub rest_max_connections_per_ip: Option<usize>,

    /// Host header value accepted by the REST API besides loopback names and the bound
    /// address, e.g. the name operators reach it by (repeatable).
    #[arg(
        long = "rest-allowed-host",
        env = "HELIOGRAPH_REST_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub rest_allowed_hosts: Vec<String>,

    /// Origin allowed to POST/PUT/DELETE on the REST API besides none, loopback and same-origin
    /// pages; `*` accepts any (repeatable).
    #[arg(
        long = "rest-allowed-origin",
        env = "HELIOGRAPH_REST_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub rest_allowed_origins: Vec<String>,

    /// Bearer secret (16+ characters) for `POST /bridge/v1/tokens` and `/admin/v1/*`, required
    /// for them when the REST address is not loopback. Never logged; prefer the variable or
    /// `--rest-admin-token-file` over the flag (visible in `ps`).
    #[arg(long, env = "HELIOGRAPH_REST_ADMIN_TOKEN", value_name = "SECRET", hide_env_values = true)]
    pub rest_admin_token: Option<Secret>,

    /// File holding the REST admin secret (trailing whitespace ignored).
    #[arg(long, env = "HELIOGRAPH_REST_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub rest_admin_token_file: Option<PathBuf>,

    /// Folder of static pages served under `/demo/` on the REST address (e.g. the demo apps).
    #[arg(long, env = "HELIOGRAPH_STATIC_DIR", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,

    /// Turn the message store off (no RocksDB, no store protocol).
    #[arg(long, env = "HELIOGRAPH_NO_STORE")]
    pub no_store: bool,

    /// Store durability: `group-commit` (fsync each second) or `strict` (fsync before ack)
    /// [default: group-commit].
    #[arg(long, env = "HELIOGRAPH_STORE_DURABILITY", value_name = "MODE")]
    pub store_durability: Option<Durability>,

    /// Evict stored messages older than this, e.g. `2d`, `12h` [default: 2d].
    #[arg(long, env = "HELIOGRAPH_STORE_MAX_AGE", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub store_max_age: Option<Duration>,

    /// Evict the oldest stored messages beyond this count [default: 10000000].
    #[arg(long, env = "HELIOGRAPH_STORE_MAX_MESSAGES", value_name = "N")]
    pub store_max_messages: Option<u64>,

    /// Address of the WebSocket bridge (waku_* and WalletConnect) [default: 127.0.0.1:8090];
    /// `0.0.0.0:8090` in a container, behind a TLS reverse proxy (deploy/nginx).
    #[arg(long, env = "HELIOGRAPH_BRIDGE_ADDR", value_name = "IP:PORT")]
    pub bridge_addr: Option<SocketAddr>,

    /// Turn the WebSocket bridge off.
    #[arg(long, env = "HELIOGRAPH_NO_BRIDGE")]
    pub no_bridge: bool,

    /// Host header value accepted on bridge upgrades besides loopback ones, e.g. the public
    /// name behind a reverse proxy (repeatable).
    #[arg(
        long = "bridge-allowed-host",
        env = "HELIOGRAPH_BRIDGE_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub bridge_allowed_hosts: Vec<String>,

    /// Origin accepted on bridge upgrades besides loopback and none, e.g.
    /// `https://app.example.org`; `*` accepts any (repeatable).
    #[arg(
        long = "bridge-allowed-origin",
        env = "HELIOGRAPH_BRIDGE_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub bridge_allowed_origins: Vec<String>,

    /// URL WalletConnect clients are given for this relay, e.g. `wss://relay.example.org`: the
    /// `aud` of their auth JWT must be one (repeatable). Unset: the upgrade's Host decides.
    #[arg(
        long = "bridge-public-url",
        env = "HELIOGRAPH_BRIDGE_PUBLIC_URLS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub bridge_public_urls: Vec<String>,

    /// Interval of the bridge's WebSocket pings, below 35 s [default: 20s].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_PING_INTERVAL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub bridge_ping_interval: Option<Duration>,

    /// Largest incoming bridge frame in bytes [default: 1048576].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_MAX_FRAME_SIZE", value_name = "BYTES")]
    pub bridge_max_frame_size: Option<usize>,

    /// Most subscriptions one bridge connection holds [default: 1000].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_MAX_SUBSCRIPTIONS", value_name = "N")]
    pub bridge_max_subscriptions: Option<usize>,

    /// Pubsub topic bridge clients may use (repeatable); `*` opens any [default: the node's own
    /// topics and every shard of its cluster].
    #[arg(
        long = "bridge-pubsub-topic",
        env = "HELIOGRAPH_BRIDGE_PUBSUB_TOPICS",
        value_delimiter = ',',
        value_name = "TOPIC"
    )]
    pub bridge_pubsub_topics: Vec<String>,

    /// Most pubsub topics one bridge connection may have the node join beyond its own [default: 8].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_MAX_PUBSUB_TOPICS_PER_CONNECTION", value_name = "N")]
    pub bridge_max_pubsub_topics_per_connection: Option<usize>,

    /// Most pubsub topics all bridge connections may have the node join beyond its own [default: 64].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_MAX_PUBSUB_TOPICS", value_name = "N")]
    pub bridge_max_pubsub_topics: Option<usize>,

    /// Most bytes of topic names one bridge connection's subscriptions may hold [default: 65536].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_MAX_TOPIC_BYTES_PER_CONNECTION", value_name = "BYTES")]
    pub bridge_max_topic_bytes_per_connection: Option<usize>,

    /// Most bytes of topic names all bridge subscriptions may hold [default: 67108864].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_MAX_TOPIC_BYTES", value_name = "BYTES")]
    pub bridge_max_topic_bytes: Option<usize>,

    /// Bytes queued for one bridge connection before it is dropped as a slow consumer
    /// [default: 8388608].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_MAX_PENDING_BYTES", value_name = "BYTES")]
    pub bridge_max_pending_bytes: Option<usize>,

    /// Longest one bridge socket write may take [default: 10s].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_WRITE_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub bridge_write_timeout: Option<Duration>,

    /// Bridge requests per minute per WalletConnect client id; 0 turns it off [default: 100].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_RATE_LIMIT_PER_CLIENT", value_name = "N")]
    pub bridge_rate_limit_per_client: Option<u32>,

    /// Bridge requests per minute per client IP; 0 turns it off [default: 1000].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_RATE_LIMIT_PER_IP", value_name = "N")]
    pub bridge_rate_limit_per_ip: Option<u32>,

    /// Bad frames (not JSON or JSON-RPC, binary, unknown method, invalid params) per minute
    /// per bridge connection, also the burst; past it the socket is closed with 1008; 0 turns
    /// it off [default: 20].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_BAD_FRAME_LIMIT", value_name = "N")]
    pub bridge_bad_frame_limit: Option<u32>,

    /// Most bridge connections at once [default: 10000].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_MAX_CONNECTIONS", value_name = "N")]
    pub bridge_max_connections: Option<usize>,

    /// Bytes of WalletConnect messages the bridge keeps for receivers over all topics;
    /// publishes beyond it are refused [default: 268435456].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_WC_MAILBOX_MAX_BYTES", value_name = "BYTES")]
    pub bridge_wc_mailbox_max_bytes: Option<usize>,

    /// Bytes of WalletConnect messages the bridge keeps on one topic [default: 4194304].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_WC_TOPIC_MAX_BYTES", value_name = "BYTES")]
    pub bridge_wc_topic_max_bytes: Option<usize>,

    /// Largest bridge response frame in bytes; fetches and history answer in pages
    /// up to it [default: 4194304].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_MAX_RESPONSE_BYTES", value_name = "BYTES")]
    pub bridge_max_response_bytes: Option<usize>,
    /// Most bridge connections open at once from one IP address, half-open ones included;
    /// trusted proxies are not counted [default: 256].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub bridge_max_connections_per_ip: Option<usize>,

    /// Longest a bridge client may take to send its WebSocket upgrade request [default: 10s].
    #[arg(long, env = "HELIOGRAPH_BRIDGE_HANDSHAKE_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub bridge_handshake_timeout: Option<Duration>,

    /// Refuse waku_* bridge connections without a valid token (`--bridge-require-token` or
    /// `--bridge-require-token false`) [default: false].
    #[arg(
        long,
        env = "HELIOGRAPH_BRIDGE_REQUIRE_TOKEN",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub bridge_require_token: Option<bool>,

    /// Ed25519 public key (hex or base64) that signs bridge capability tokens; give two while
    /// rotating (repeatable).
    #[arg(long = "bridge-token-key", env = "HELIOGRAPH_BRIDGE_TOKEN_KEYS", value_delimiter = ',', value_name = "KEY")]
    pub bridge_token_keys: Vec<String>,

    /// Reverse proxy (CIDR, e.g. `127.0.0.1/32` or `10.0.0.0/8`) trusted to name the client IP in
    /// `X-Forwarded-For`/`Forwarded` for the bridge's per-IP limit; other peers' headers are
    /// ignored (repeatable).
    #[arg(long = "trusted-proxy", env = "HELIOGRAPH_TRUSTED_PROXIES", value_delimiter = ',', value_name = "CIDR")]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Lightpush requests per minute per peer (also the burst); over it: 429. 0 turns the
    /// limit off [default: 600].
    #[arg(long, env = "HELIOGRAPH_LIGHTPUSH_RATE_LIMIT", value_name = "N")]
    pub lightpush_rate_limit: Option<u32>,

    /// Filter subscribe/ping/unsubscribe requests per minute per peer (also the burst);
    /// over it: 429. 0 turns the limit off [default: 120].
    #[arg(long, env = "HELIOGRAPH_FILTER_RATE_LIMIT", value_name = "N")]
    pub filter_rate_limit: Option<u32>,

    /// Do not serve lightpush to light clients (REST lightpushes still work).
    #[arg(long, env = "HELIOGRAPH_NO_LIGHTPUSH")]
    pub no_lightpush: bool,

    /// A lightpush service node (`/ip4/…/tcp/…/p2p/<peer id>`) that REST lightpushes go
    /// through instead of this node's own relay (like nwaku's `--lightpushnode`).
    #[arg(long, env = "HELIOGRAPH_LIGHTPUSH_NODE", value_name = "MULTIADDR")]
    pub lightpush_node: Option<Multiaddr>,

    /// A filter service node (`/ip4/…/tcp/…/p2p/<peer id>`) the REST `/filter/v2/*` routes
    /// subscribe on as a filter client (like nwaku's `--filternode`).
    #[arg(long, env = "HELIOGRAPH_FILTER_NODE", value_name = "MULTIADDR")]
    pub filter_node: Option<Multiaddr>,

    /// A store service node (`/ip4/…/tcp/…/p2p/<peer id>`) REST store queries go to when
    /// this node has no store of its own (like nwaku's `--storenode`).
    #[arg(long, env = "HELIOGRAPH_STORE_NODE", value_name = "MULTIADDR")]
    pub store_node: Option<Multiaddr>,

    /// TURN URL handed out with `turn_credentials`, e.g. `turn:turn.example.org:3478`
    /// (repeatable; needs `--turn-secret` or `--turn-secret-file`).
    #[arg(long = "turn-url", env = "HELIOGRAPH_TURN_URLS", value_delimiter = ',', value_name = "URL")]
    pub turn_urls: Vec<String>,

    /// Secret shared with the TURN server (coturn's `static-auth-secret`, 16+ characters).
    /// Never logged; prefer the variable or `--turn-secret-file` over the flag (visible in `ps`).
    #[arg(long, env = "HELIOGRAPH_TURN_SECRET", value_name = "SECRET", hide_env_values = true)]
    pub turn_secret: Option<Secret>,

    /// File holding the TURN shared secret (trailing whitespace ignored).
    #[arg(long, env = "HELIOGRAPH_TURN_SECRET_FILE", value_name = "FILE")]
    pub turn_secret_file: Option<PathBuf>,

    /// How long handed-out TURN credentials stay valid, 60s to 24h [default: 1h].
    #[arg(long, env = "HELIOGRAPH_TURN_TTL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub turn_ttl: Option<Duration>,

    /// Print the effective configuration as TOML (without the node key) and exit.
    #[arg(long)]
    pub print_config: bool,

    /// A tool instead of running the node.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Tools of the `heliograph` binary.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Node keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

/// `heliograph key …`.
#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Make a new node key: prints it as hex on stdout (and its peer id on stderr), or with
    /// `--out` writes it to a new owner-only file (e.g. `<data dir>/node-key`) and prints the peer id.
    Generate {
        /// Write the key to this new file instead of stdout; an existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

impl Cli {
    /// Overrides `config` with every value given by flag or environment.
    pub fn apply(&self, config: &mut Config) {
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *target = v.clone();
            }
        }
        fn set_list<T: Clone>(target: &mut Vec<T>, value: &[T]) {
            if !value.is_empty() {
                *target = value.to_vec();
            }
        }
        set(&mut config.data_dir, &self.data_dir);
        if self.node_key.is_some() {
            config.node_key.clone_from(&self.node_key);
        }
        set(&mut config.log, &self.log);
        set(&mut config.log_format, &self.log_format);
        if self.metrics_addr.is_some() {
            config.metrics.addr = self.metrics_addr;
        }
        set_list(&mut config.metrics.allowed_hosts, &self.metrics_allowed_hosts);
        set_list(&mut config.network.listen, &self.listen);
        set_list(&mut config.network.external_addresses, &self.external_addresses);
        set_list(&mut config.network.bootstrap, &self.bootstrap);
        set_list(&mut config.network.dns_discovery_urls, &self.dns_discovery_urls);
        set(&mut config.network.target_outbound_peers, &self.target_outbound_peers);
        set(&mut config.relay.cluster_id, &self.cluster_id);
        set(&mut config.relay.num_shards, &self.num_shards);
        set_list(&mut config.relay.shards, &self.shards);
        set_list(&mut config.relay.pubsub_topics, &self.pubsub_topics);
        set(&mut config.relay.max_timestamp_drift, &self.max_timestamp_drift);
        set(&mut config.rest.addr, &self.rest_addr);
        set(&mut config.rest.header_timeout, &self.rest_header_timeout);
        set(&mut config.rest.max_connections_per_ip, &self.rest_max_connections_per_ip);
        set_list(&mut config.rest.allowed_hosts, &self.rest_allowed_hosts);
        set_list(&mut config.rest.allowed_origins, &self.rest_allowed_origins);
        // A secret given by flag or environment replaces the file's, whichever form.
        if self.rest_admin_token.is_some() {
            config.rest.admin_token.clone_from(&self.rest_admin_token);
            config.rest.admin_token_file = None;
        }
        if self.rest_admin_token_file.is_some() {
            config.rest.admin_token_file.clone_from(&self.rest_admin_token_file);
            config.rest.admin_token = None;
        }
        set_list(&mut config.turn.urls, &self.turn_urls);
        if self.turn_secret.is_some() {
            config.turn.secret.clone_from(&self.turn_secret);
            config.turn.secret_file = None;
        }
        if self.turn_secret_file.is_some() {
            config.turn.secret_file.clone_from(&self.turn_secret_file);
            config.turn.secret = None;
        }
        set(&mut config.turn.ttl, &self.turn_ttl);
        if self.rest_publish_without_peers {
            config.rest.publish_without_peers = true;
        }
        if self.static_dir.is_some() {
            config.rest.static_dir.clone_from(&self.static_dir);
        }
        if self.no_store {
            config.store.enabled = false;
        }
        set(&mut config.store.durability, &self.store_durability);
        set(&mut config.store.max_age, &self.store_max_age);
        set(&mut config.store.max_messages, &self.store_max_messages);
        set(&mut config.bridge.addr, &self.bridge_addr);
        if self.no_bridge {
            config.bridge.enabled = false;
        }
        if self.no_lightpush {
            config.light.lightpush = false;
        }
        set_list(&mut config.bridge.allowed_hosts, &self.bridge_allowed_hosts);
        set_list(&mut config.bridge.allowed_origins, &self.bridge_allowed_origins);
        set_list(&mut config.bridge.public_urls, &self.bridge_public_urls);
        set(&mut config.bridge.ping_interval, &self.bridge_ping_interval);
        set(&mut config.bridge.max_frame_size, &self.bridge_max_frame_size);
        set(&mut config.bridge.max_subscriptions, &self.bridge_max_subscriptions);
        set_list(&mut config.bridge.pubsub_topics, &self.bridge_pubsub_topics);
        set(&mut config.bridge.max_pubsub_topics_per_connection, &self.bridge_max_pubsub_topics_per_connection);
        set(&mut config.bridge.max_pubsub_topics, &self.bridge_max_pubsub_topics);
        set(&mut config.bridge.max_topic_bytes_per_connection, &self.bridge_max_topic_bytes_per_connection);
        set(&mut config.bridge.max_topic_bytes, &self.bridge_max_topic_bytes);
        set(&mut config.bridge.max_pending_bytes, &self.bridge_max_pending_bytes);
        set(&mut config.bridge.write_timeout, &self.bridge_write_timeout);
        set(&mut config.bridge.rate_limit_per_client, &self.bridge_rate_limit_per_client);
        set(&mut config.bridge.rate_limit_per_ip, &self.bridge_rate_limit_per_ip);
        set(&mut config.bridge.bad_frame_limit, &self.bridge_bad_frame_limit);
        set(&mut config.bridge.max_connections, &self.bridge_max_connections);
        set(&mut config.bridge.wc_mailbox_max_bytes, &self.bridge_wc_mailbox_max_bytes);
        set(&mut config.bridge.wc_topic_max_bytes, &self.bridge_wc_topic_max_bytes);
        set(&mut config.bridge.max_response_bytes, &self.bridge_max_response_bytes);
        set(&mut config.bridge.max_connections_per_ip, &self.bridge_max_connections_per_ip);
        set(&mut config.bridge.handshake_timeout, &self.bridge_handshake_timeout);
        set(&mut config.bridge.require_token, &self.bridge_require_token);
        set_list(&mut config.bridge.token_keys, &self.bridge_token_keys);
        set_list(&mut config.bridge.trusted_proxies, &self.trusted_proxies);
        set(&mut config.light.lightpush_rate_limit, &self.lightpush_rate_limit);
        set(&mut config.light.filter_rate_limit, &self.filter_rate_limit);
        if self.lightpush_node.is_some() {
            config.light.lightpush_node.clone_from(&self.lightpush_node);
        }
        if self.filter_node.is_some() {
            config.light.filter_node.clone_from(&self.filter_node);
        }
        if self.store_node.is_some() {
            config.light.store_node.clone_from(&self.store_node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_relay_all_shards() {
        let config = Config::default();
        config.validate().expect("defaults are valid");
        let topics = config.pubsub_topics().expect("topics");
        assert_eq!(topics.len(), 8);
        assert_eq!(topics[0].to_string(), "/waku/2/rs/1/0");
    }

    #[test]
    fn toml_overrides_defaults_and_flags_override_toml() {
        let mut config = Config::from_toml(
            r#"
            data_dir = "/var/lib/heliograph"
            [relay]
            cluster_id = 3
            shards = [1, 2]
            [network]
            idle_connection_timeout = "90s"
            "#,
        )
        .expect("valid");
        assert_eq!(config.relay.cluster_id, 3);
        assert_eq!(config.network.idle_connection_timeout, Duration::from_secs(90));
        assert_eq!(config.rest, RestConfig::default());

        assert_eq!(config.relay.max_timestamp_drift, Duration::from_secs(20));

        let cli = Cli::parse_from(["heliograph", "--cluster-id", "5", "--shard", "0,1", "--max-timestamp-drift", "1m"]);
        cli.apply(&mut config);
        assert_eq!(config.relay.max_timestamp_drift, Duration::from_secs(60));
        let cli = Cli::parse_from(["heliograph", "--rest-header-timeout", "3s", "--rest-max-connections-per-ip", "9"]);
        cli.apply(&mut config);
        assert_eq!((config.rest.header_timeout, config.rest.max_connections_per_ip), (Duration::from_secs(3), 9));
        assert_eq!(config.relay.cluster_id, 5);
        assert_eq!(config.relay.shards, [0, 1]);
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/heliograph"));
    }

    #[test]
    fn bootstrap_takes_multiaddrs_and_enrs_from_toml_and_flags() {
        let key = libp2p::identity::secp256k1::Keypair::generate();
        let addrs: Vec<Multiaddr> = vec!["/ip4/10.0.0.9/tcp/60000".parse().expect("addr")];
        let input = crate::waku::enr::EnrInput {
            seq: 1,
            addrs: &addrs,
            capabilities: crate::waku::enr::Capabilities::default(),
            cluster: 1,
            shards: &[0],
        };
        let enr = crate::waku::enr::build(&key, &input).expect("enr").to_base64();
        let toml = format!("[network]\nbootstrap = [\"/ip4/10.0.0.2/tcp/60000\", \"{enr}\"]\n");
        let config = Config::from_toml(&toml).expect("valid");
        assert!(config.network.bootstrap[0].enr().is_none());
        assert_eq!(config.network.bootstrap[1].to_string(), enr);
        let printed = toml::to_string(&config).expect("serializes");
        assert_eq!(Config::from_toml(&printed).expect("round trip"), config);
        let cli =
            Cli::try_parse_from(["heliograph", "--bootstrap", &format!("{enr},/ip4/10.0.0.3/tcp/1")]).expect("flags");
        assert!(cli.bootstrap[0].enr().is_some() && cli.bootstrap[1].enr().is_none());
        assert!(Config::from_toml("[network]\nbootstrap = [\"enr:garbage\"]\n").is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let err = Config::from_toml("[relay]\nclustr_id = 3\n").expect_err("typo");
        assert!(err.to_string().contains("clustr_id"), "{err}");
        let mut config = Config::default();
        config.relay.shards = vec![8];
        assert!(config.validate().expect_err("out of range").to_string().contains("shard 8"));
        config.relay.shards = vec![];
        config.relay.num_shards = 1025;
        assert!(config.validate().expect_err("too many shards").to_string().contains("1024"));
        config.relay.num_shards = 8;
        config.relay.pubsub_topics = vec!["/waku/2/rs/2/0".into()];
        assert!(config.validate().expect_err("other cluster").to_string().contains("cluster 2"));
        let mut config = Config::default();
        config.bridge.pubsub_topics = vec!["*".into(), "not a topic".into()];
        assert!(config.validate().expect_err("bad topic").to_string().contains("not a topic"));
        config.bridge.pubsub_topics = vec![];
        config.bridge.max_pubsub_topics = 1000;
        assert!(config.validate().expect_err("too many").to_string().contains("max_pubsub_topics"));

        let mut config = Config::default();
        config.light.lightpush_node = Some("/ip4/127.0.0.1/tcp/60000".parse().expect("addr"));
        assert!(config.validate().expect_err("no peer id").to_string().contains("/p2p/"));
        let node = "/ip4/127.0.0.1/tcp/60000/p2p/12D3KooWLxGg1CyZ4TuBUFc3RxtvyzDL5Xdy3XWnr5tKhXwcvWD8";
        let config = Config::from_toml(&format!("[light]\nlightpush_node = \"{node}\"\n")).expect("valid");
        assert!(config.light.lightpush_node.as_ref().and_then(crate::waku::addr::peer_of).is_some());
    }

    #[test]
    fn rest_access_settings_come_from_toml_flags_and_files_and_the_secret_stays_hidden() {
        let mut config = Config::from_toml(
            "[rest]\nallowed_hosts = [\"node1\"]\nallowed_origins = [\"https://ops.example\"]\nadmin_token = \"from-the-toml-file-0001\"\n",
        )
        .expect("valid");
        assert_eq!(config.rest.allowed_hosts, ["node1"]);
        assert_eq!(
            config.rest.admin_secret().expect("ok").map(|s| s.expose().to_owned()).as_deref(),
            Some("from-the-toml-file-0001")
        );
        assert!(!format!("{config:?}").contains("from-the-toml"), "Debug redacts the secret");
        assert!(!toml::to_string(&config).expect("serializes").contains("from-the-toml"), "--print-config omits it");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("admin-token");
        std::fs::write(&file, "from-a-file-of-its-own-0002\n").expect("write");
        let cli = Cli::parse_from([
            "heliograph",
            "--rest-allowed-host",
            "a,b",
            "--rest-admin-token-file",
            file.to_str().expect("utf-8"),
        ]);
        cli.apply(&mut config);
        assert_eq!(config.rest.allowed_hosts, ["a", "b"]);
        assert_eq!(config.rest.admin_token, None, "the flag's file replaces the TOML secret");
        assert_eq!(
            config.rest.admin_secret().expect("ok").map(|s| s.expose().to_owned()).as_deref(),
            Some("from-a-file-of-its-own-0002")
        );
        config.rest.admin_token = Some("short".parse().expect("infallible"));
        assert!(config.validate().is_err(), "both forms at once");
        config.rest.admin_token_file = None;
        let err = config.validate().expect_err("too short").to_string();
        assert!(err.contains("at least 16"), "{err}");
        config.rest.admin_token = Some(String::new().parse().expect("infallible"));
        assert_eq!(config.rest.admin_secret().expect("empty is none"), None);
    }

    #[test]
    fn turn_settings_come_from_toml_flags_and_files_are_checked_and_the_secret_stays_hidden() {
        assert!(Config::default().turn.issuer().expect("valid").is_none(), "off by default");
        let mut config = Config::from_toml(
            "[turn]\nurls = [\"turn:turn.example.org:3478\"]\nsecret = \"turn-secret-from-toml-01\"\nttl = \"10m\"\n",
        )
        .expect("valid");
        let issuer = config.turn.issuer().expect("valid").expect("configured");
        let c = issuer.issue("u", 1_000);
        assert_eq!((c.username.as_str(), c.ttl), ("1600:u", 600));
        assert_eq!(c.credential, crate::turn::password(b"turn-secret-from-toml-01", "1600:u"));
        assert!(!format!("{config:?}").contains("from-toml"), "Debug redacts the secret");
        assert!(!toml::to_string(&config).expect("serializes").contains("from-toml"), "--print-config omits it");

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("turn-secret");
        std::fs::write(&file, "turn-secret-from-a-file-02\n").expect("write");
        let cli = Cli::parse_from([
            "heliograph",
            "--turn-url",
            "turn:a:3478?transport=udp,turns:a:5349",
            "--turn-secret-file",
            file.to_str().expect("utf-8"),
            "--turn-ttl",
            "2h",
        ]);
        cli.apply(&mut config);
        assert_eq!(config.turn.urls, ["turn:a:3478?transport=udp", "turns:a:5349"]);
        assert_eq!(config.turn.secret, None, "the flag's file replaces the TOML secret");
        let c = config.turn.issuer().expect("valid").expect("configured").issue("u", 0);
        assert_eq!(c.credential, crate::turn::password(b"turn-secret-from-a-file-02", "7200:u"));

        let check = |edit: &dyn Fn(&mut TurnConfig), needle: &str| {
            let mut bad = config.clone();
            edit(&mut bad.turn);
            let err = bad.validate().expect_err(needle).to_string();
            assert!(err.contains(needle), "{err}");
        };
        check(&|t| t.urls = vec!["http://a".into()], "must start with turn:");
        check(&|t| t.urls.clear(), "needs at least one turn.urls");
        check(&|t| t.ttl = Duration::from_secs(5), "between 60s and 24h");
        check(&|t| t.secret = Some("also-a-long-secret-03".parse().expect("infallible")), "not both");
        check(
            &|t| {
                t.secret_file = None;
                t.secret = Some("short".parse().expect("infallible"));
            },
            "at least 16",
        );
        check(&|t| t.secret_file = None, "turn.urls need turn.secret");
    }

    #[test]
    fn log_format_and_metrics_listener_come_from_toml_and_flags() {
        assert_eq!(Config::default().log_format, LogFormat::Text);
        assert_eq!(Config::default().metrics.addr, None, "unset: /metrics stays on the REST listener");
        let mut config = Config::from_toml(
            "log_format = \"json\"\n[metrics]\naddr = \"0.0.0.0:9464\"\nallowed_hosts = [\"node1\"]\n",
        )
        .expect("valid");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.metrics.addr, Some(SocketAddr::from(([0, 0, 0, 0], 9464))));
        assert_eq!(config.metrics.allowed_hosts, ["node1"]);
        let printed = toml::to_string(&config).expect("serializes");
        assert_eq!(Config::from_toml(&printed).expect("round trip"), config);
        let cli = Cli::parse_from([
            "heliograph",
            "--log-format",
            "text",
            "--metrics-addr",
            "127.0.0.1:9100",
            "--metrics-allowed-host",
            "a,b",
        ]);
        cli.apply(&mut config);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.metrics.addr, Some(SocketAddr::from(([127, 0, 0, 1], 9100))));
        assert_eq!(config.metrics.allowed_hosts, ["a", "b"]);
        assert!(Cli::try_parse_from(["heliograph", "--log-format", "yaml"]).is_err());
        assert!(Config::from_toml("log_format = \"xml\"\n").is_err());
        let help = <Cli as clap::CommandFactory>::command().render_long_help().to_string();
        for key in ["LOG_FORMAT", "METRICS_ADDR", "METRICS_ALLOWED_HOSTS"] {
            assert!(help.contains(&format!("[env: HELIOGRAPH_{key}=")), "HELIOGRAPH_{key} is not documented");
        }
    }

    #[test]
    fn every_bridge_setting_has_a_flag_and_an_env_variable() {
        let flags = Cli::try_parse_from([
            "heliograph",
            "--bridge-allowed-host",
            "relay.example.org",
            "--bridge-allowed-origin",
            "https://app.example.org,https://wallet.example.org",
            "--bridge-ping-interval",
            "15s",
            "--bridge-max-frame-size",
            "65536",
            "--bridge-max-subscriptions",
            "10",
            "--bridge-pubsub-topic",
            "/waku/2/rs/1/0,*",
            "--bridge-max-pubsub-topics-per-connection",
            "3",
            "--bridge-max-pubsub-topics",
            "30",
            "--bridge-max-topic-bytes-per-connection",
            "300",
            "--bridge-max-topic-bytes",
            "3000",
            "--bridge-max-pending-bytes",
            "4096",
            "--bridge-write-timeout",
            "3s",
            "--bridge-rate-limit-per-client",
            "7",
            "--bridge-rate-limit-per-ip",
            "70",
            "--bridge-bad-frame-limit",
            "9",
            "--bridge-max-connections",
            "5",
            "--bridge-wc-mailbox-max-bytes",
            "1000000",
            "--bridge-wc-topic-max-bytes",
            "100000",
            "--bridge-max-response-bytes",
            "300000",
            "--bridge-max-connections-per-ip",
            "4",
            "--bridge-handshake-timeout",
            "2s",
            "--bridge-require-token",
            "--bridge-token-key",
            "aa,bb",
            "--trusted-proxy",
            "127.0.0.1/32,10.0.0.0/8",
        ])
        .expect("flags parse");
        let mut config = Config::default();
        flags.apply(&mut config);
        let bridge = &config.bridge;
        assert_eq!(bridge.allowed_hosts, ["relay.example.org"]);
        assert_eq!(bridge.allowed_origins.len(), 2);
        assert_eq!(bridge.ping_interval, Duration::from_secs(15));
        assert_eq!((bridge.max_frame_size, bridge.max_subscriptions, bridge.max_pending_bytes), (65536, 10, 4096));
        assert_eq!(bridge.write_timeout, Duration::from_secs(3));
        assert_eq!(bridge.pubsub_topics, ["/waku/2/rs/1/0", "*"]);
        assert_eq!((bridge.max_pubsub_topics_per_connection, bridge.max_pubsub_topics), (3, 30));
        assert_eq!((bridge.max_topic_bytes_per_connection, bridge.max_topic_bytes), (300, 3000));
        assert_eq!((bridge.rate_limit_per_client, bridge.rate_limit_per_ip, bridge.max_connections), (7, 70, 5));
        assert_eq!(bridge.bad_frame_limit, 9);
        assert_eq!((bridge.max_connections_per_ip, bridge.handshake_timeout), (4, Duration::from_secs(2)));
        assert!(bridge.require_token);
        assert_eq!(bridge.token_keys, ["aa", "bb"]);
        assert_eq!(bridge.trusted_proxies.len(), 2);
        assert_eq!((bridge.wc_mailbox_max_bytes, bridge.wc_topic_max_bytes), (1_000_000, 100_000));
        assert_eq!(bridge.max_response_bytes, 300_000);
        let printed = toml::to_string(&config).expect("serializes");
        assert_eq!(Config::from_toml(&printed).expect("round trip"), config);

        // A flag turns off what the file turned on.
        let mut config = Config::from_toml("[bridge]\nrequire_token = true\n").expect("valid");
        Cli::parse_from(["heliograph", "--bridge-require-token", "false"]).apply(&mut config);
        assert!(!config.bridge.require_token);
        assert!(Cli::try_parse_from(["heliograph", "--trusted-proxy", "10.0.0.0/33"]).is_err());

        // Each of those flags is documented with its HELIOGRAPH_* variable.
        let help = <Cli as clap::CommandFactory>::command().render_long_help().to_string();
        for key in [
            "BRIDGE_ADDR",
            "BRIDGE_ALLOWED_HOSTS",
            "BRIDGE_ALLOWED_ORIGINS",
            "BRIDGE_PING_INTERVAL",
            "BRIDGE_MAX_FRAME_SIZE",
            "BRIDGE_MAX_SUBSCRIPTIONS",
            "BRIDGE_PUBSUB_TOPICS",
            "BRIDGE_MAX_PUBSUB_TOPICS_PER_CONNECTION",
            "BRIDGE_MAX_PUBSUB_TOPICS",
            "BRIDGE_MAX_TOPIC_BYTES_PER_CONNECTION",
            "BRIDGE_MAX_TOPIC_BYTES",
            "BRIDGE_MAX_PENDING_BYTES",
            "BRIDGE_WRITE_TIMEOUT",
            "BRIDGE_RATE_LIMIT_PER_CLIENT",
            "BRIDGE_RATE_LIMIT_PER_IP",
            "BRIDGE_BAD_FRAME_LIMIT",
            "BRIDGE_MAX_CONNECTIONS",
            "BRIDGE_MAX_CONNECTIONS_PER_IP",
            "BRIDGE_HANDSHAKE_TIMEOUT",
            "BRIDGE_REQUIRE_TOKEN",
            "BRIDGE_TOKEN_KEYS",
            "TRUSTED_PROXIES",
        ] {
            assert!(
                help.contains(&format!("[env: HELIOGRAPH_{key}=")),
                "HELIOGRAPH_{key} is not a documented variable"
            );
        }
    }
}
