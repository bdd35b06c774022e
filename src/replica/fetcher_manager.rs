//! Which partitions this node fetches, from whom (Kafka's `ReplicaFetcherManager` driven by
//! the metadata image): after every published image, each hosted partition led by another
//! registered broker is followed by that leader's [`ReplicaFetcher`] at the image's leader
//! epoch; a partition this node now leads, or no longer hosts, or whose leader is gone (−1),
//! is dropped from its fetcher; a fetcher left with nothing stops. One fetcher per leader
//! broker (`num.replica.fetchers` = 1), so one Fetch per leader covers all its partitions.
//!
//! Becoming a follower truncates nothing here (KIP-101): the fetcher's first epoch check
//! does. Becoming a leader is [`Replica::apply`]'s new epoch start.
//!
//! How a leader is reached is the factory's business (the node builds [`RemoteLeader`]s over
//! the peer client at the leader's inter-broker listener; tests give in-process leaders).
//!
//! [`RemoteLeader`]: super::remote_leader::RemoteLeader
//! [`Replica::apply`]: super::Replica::apply
//!
//! Thread-safety: the fetcher table is a short mutex; `sync` is called from the publish path
//! (serialised by the quorum's state machine). Fetchers run as tokio tasks on the runtime of
//! the caller, stopped through a watch channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::fetcher::{FetcherSettings, LeaderEndPoint, ReplicaFetcher};
use super::ReplicaManager;
use crate::metadata::{BrokerImage, MetadataImage};

/// Builds the way to reach a leader broker, `None` when it cannot be reached (no endpoint
/// for the inter-broker listener).
pub type LeaderFactory = Arc<dyn Fn(&BrokerImage) -> Option<Arc<dyn LeaderEndPoint>> + Send + Sync>;

/// A leader broker and what is fetched from it: each partition with its leader epoch.
pub type LeaderFetches = (i32, Vec<((String, i32), i32)>);

struct Running {
    fetcher: Arc<ReplicaFetcher>,
    stop: watch::Sender<bool>,
}

/// The follower side's fetchers (see the module doc).
pub struct FetcherManager {
    node_id: i32,
    factory: LeaderFactory,
    settings: FetcherSettings,
    fetchers: Mutex<HashMap<i32, Running>>,
}

impl FetcherManager {
    pub fn new(node_id: i32, factory: LeaderFactory, settings: FetcherSettings) -> FetcherManager {
        FetcherManager {
            node_id,
            factory,
            settings,
            fetchers: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Running>> {
        self.fetchers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The leader brokers fetched from, each with its partitions and their leader epochs.
    pub fn leaders(&self) -> Vec<LeaderFetches> {
        let mut out: Vec<_> = self
            .table()
            .iter()
            .map(|(id, r)| (*id, r.fetcher.followed()))
            .collect();
        out.sort();
        out
    }

    /// Follows what `image` says (see the module doc).
    pub fn sync(&self, image: &MetadataImage, replicas: &ReplicaManager) {
        let mut wanted: HashMap<i32, Vec<_>> = HashMap::new();
        for r in replicas.all() {
            let Some(p) = image.partition(r.topic(), r.index()) else {
                continue;
            };
            if p.leader >= 0 && p.leader != self.node_id {
                wanted
                    .entry(p.leader)
                    .or_default()
                    .push((r.clone(), p.leader_epoch));
            }
        }
        let mut table = self.table();
        // Drop what is no longer followed from its leader, or followed at another epoch.
        for (leader, running) in table.iter() {
            let keep = wanted.get(leader);
            for ((topic, index), epoch) in running.fetcher.followed() {
                let same = keep.is_some_and(|w| {
                    w.iter()
                        .any(|(r, e)| r.topic() == topic && r.index() == index && *e == epoch)
                });
                if !same {
                    running.fetcher.remove(&topic, index);
                }
            }
        }
        for (leader, partitions) in wanted {
            if !table.contains_key(&leader) {
                let Some(endpoint) = image.brokers.get(&leader).and_then(|b| (self.factory)(b))
                else {
                    tracing::warn!("leader {leader} cannot be reached: not following it");
                    continue;
                };
                let fetcher = Arc::new(ReplicaFetcher::new(endpoint, self.settings.clone()));
                let (stop, mut stopped) = watch::channel(false);
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    let f = fetcher.clone();
                    rt.spawn(f.run(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    }));
                }
                table.insert(leader, Running { fetcher, stop });
            }
            let Some(running) = table.get(&leader) else {
                continue;
            };
            let followed = running.fetcher.followed();
            for (r, epoch) in partitions {
                let key = (r.topic().to_string(), r.index());
                if !followed.iter().any(|(k, e)| *k == key && *e == epoch) {
                    running.fetcher.add(r.clone(), r.topic_id(), epoch);
                }
            }
        }
        table.retain(|_, running| {
            let keep = !running.fetcher.is_empty();
            if !keep {
                let _ = running.stop.send(true);
            }
            keep
        });
    }

    /// Stops every fetcher (shutdown).
    pub fn shutdown(&self) {
        for (_, running) in self.table().drain() {
            let _ = running.stop.send(true);
        }
    }
}
