//! DNS discovery of bootstrap peers from an EIP-1459 ENR tree, as nwaku's
//! `--dns-discovery-url`: `enrtree://<public key>@<domain>` names a signed tree
//! of TXT records whose leaves are ENRs. The root is checked against the URL's
//! key, every entry against its hash, and the walk is bounded in depth, lookups
//! and results. The ENRs become dialable multiaddrs (`ip`/`tcp` and the Waku
//! `multiaddrs` field, each ending in `/p2p/<peer id>`).
//!
//! The walk is pure over a [`TxtResolver`]; [`Resolver`] is the system DNS
//! resolver (hickory, the one libp2p-dns uses). The node's discovery task
//! runs the walk periodically and feeds what it finds to the swarm.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine;
use bytes::Bytes;
use data_encoding::BASE32_NOPAD;
use enr::k256::ecdsa::signature::hazmat::PrehashVerifier;
use enr::k256::ecdsa::{Signature, VerifyingKey};
use libp2p::identity::{self, secp256k1};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use sha3::{Digest, Keccak256};
use tracing::{debug, warn};

use crate::enr::NodeEnr;

/// Most TXT lookups one resolution makes, over every linked tree.
pub const MAX_LOOKUPS: usize = 512;
/// Deepest branch nesting followed below a root.
pub const MAX_DEPTH: usize = 16;
/// Most ENRs one resolution returns.
pub const MAX_NODES: usize = 256;
/// Most trees visited: the first plus linked ones.
pub const MAX_TREES: usize = 4;

const ROOT_PREFIX: &str = "enrtree-root:v1";
const BRANCH_PREFIX: &str = "enrtree-branch:";
const LINK_PREFIX: &str = "enrtree://";
const ENR_PREFIX: &str = "enr:";

/// Why a tree could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum EnrTreeError {
    /// The URL is not `enrtree://<base32 compressed secp256k1 key>@<domain>`.
    #[error("invalid ENR tree URL `{url}`: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A TXT lookup failed.
    #[error("DNS lookup of {name} failed: {reason}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// The resolver's error.
        reason: String,
    },
    /// The domain has no `enrtree-root:v1` record.
    #[error("no enrtree-root record at {0}")]
    NoRoot(String),
    /// The root record is malformed.
    #[error("malformed enrtree-root record: {0}")]
    Root(String),
    /// The root is not signed by the URL's key.
    #[error("enrtree-root signature of {0} does not verify with the URL's public key")]
    Signature(String),
    /// The walk hit its lookup budget.
    #[error("gave up after {MAX_LOOKUPS} DNS lookups")]
    TooManyLookups,
}

/// A parsed `enrtree://<key>@<domain>` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrTreeUrl {
    /// The key that signs the tree's root.
    pub public_key: VerifyingKey,
    /// Where the root TXT record lives.
    pub domain: String,
}

impl FromStr for EnrTreeUrl {
    type Err = EnrTreeError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| EnrTreeError::Url { url: url.to_owned(), reason: reason.to_owned() };
        let rest = url.strip_prefix(LINK_PREFIX).ok_or_else(|| bad("it must start with enrtree://"))?;
        let (key, domain) = rest.split_once('@').ok_or_else(|| bad("it must be enrtree://<key>@<domain>"))?;
        let key_bytes = BASE32_NOPAD
            .decode(key.to_ascii_uppercase().as_bytes())
            .map_err(|_| bad("the public key is not base32 (RFC 4648, no padding)"))?;
        let public_key =
            VerifyingKey::from_sec1_bytes(&key_bytes).map_err(|_| bad("the public key is not a secp256k1 key"))?;
        let domain = domain.trim_end_matches('.');
        let valid_domain = !domain.is_empty()
            && domain.len() <= 253
            && domain.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(is_dns_byte));
        if !valid_domain {
            return Err(bad("the domain is not a valid DNS name"));
        }
        Ok(EnrTreeUrl { public_key, domain: domain.to_ascii_lowercase() })
    }
}

fn is_dns_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The signed root of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Hash of the subtree of ENRs.
    pub enr_root: String,
    /// Hash of the subtree of links to other trees.
    pub link_root: String,
    /// The tree's sequence number.
    pub seq: u64,
}

/// Parses an `enrtree-root:v1` record and checks its signature against `key`.
pub fn parse_root(text: &str, key: &VerifyingKey) -> Result<Root, EnrTreeError> {
    let malformed = || EnrTreeError::Root(text.to_owned());
    let (signed, sig) = text.rsplit_once(" sig=").ok_or_else(malformed)?;
    let mut fields = signed.split(' ');
    if fields.next() != Some(ROOT_PREFIX) {
        return Err(malformed());
    }
    let (mut enr_root, mut link_root, mut seq) = (None, None, None);
    for field in fields {
        match field.split_once('=') {
            Some(("e", v)) if is_hash(v) => enr_root = Some(v.to_owned()),
            Some(("l", v)) if is_hash(v) => link_root = Some(v.to_owned()),
            Some(("seq", v)) => seq = v.parse().ok(),
            _ => return Err(malformed()),
        }
    }
    let root = Root {
        enr_root: enr_root.ok_or_else(malformed)?,
        link_root: link_root.ok_or_else(malformed)?,
        seq: seq.ok_or_else(malformed)?,
    };
    let sig =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig.trim_end_matches('=')).map_err(|_| malformed())?;
    if sig.len() != 65 {
        return Err(malformed());
    }
    // The 65th byte is the recovery id; the key is known, so it is not needed.
    let signature = Signature::from_slice(&sig[..64]).map_err(|_| malformed())?;
    let signature = signature.normalize_s();
    key.verify_prehash(&Keccak256::digest(signed.as_bytes()), &signature)
        .map_err(|_| EnrTreeError::Signature(text.to_owned()))?;
    Ok(root)
}

/// One entry below the root.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Hashes of child entries.
    Branch(Vec<String>),
    /// A node record (in the ENR subtree).
    Enr(Box<NodeEnr>),
    /// Another tree (in the link subtree).
    Link(EnrTreeUrl),
}

/// Parses an entry that is not a root.
pub fn parse_entry(text: &str) -> Result<Entry, String> {
    if let Some(list) = text.strip_prefix(BRANCH_PREFIX) {
        let children: Vec<String> = list.split(',').filter(|h| !h.is_empty()).map(str::to_owned).collect();
        if let Some(bad) = children.iter().find(|h| !is_hash(h)) {
            return Err(format!("branch child `{bad}` is not a base32 hash"));
        }
        Ok(Entry::Branch(children))
    } else if text.starts_with(ENR_PREFIX) {
        // Decoding checks the record's own signature.
        text.parse::<NodeEnr>().map(|e| Entry::Enr(Box::new(e))).map_err(|e| format!("invalid ENR: {e}"))
    } else if text.starts_with(LINK_PREFIX) {
        text.parse().map(Entry::Link).map_err(|e: EnrTreeError| e.to_string())
    } else {
        Err("unknown entry type".into())
    }
}

/// The subdomain of an entry: base32 of the first 16 bytes of keccak256 of its text.
pub fn entry_hash(text: &str) -> String {
    BASE32_NOPAD.encode(&Keccak256::digest(text.as_bytes())[..16])
}

fn is_hash(s: &str) -> bool {
    (10..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Looks up TXT records.
pub trait TxtResolver {
    /// Every TXT record of `name`, each with its character-strings joined.
    fn txt(&self, name: &str) -> impl Future<Output = Result<Vec<String>, String>> + Send;
}

/// The system DNS resolver (hickory, as libp2p-dns uses it).
pub struct Resolver(hickory_resolver::TokioResolver);

impl Resolver {
    /// A resolver configured from the system (`/etc/resolv.conf`).
    pub fn system() -> Result<Self, String> {
        let builder = hickory_resolver::TokioResolver::builder_tokio().map_err(|e| e.to_string())?;
        builder.build().map(Resolver).map_err(|e| e.to_string())
    }
}

impl TxtResolver for Resolver {
    async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        use hickory_resolver::proto::rr::RData;
        let lookup = self.0.txt_lookup(name).await.map_err(|e| e.to_string())?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => {
                    let joined: Vec<u8> = txt.txt_data.iter().flat_map(|s| s.iter().copied()).collect();
                    String::from_utf8(joined).ok()
                }
                _ => None,
            })
            .collect())
    }
}

/// What a resolution found.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Node records, at most [`MAX_NODES`].
    pub enrs: Vec<NodeEnr>,
    /// Entries skipped: wrong hash, malformed, in the wrong subtree, or a linked tree that failed.
    pub skipped: usize,
}

/// Walks the tree at `url` and every tree it links to, within the bounds.
pub async fn resolve<R: TxtResolver>(resolver: &R, url: &EnrTreeUrl) -> Result<Resolved, EnrTreeError> {
    let mut walk = Walk { resolver, lookups: 0, out: Resolved::default(), seen: HashSet::new() };
    let mut trees = VecDeque::from([url.clone()]);
    let mut visited = HashSet::new();
    while let Some(tree) = trees.pop_front() {
        if !visited.insert(tree.domain.clone()) || visited.len() > MAX_TREES {
            continue;
        }
        let root = match walk.root(&tree).await {
            Ok(root) => root,
            // The first tree must resolve; a broken linked tree is skipped.
            Err(e) if visited.len() > 1 => {
                warn!(domain = %tree.domain, error = %e, "skipping linked ENR tree");
                walk.out.skipped += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        debug!(domain = %tree.domain, seq = root.seq, "ENR tree root verified");
        for link in walk.subtree(&tree.domain, &root.link_root, false).await? {
            trees.push_back(link);
        }
        walk.subtree(&tree.domain, &root.enr_root, true).await?;
    }
    Ok(walk.out)
}

struct Walk<'a, R> {
    resolver: &'a R,
    lookups: usize,
    out: Resolved,
    seen: HashSet<String>,
}

impl<R: TxtResolver> Walk<'_, R> {
    async fn lookup(&mut self, name: &str) -> Result<Vec<String>, EnrTreeError> {
        self.lookups += 1;
        if self.lookups > MAX_LOOKUPS {
            return Err(EnrTreeError::TooManyLookups);
        }
        self.resolver.txt(name).await.map_err(|reason| EnrTreeError::Lookup { name: name.to_owned(), reason })
    }

    async fn root(&mut self, tree: &EnrTreeUrl) -> Result<Root, EnrTreeError> {
        let records = self.lookup(&tree.domain).await?;
        let text = records
            .iter()
            .find(|r| r.starts_with(ROOT_PREFIX))
            .ok_or_else(|| EnrTreeError::NoRoot(tree.domain.clone()))?;
        parse_root(text, &tree.public_key)
    }

    /// Walks one subtree; collects ENRs (`enrs`) or returns links (`!enrs`).
    async fn subtree(&mut self, domain: &str, root: &str, enrs: bool) -> Result<Vec<EnrTreeUrl>, EnrTreeError> {
        let mut links = Vec::new();
        let mut pending = vec![(root.to_owned(), 0usize)];
        while let Some((hash, depth)) = pending.pop() {
            if self.out.enrs.len() >= MAX_NODES {
                break;
            }
            if !self.seen.insert(format!("{hash}.{domain}")) {
                continue;
            }
            let records = match self.lookup(&format!("{hash}.{domain}")).await {
                Ok(records) => records,
                Err(EnrTreeError::TooManyLookups) => return Err(EnrTreeError::TooManyLookups),
                Err(e) => {
                    debug!(error = %e, "ENR tree entry unavailable");
                    self.out.skipped += 1;
                    continue;
                }
            };
            let Some(text) = records.iter().find(|r| entry_hash(r).eq_ignore_ascii_case(&hash)) else {
                debug!(%hash, %domain, "no TXT record matches its hash");
                self.out.skipped += 1;
                continue;
            };
            match parse_entry(text) {
                Ok(Entry::Branch(children)) if depth < MAX_DEPTH => {
                    // Reversed, so that children are visited in order.
                    pending.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
                }
                Ok(Entry::Enr(enr)) if enrs => self.out.enrs.push(*enr),
                Ok(Entry::Link(link)) if !enrs => links.push(link),
                Ok(_) => {
                    debug!(%hash, %domain, "entry too deep or in the wrong subtree");
                    self.out.skipped += 1;
                }
                Err(reason) => {
                    debug!(%hash, %domain, %reason, "malformed ENR tree entry");
                    self.out.skipped += 1;
                }
            }
        }
        Ok(links)
    }
}

/// Dialable addresses of a node record, each ending in `/p2p/<peer id>`:
/// `ip`+`tcp`, `ip6`+`tcp6`, and the Waku `multiaddrs` field (31/WAKU2-ENR).
pub fn dial_addrs(record: &NodeEnr) -> Vec<Multiaddr> {
    let Ok(key) = secp256k1::PublicKey::try_from_bytes(&record.public_key().to_sec1_bytes()) else {
        return Vec::new();
    };
    let peer = PeerId::from_public_key(&identity::PublicKey::from(key));
    let mut out = Vec::new();
    let mut push = |addr: Multiaddr| {
        let addr =
            if addr.iter().any(|p| matches!(p, Protocol::P2p(_))) { addr } else { addr.with(Protocol::P2p(peer)) };
        if !out.contains(&addr) {
            out.push(addr);
        }
    };
    if let (Some(ip), Some(port)) = (record.ip4(), record.tcp4()) {
        push(Multiaddr::from(IpAddr::V4(ip)).with(Protocol::Tcp(port)));
    }
    if let (Some(ip), Some(port)) = (record.ip6(), record.tcp6()) {
        push(Multiaddr::from(IpAddr::V6(ip)).with(Protocol::Tcp(port)));
    }
    if let Some(Ok(field)) = record.get_decodable::<Bytes>("multiaddrs") {
        let mut rest = field.as_ref();
        while rest.len() >= 2 {
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let Some(raw) = rest.get(2..2 + len) else { break };
            if let Ok(addr) = Multiaddr::try_from(raw.to_vec()) {
                push(addr);
            }
            rest = &rest[2 + len..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use enr::k256::ecdsa::SigningKey;
    use enr::k256::ecdsa::signature::hazmat::PrehashSigner;

    use super::*;
    use crate::enr::{Capabilities, EnrInput, build};

    /// TXT records by name: the DNS zone a test serves.
    struct Zone(HashMap<String, Vec<String>>);

    impl TxtResolver for Zone {
        async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
            self.0.get(name).cloned().ok_or_else(|| format!("NXDOMAIN {name}"))
        }
    }

    // EIP-1459's example zone. Its root is signed by go-ethereum's dnsdisc test
    // key (AKPY…), not by the key in the EIP's example URL (AM5F…).
    const SIGNER: &str = "AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2";
    const OTHER: &str = "AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2";
    const ROOT: &str = "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=1 sig=o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA";
    const ZONE: [(&str, &str); 5] = [
        (
            "C7HRFPF3BLGF3YR4DY5KX3SMBE",
            "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@morenodes.example.org",
        ),
        (
            "JWXYDBPXYWG6FX3GMDIBFA6CJ4",
            "enrtree-branch:2XS2367YHAXJFGLZHVAWLQD4ZY,H4FHT4B454P6UXFD7JCYQ5PWDY,MHTDO6TMUBRIA2XWG5LUDACK24",
        ),
        (
            "2XS2367YHAXJFGLZHVAWLQD4ZY",
            "enr:-HW4QOFzoVLaFJnNhbgMoDXPnOvcdVuj7pDpqRvh6BRDO68aVi5ZcjB3vzQRZH2IcLBGHzo8uUN3snqmgTiE56CH3AMBgmlkgnY0iXNlY3AyNTZrMaECC2_24YYkYHEgdzxlSNKQEnHhuNAbNlMlWJxrJxbAFvA",
        ),
        (
            "H4FHT4B454P6UXFD7JCYQ5PWDY",
            "enr:-HW4QAggRauloj2SDLtIHN1XBkvhFZ1vtf1raYQp9TBW2RD5EEawDzbtSmlXUfnaHcvwOizhVYLtr7e6vw7NAf6mTuoCgmlkgnY0iXNlY3AyNTZrMaECjrXI8TLNXU0f8cthpAMxEshUyQlK-AM0PW2wfrnacNI",
        ),
        (
            "MHTDO6TMUBRIA2XWG5LUDACK24",
            "enr:-HW4QLAYqmrwllBEnzWWs7I5Ev2IAs7x_dZlbYdRdMUx5EyKHDXp7AV5CkuPGUPdvbv1_Ms1CPfhcGCvSElSosZmyoqAgmlkgnY0iXNlY3AyNTZrMaECriawHKWdDRk2xeZkrOXBQ0dfMFLHY4eENZwdufn1S1o",
        ),
    ];

    fn spec_zone(domain: &str) -> Zone {
        let mut zone: HashMap<String, Vec<String>> =
            ZONE.iter().map(|(h, t)| (format!("{h}.{domain}"), vec![(*t).to_owned()])).collect();
        zone.insert(domain.to_owned(), vec!["v=spf1 -all".into(), ROOT.into()]);
        Zone(zone)
    }

    fn url(key: &str, domain: &str) -> EnrTreeUrl {
        format!("enrtree://{key}@{domain}").parse().expect("url")
    }

    #[test]
    fn spec_entries_hash_to_their_names() {
        for (hash, text) in ZONE {
            assert_eq!(entry_hash(text), hash, "{text}");
        }
    }

    #[test]
    fn spec_root_verifies_only_with_its_signer() {
        let root = parse_root(ROOT, &url(SIGNER, "n").public_key).expect("verifies");
        assert_eq!(
            root,
            Root {
                enr_root: "JWXYDBPXYWG6FX3GMDIBFA6CJ4".into(),
                link_root: "C7HRFPF3BLGF3YR4DY5KX3SMBE".into(),
                seq: 1
            }
        );
        let err = parse_root(ROOT, &url(OTHER, "n").public_key).expect_err("wrong key");
        assert!(matches!(err, EnrTreeError::Signature(_)), "{err}");
        let tampered = ROOT.replace("seq=1", "seq=2");
        assert!(matches!(parse_root(&tampered, &url(SIGNER, "n").public_key), Err(EnrTreeError::Signature(_))));
        assert!(matches!(parse_root("enrtree-root:v1 e=X", &url(SIGNER, "n").public_key), Err(EnrTreeError::Root(_))));
    }

    #[test]
    fn urls_are_checked() {
        let good = url(SIGNER, "Nodes.Example.org.");
        assert_eq!(good.domain, "nodes.example.org");
        for bad in [
            "https://nodes.example.org",
            "enrtree://nodes.example.org",
            "enrtree://AAAA@nodes.example.org",
            &format!("enrtree://{SIGNER}@"),
            &format!("enrtree://{SIGNER}@bad domain"),
        ] {
            assert!(bad.parse::<EnrTreeUrl>().is_err(), "{bad} must be refused");
        }
    }

    #[tokio::test]
    async fn spec_tree_resolves_to_its_three_records_and_follows_the_link() {
        let zone = spec_zone("nodes.example.org");
        let found = resolve(&zone, &url(SIGNER, "nodes.example.org")).await.expect("resolves");
        assert_eq!(found.enrs.len(), 3);
        let texts: Vec<String> = found.enrs.iter().map(NodeEnr::to_base64).collect();
        assert_eq!(texts, [ZONE[2].1, ZONE[3].1, ZONE[4].1]);
        // The spec's ENRs carry no IP, so nothing is dialable; the linked tree
        // (morenodes.example.org) is not in the zone and is skipped.
        assert!(found.enrs.iter().all(|e| dial_addrs(e).is_empty()));

        let err = resolve(&zone, &url(OTHER, "nodes.example.org")).await.expect_err("wrong key");
        assert!(matches!(err, EnrTreeError::Signature(_)));
        let err = resolve(&zone, &url(SIGNER, "elsewhere.example.org")).await.expect_err("no zone");
        assert!(matches!(err, EnrTreeError::Lookup { .. }));
    }

    #[tokio::test]
    async fn tampered_leaves_are_skipped() {
        let domain = "nodes.example.org";
        let mut zone = spec_zone(domain);
        // Serve a valid, different ENR under the second leaf's name.
        zone.0.insert(format!("{}.{domain}", ZONE[3].0), vec![ZONE[4].1.to_owned()]);
        let found = resolve(&zone, &url(SIGNER, domain)).await.expect("resolves");
        assert_eq!(found.enrs.len(), 2);
        assert_eq!(found.skipped, 2, "the tampered leaf and the missing link target");
    }

    /// Signs `root` (without ` sig=`) as a tree publisher does.
    fn sign_root(key: &SigningKey, unsigned: &str) -> String {
        let sig: Signature = key.sign_prehash(&Keccak256::digest(unsigned.as_bytes())).expect("sign");
        let mut bytes = sig.to_bytes().to_vec();
        bytes.push(0);
        format!("{unsigned} sig={}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    #[tokio::test]
    async fn published_waku_nodes_become_dialable_multiaddrs_across_linked_trees() {
        // Two trees: a.example.org holds node 1 and links to b.example.org, which holds node 2.
        let node_record = |ip: &str| {
            let key = secp256k1::Keypair::generate();
            let addrs: Vec<Multiaddr> = vec![
                format!("/ip4/{ip}/tcp/60000").parse().expect("addr"),
                "/dns4/node.example.org/tcp/8000/wss".parse().expect("addr"),
            ];
            let input = EnrInput {
                seq: 1,
                addrs: &addrs,
                capabilities: Capabilities { relay: true, ..Default::default() },
                cluster: 1,
                shards: &[0],
            };
            let peer = PeerId::from_public_key(&identity::PublicKey::from(key.public().clone()));
            (build(&key, &input).expect("enr").to_base64(), peer)
        };
        let tree_key = |seed: u8| SigningKey::from_slice(&[seed; 32]).expect("key");
        let key_text = |k: &SigningKey| BASE32_NOPAD.encode(&k.verifying_key().to_sec1_bytes());
        let (ka, kb) = (tree_key(7), tree_key(9));
        let mut records = HashMap::new();
        let mut publish = |domain: &str, key: &SigningKey, leaves: &[String], links: &[String]| {
            let mut name = |text: String| {
                let h = entry_hash(&text);
                records.insert(format!("{h}.{domain}"), vec![text]);
                h
            };
            let leaf_hashes: Vec<String> = leaves.iter().cloned().map(&mut name).collect();
            let e = name(format!("{BRANCH_PREFIX}{}", leaf_hashes.join(",")));
            let link_hashes: Vec<String> = links.iter().cloned().map(&mut name).collect();
            let l = name(format!("{BRANCH_PREFIX}{}", link_hashes.join(",")));
            records.insert(domain.to_owned(), vec![sign_root(key, &format!("{ROOT_PREFIX} e={e} l={l} seq=3"))]);
        };
        let (enr1, peer1) = node_record("192.0.2.1");
        let (enr2, peer2) = node_record("192.0.2.2");
        publish("a.example.org", &ka, &[enr1], &[format!("enrtree://{}@b.example.org", key_text(&kb))]);
        publish("b.example.org", &kb, &[enr2], &[]);
        let zone = Zone(records);

        let found = resolve(&zone, &url(&key_text(&ka), "a.example.org")).await.expect("resolves");
        assert_eq!(found.skipped, 0);
        let addrs: Vec<Vec<String>> =
            found.enrs.iter().map(|e| dial_addrs(e).iter().map(ToString::to_string).collect()).collect();
        assert_eq!(
            addrs,
            [
                vec![
                    format!("/ip4/192.0.2.1/tcp/60000/p2p/{peer1}"),
                    format!("/dns4/node.example.org/tcp/8000/wss/p2p/{peer1}")
                ],
                vec![
                    format!("/ip4/192.0.2.2/tcp/60000/p2p/{peer2}"),
                    format!("/dns4/node.example.org/tcp/8000/wss/p2p/{peer2}")
                ],
            ]
        );
    }

    #[tokio::test]
    async fn deep_and_cyclic_trees_stay_bounded() {
        // A branch that names itself, and a chain deeper than MAX_DEPTH.
        let key = SigningKey::from_slice(&[3; 32]).expect("key");
        let domain = "loop.example.org";
        let mut records = HashMap::new();
        let mut child = "enrtree-branch:".to_owned();
        for _ in 0..(MAX_DEPTH + 4) {
            let h = entry_hash(&child);
            records.insert(format!("{h}.{domain}"), vec![child.clone()]);
            child = format!("{BRANCH_PREFIX}{h}");
        }
        let top = entry_hash(&child);
        records.insert(format!("{top}.{domain}"), vec![child]);
        records.insert(domain.to_owned(), vec![sign_root(&key, &format!("{ROOT_PREFIX} e={top} l={top} seq=1"))]);
        let zone = Zone(records);
        let found = resolve(&zone, &EnrTreeUrl { public_key: *key.verifying_key(), domain: domain.into() })
            .await
            .expect("bounded walk");
        assert!(found.enrs.is_empty());
        assert!(found.skipped >= 1, "the part below MAX_DEPTH is cut off");
    }
}
