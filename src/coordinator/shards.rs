//! The coordinator shards this node runs: one per partition of a coordinator topic that it
//! leads (Kafka's `CoordinatorRuntime` shard map), each loading, loaded or absent.
//!
//! A shard is loaded when this node becomes the leader of its partition (the coordinator
//! epoch is the partition's leader epoch) and dropped when it stops being the leader or the
//! epoch changes; [`ShardSet::get`] gives requests Kafka's answers meanwhile:
//! NOT_COORDINATOR when this node does not run the shard, COORDINATOR_LOAD_IN_PROGRESS
//! while its log is being replayed. Who drives loading and unloading is the broker
//! (`broker::coordinators`), which follows the replica layer's leadership.
//!
//! Thread-safety: the map sits behind a std mutex held only to look up or swap a slot; a
//! coordinator is handed out as an `Arc`, so a request in flight keeps the instance it
//! started with (its writes fail with NOT_COORDINATOR once the leadership is gone).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::ErrorCode;

/// One partition's shard (see the module doc).
enum Slot<C> {
    Loading { epoch: i32 },
    Loaded { epoch: i32, shard: Arc<C> },
}

impl<C> Slot<C> {
    fn epoch(&self) -> i32 {
        match self {
            Slot::Loading { epoch } | Slot::Loaded { epoch, .. } => *epoch,
        }
    }
}

/// Every shard of one coordinator type on this node, by partition (see the module doc).
pub struct ShardSet<C> {
    slots: Mutex<BTreeMap<i32, Slot<C>>>,
}

impl<C> Default for ShardSet<C> {
    fn default() -> Self {
        ShardSet {
            slots: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<C> ShardSet<C> {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<i32, Slot<C>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The loaded shard of `partition`, or Kafka's code for why not.
    pub fn get(&self, partition: i32) -> Result<Arc<C>, ErrorCode> {
        match self.lock().get(&partition) {
            Some(Slot::Loaded { shard, .. }) => Ok(shard.clone()),
            Some(Slot::Loading { .. }) => Err(ErrorCode::CoordinatorLoadInProgress),
            None => Err(ErrorCode::NotCoordinator),
        }
    }

    /// The loaded shard of `partition` and its epoch.
    pub fn get_with_epoch(&self, partition: i32) -> Option<(i32, Arc<C>)> {
        match self.lock().get(&partition) {
            Some(Slot::Loaded { epoch, shard }) => Some((*epoch, shard.clone())),
            _ => None,
        }
    }

    /// Every loaded shard, by partition.
    pub fn loaded(&self) -> Vec<(i32, Arc<C>)> {
        self.lock()
            .iter()
            .filter_map(|(p, s)| match s {
                Slot::Loaded { shard, .. } => Some((*p, shard.clone())),
                Slot::Loading { .. } => None,
            })
            .collect()
    }

    /// Marks `partition` as loading at `epoch`; `false` when it is already loading or loaded
    /// at that epoch (nothing to do).
    pub fn begin_load(&self, partition: i32, epoch: i32) -> bool {
        let mut slots = self.lock();
        if slots.get(&partition).is_some_and(|s| s.epoch() == epoch) {
            return false;
        }
        slots.insert(partition, Slot::Loading { epoch });
        true
    }

    /// Installs a loaded shard, if `partition` is still loading at `epoch` (it may have been
    /// unloaded or moved to a newer epoch meanwhile); returns whether it was installed.
    pub fn finish_load(&self, partition: i32, epoch: i32, shard: Arc<C>) -> bool {
        let mut slots = self.lock();
        match slots.get(&partition) {
            Some(Slot::Loading { epoch: e }) if *e == epoch => {
                slots.insert(partition, Slot::Loaded { epoch, shard });
                true
            }
            _ => false,
        }
    }

    /// Forgets a load that failed (the next sync tries again).
    pub fn abandon_load(&self, partition: i32, epoch: i32) {
        let mut slots = self.lock();
        if matches!(slots.get(&partition), Some(Slot::Loading { epoch: e }) if *e == epoch) {
            slots.remove(&partition);
        }
    }

    /// Drops the slot of `partition` (this node no longer leads it); the shard, if it was
    /// loaded, is returned so its owner can release what waits on it.
    pub fn unload(&self, partition: i32) -> Option<Arc<C>> {
        match self.lock().remove(&partition) {
            Some(Slot::Loaded { shard, .. }) => Some(shard),
            _ => None,
        }
    }

    /// Partitions with a slot and their epochs.
    pub fn partitions(&self) -> Vec<(i32, i32)> {
        self.lock().iter().map(|(p, s)| (*p, s.epoch())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_lifecycle_answers_as_kafka() {
        let set: ShardSet<&'static str> = ShardSet::default();
        assert_eq!(set.get(3).err(), Some(ErrorCode::NotCoordinator));
        assert!(set.begin_load(3, 5));
        assert!(!set.begin_load(3, 5), "already loading at this epoch");
        assert_eq!(set.get(3).err(), Some(ErrorCode::CoordinatorLoadInProgress));
        assert!(set.finish_load(3, 5, Arc::new("a")));
        assert_eq!(set.get(3).ok().as_deref(), Some(&"a"));
        // A newer epoch starts a new load; the old load's result is not installed.
        assert!(set.begin_load(3, 6));
        assert!(!set.finish_load(3, 5, Arc::new("stale")));
        assert!(set.finish_load(3, 6, Arc::new("b")));
        assert_eq!(set.get_with_epoch(3).map(|(e, s)| (e, *s)), Some((6, "b")));
        assert_eq!(set.unload(3).as_deref(), Some(&"b"));
        assert_eq!(set.get(3).err(), Some(ErrorCode::NotCoordinator));
        assert!(set.loaded().is_empty());
    }
}
