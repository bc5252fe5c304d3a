//! Pub/Sub, as in Valkey's pubsub.c: channels, patterns and shard channels,
//! each mapped to the client slots subscribed to it; messages go straight
//! into subscribers' output buffers, bounded by `client-output-buffer-limit
//! pubsub` (a subscriber that falls too far behind is disconnected).

use std::collections::HashMap;

use ferrokv_transport::{Protocol, ReplyWriter};
use indexmap::IndexSet;

use super::Server;
use crate::util::glob;

/// The three kinds of subscription.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    pub fn subscribe_name(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    pub fn unsubscribe_name(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// What one session is subscribed to.
#[derive(Default, Debug)]
pub struct Subscriptions {
    pub channels: IndexSet<Vec<u8>>,
    pub patterns: IndexSet<Vec<u8>>,
    pub shard: IndexSet<Vec<u8>>,
}

impl Subscriptions {
    pub fn of(&mut self, kind: Kind) -> &mut IndexSet<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count a (un)subscribe reply carries: shard channels count apart.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// Subscribed to anything: a RESP2 client is then in subscribe mode.
    pub fn any(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }
}

#[derive(Default)]
pub struct PubSub {
    channels: HashMap<Vec<u8>, Vec<usize>>,
    patterns: HashMap<Vec<u8>, Vec<usize>>,
    shard: HashMap<Vec<u8>, Vec<usize>>,
    /// Clients with at least one subscription (INFO pubsub_clients).
    pub clients: usize,
}

impl PubSub {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Vec<u8>, Vec<usize>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    pub fn map_ref(&self, kind: Kind) -> &HashMap<Vec<u8>, Vec<usize>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    /// Subscribes `slot` (whose subscriptions are `subs`) to `name`.
    /// Returns false if it already was.
    pub fn subscribe(
        &mut self,
        slot: usize,
        subs: &mut Subscriptions,
        kind: Kind,
        name: &[u8],
    ) -> bool {
        let was_subscribed = subs.any();
        if !subs.of(kind).insert(name.to_vec()) {
            return false;
        }
        self.map(kind).entry(name.to_vec()).or_default().push(slot);
        if !was_subscribed {
            self.clients += 1;
        }
        true
    }

    /// Unsubscribes `slot` from `name`. Returns false if it was not.
    pub fn unsubscribe(
        &mut self,
        slot: usize,
        subs: &mut Subscriptions,
        kind: Kind,
        name: &[u8],
    ) -> bool {
        if !subs.of(kind).shift_remove(name) {
            return false;
        }
        let map = self.map(kind);
        if let Some(list) = map.get_mut(name) {
            list.retain(|&s| s != slot);
            if list.is_empty() {
                map.remove(name);
            }
        }
        if !subs.any() {
            self.clients -= 1;
        }
        true
    }

    /// Drops every subscription of a client (RESET, disconnect).
    pub fn unsubscribe_all(&mut self, slot: usize, subs: &mut Subscriptions) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let names: Vec<Vec<u8>> = subs.of(kind).iter().cloned().collect();
            for name in names {
                self.unsubscribe(slot, subs, kind, &name);
            }
        }
    }

    /// Active channels (or shard channels) matching an optional pattern.
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<&[u8]> {
        self.map_ref(kind)
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c, false)))
            .map(Vec::as_slice)
            .collect()
    }

    /// How many channels (patterns, shard channels) have subscribers.
    pub fn active_count(&self, kind: Kind) -> usize {
        self.map_ref(kind).len()
    }

    /// Whether any client is subscribed to a channel or pattern (shard
    /// channels never receive keyspace events).
    pub fn listening(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty())
    }

    pub fn subscribers(&self, kind: Kind, name: &[u8]) -> usize {
        self.map_ref(kind).get(name).map_or(0, Vec::len)
    }
}

/// The client running a command: it is out of `Server::clients` while it
/// runs, so messages for it wait in `Server::own_pushes` and follow its
/// reply (as Valkey defers pushes to the current client).
#[derive(Clone, Copy)]
pub struct Running {
    pub slot: usize,
    pub proto: Protocol,
}

/// Writes one message: [kind, (pattern,) channel, payload], as a push in
/// RESP3.
fn write_message(
    out: &mut ReplyWriter,
    kind: &str,
    pattern: Option<&[u8]>,
    channel: &[u8],
    msg: &[u8],
) {
    let n = 3 + usize::from(pattern.is_some());
    out.push(n);
    out.bulk(kind.as_bytes());
    if let Some(p) = pattern {
        out.bulk(p);
    }
    out.bulk(channel);
    out.bulk(msg);
}

/// Publishes `msg` on `channel` (a shard channel if `shard`). Returns the
/// number of clients that received it.
pub fn publish(
    srv: &mut Server,
    running: Option<Running>,
    shard: bool,
    channel: &[u8],
    msg: &[u8],
) -> usize {
    let mut targets: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
    let kind = if shard { Kind::Shard } else { Kind::Channel };
    if let Some(slots) = srv.pubsub.map_ref(kind).get(channel) {
        targets.extend(slots.iter().map(|&s| (s, None)));
    }
    if !shard {
        for (pattern, slots) in &srv.pubsub.patterns {
            if glob::matches(pattern, channel, false) {
                targets.extend(slots.iter().map(|&s| (s, Some(pattern.clone()))));
            }
        }
    }
    let name = match (shard, targets.is_empty()) {
        (_, true) => return 0,
        (true, _) => "smessage",
        (false, _) => "message",
    };
    for (slot, pattern) in &targets {
        let kind = if pattern.is_some() { "pmessage" } else { name };
        match (srv.clients.get_mut(*slot).and_then(Option::as_mut), running) {
            (Some(c), _) => {
                if c.session.close_asap {
                    continue;
                }
                write_message(&mut c.out, kind, pattern.as_deref(), channel, msg);
                srv.wrote.push(*slot);
                check_output_limit(srv, *slot);
            }
            (None, Some(r)) if r.slot == *slot => {
                srv.own_pushes.proto = r.proto;
                write_message(&mut srv.own_pushes, kind, pattern.as_deref(), channel, msg);
            }
            (None, _) => {}
        }
    }
    targets.len()
}

/// Disconnects a subscriber whose pending output passed the pubsub class
/// hard limit, or stayed above the soft limit longer than allowed.
fn check_output_limit(srv: &mut Server, slot: usize) {
    let limit = srv.config.client_output_buffer_limit[crate::config::OBUF_PUBSUB];
    let now = crate::util::time::unix_ms();
    let Some(c) = srv.clients[slot].as_mut() else {
        return;
    };
    let used = c.pending_output() as u64;
    let hard = limit.hard > 0 && used >= limit.hard;
    let soft = limit.soft > 0 && used >= limit.soft;
    let over = if soft && !hard {
        let since = *c.soft_limit_since.get_or_insert(now);
        now - since > (limit.soft_seconds as i64).saturating_mul(1000)
    } else {
        if !soft {
            c.soft_limit_since = None;
        }
        hard
    };
    if over {
        crate::warning!(
            "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
            c.session.id,
            c.session.addr
        );
        c.session.close_asap = true;
        srv.kill_queue.push(slot);
        srv.stats.output_buffer_limit_disconnections += 1;
    }
}
