//! A deterministic two-party harness in virtual time (like quinn-proto's `Pair`):
//! a dapp and a wallet endpoint joined by a model of the relay that stores
//! messages for topics nobody subscribed yet and pushes them on subscribe.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, UNIX_EPOCH};

use heliograph_session::namespaces::{Outcome, Request};
use heliograph_session::{Config, Endpoint, Event, IncomingError, Now, Topic, TopicChange};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Which endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Dapp,
    Wallet,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Dapp => Side::Wallet,
            Side::Wallet => Side::Dapp,
        }
    }
}

/// An envelope on its way to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flight {
    pub to: Side,
    pub topic: Topic,
    pub message: String,
}

pub struct Pair {
    pub dapp: Endpoint,
    pub wallet: Endpoint,
    pub now: Now,
    pub inflight: Vec<Flight>,
    /// Messages for topics the receiver has not subscribed yet.
    pub mailbox: BTreeMap<(Side, Topic), Vec<String>>,
    pub subs: BTreeMap<Side, BTreeSet<Topic>>,
    pub dapp_events: Vec<Event>,
    pub wallet_events: Vec<Event>,
    pub refused: Vec<(Side, IncomingError)>,
    /// Every envelope an endpoint accepted, in order.
    pub accepted: Vec<Flight>,
    /// Envelopes accepted a second time (must stay zero).
    pub double_accepts: usize,
}

pub fn start() -> Now {
    Now::new(Instant::now(), UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

pub fn eip155_request() -> Request {
    let mut req = Request::default();
    req.required_namespaces.insert(
        "eip155".into(),
        [
            ("chains".into(), vec!["eip155:1".into()]),
            ("methods".into(), vec!["personal_sign".into(), "eth_sendTransaction".into()]),
            ("events".into(), vec!["accountsChanged".into()]),
        ]
        .into(),
    );
    req.optional_namespaces.insert("eip155".into(), [("chains".into(), vec!["eip155:137".into()])].into());
    req
}

impl Pair {
    pub fn new(config: Config, seed: u64) -> Self {
        let now = start();
        Pair {
            dapp: Endpoint::new(config.clone(), ChaCha20Rng::seed_from_u64(seed)),
            wallet: Endpoint::new(config, ChaCha20Rng::seed_from_u64(seed.wrapping_add(1_000_003))),
            now,
            inflight: Vec::new(),
            mailbox: BTreeMap::new(),
            subs: BTreeMap::new(),
            dapp_events: Vec::new(),
            wallet_events: Vec::new(),
            refused: Vec::new(),
            accepted: Vec::new(),
            double_accepts: 0,
        }
    }

    pub fn ep(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::Dapp => &mut self.dapp,
            Side::Wallet => &mut self.wallet,
        }
    }

    /// Drains every output of `side` into the network model; returns its events.
    pub fn pump(&mut self, side: Side) -> Vec<Event> {
        while let Some(change) = self.ep(side).poll_topic_change() {
            match change {
                TopicChange::Subscribe(topic) => {
                    self.subs.entry(side).or_default().insert(topic.clone());
                    for message in self.mailbox.remove(&(side, topic.clone())).unwrap_or_default() {
                        self.inflight.push(Flight { to: side, topic: topic.clone(), message });
                    }
                }
                TopicChange::Unsubscribe(topic) => {
                    self.subs.entry(side).or_default().remove(&topic);
                }
            }
        }
        while let Some(t) = self.ep(side).poll_transmit() {
            let to = side.other();
            if self.subs.get(&to).is_some_and(|s| s.contains(&t.topic)) {
                self.inflight.push(Flight { to, topic: t.topic, message: t.message });
            } else {
                self.mailbox.entry((to, t.topic)).or_default().push(t.message);
            }
        }
        let mut events = Vec::new();
        while let Some(e) = self.ep(side).poll_event() {
            events.push(e);
        }
        match side {
            Side::Dapp => self.dapp_events.extend(events.iter().cloned()),
            Side::Wallet => self.wallet_events.extend(events.iter().cloned()),
        }
        events
    }

    /// Delivers one envelope to its receiver, returning the endpoint's verdict.
    pub fn deliver(&mut self, flight: &Flight) -> Result<(), IncomingError> {
        let now = self.now;
        let result = self.ep(flight.to).handle_incoming(flight.topic.as_str(), &flight.message, now);
        match &result {
            Err(e) => self.refused.push((flight.to, e.clone())),
            Ok(()) => {
                if self.accepted.iter().any(|a| a.to == flight.to && a.message == flight.message) {
                    self.double_accepts += 1;
                }
                self.accepted.push(flight.clone());
            }
        }
        result
    }

    /// Delivers everything in flight, in order, pumping both sides, until quiet.
    /// `react` sees each side's new events and may call the API.
    pub fn run(&mut self, react: &mut dyn FnMut(&mut Pair, Side, Vec<Event>)) {
        for _ in 0..100_000 {
            let mut progressed = false;
            for side in [Side::Dapp, Side::Wallet] {
                let events = self.pump(side);
                progressed |= !events.is_empty();
                react(self, side, events);
            }
            if !self.inflight.is_empty() {
                let f = self.inflight.remove(0);
                let _ = self.deliver(&f);
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
        panic!("harness did not go quiet");
    }

    /// Advances virtual time and fires due timers on both sides.
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.advance(by);
        let now = self.now;
        for side in [Side::Dapp, Side::Wallet] {
            if self.ep(side).poll_timeout().is_some_and(|t| t <= now.instant) {
                self.ep(side).handle_timeout(now);
                let next = self.ep(side).poll_timeout();
                assert!(next.is_none_or(|t| t > now.instant), "{side:?} timer still due after handle_timeout");
            }
        }
    }

    /// Pairs, proposes `eip155_request` and approves everything; returns the
    /// session topic once both sides are connected.
    pub fn connect(&mut self) -> Topic {
        let now = self.now;
        let uri = self.dapp.create_pairing(now);
        let pairing = self.wallet.pair(&uri.to_string(), now).expect("pair");
        self.dapp.propose(&pairing, eip155_request(), now).expect("propose");
        let before = self.dapp_events.len();
        self.run(&mut approve_all);
        self.dapp_events[before..]
            .iter()
            .find_map(|e| match e {
                Event::Connected(c) => Some(c.session.clone()),
                _ => None,
            })
            .expect("dapp connected")
    }
}

/// Reaction: the wallet approves every proposal with one account.
pub fn approve_all(pair: &mut Pair, side: Side, events: Vec<Event>) {
    if side != Side::Wallet {
        return;
    }
    for e in events {
        if let Event::Proposal(p) = e {
            let now = pair.now;
            pair.wallet
                .approve(
                    &p.pairing,
                    p.id,
                    |_, _| Outcome::Granted,
                    vec!["eip155:1:0xab16a96d359ec26a11e2c2b3d8f8b8942d5bfcdb".into()],
                    now,
                )
                .expect("approve");
        }
    }
}
