//! The fetch session cache (KIP-227): sessions by id, at most
//! `max.incremental.fetch.session.cache.slots` of them, and Kafka's `FetchSessionCache`
//! eviction rules for a new session when it is full:
//! - the least recently used session goes if it is stale (unused for more than
//!   [`EVICTION_MS`]);
//! - otherwise the "least valuable" evictable session goes if the new one is worth more —
//!   ordered by (privileged, size, id): a follower's (privileged) session outranks a
//!   consumer's, then more partitions outrank fewer. A consumer's new session may only evict
//!   sessions created more than [`EVICTION_MS`] ago; a follower's may also evict any
//!   consumer's session. Both sets are decided when a session is last touched, as Kafka does.
//!
//! Kafka ≥ 3.8 splits its cache into 8 shards by session id (each with a slot count of
//! slots / 8) to reduce lock contention; this cache is one shard with all the slots.
//! Request handling (full, sessionless, incremental) is in [`FetchSessionCache::begin`].

mod session;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use session::{
    next_epoch, CachedPartition, FetchParams, FetchSession, PartitionKey, PartitionOutcome,
};

/// Kafka's `MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`: a session unused (or, for the
/// value ordering, existing) for longer may be evicted by any new one.
pub const EVICTION_MS: u64 = 120_000;

/// FETCH_SESSION_ID_NOT_FOUND.
pub const SESSION_ID_NOT_FOUND: i16 = 70;
/// INVALID_FETCH_SESSION_EPOCH.
pub const INVALID_SESSION_EPOCH: i16 = 71;

/// A session shared by the cache and the request using it (a request keeps it even when it
/// is evicted meanwhile, as Kafka's contexts do).
pub type SharedSession = Arc<Mutex<FetchSession>>;

/// What the cache knows of a session for eviction (Kafka's lastUsed and evictable keys).
#[derive(Clone, Copy, Debug)]
struct Entry {
    privileged: bool,
    created_ms: u64,
    last_used_ms: u64,
    /// The size when last touched.
    size: usize,
    /// Evictable by a consumer's new session (created long enough ago, at the last touch).
    by_all: bool,
    /// Evictable by a follower's new session (a consumer's, or created long ago).
    by_privileged: bool,
}

/// How a fetch request is served, decided from its session id and epoch.
pub enum Begin {
    /// Epoch −1 (or a session emptied by this request): request order, session id 0.
    Sessionless,
    /// Epoch 0: request order, then [`FetchSessionCache::maybe_create`] with the response.
    Full,
    /// A known session at the right epoch (already advanced): read `partitions` in this
    /// order, then [`FetchSession::respond`] filters and rotates.
    Incremental {
        session: SharedSession,
        id: i32,
        partitions: Vec<(PartitionKey, FetchParams)>,
    },
    /// A top-level error and no partitions (70 or 71).
    Error(i16),
}

/// The sessions of this broker (Kafka's FetchSessionCache).
pub struct FetchSessionCache {
    max_entries: usize,
    eviction_ms: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<i32, (SharedSession, Entry)>,
    /// State of the id generator (xorshift, seeded at random).
    seed: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // No panic path leaves these half-updated: take the data of a poisoned lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FetchSessionCache {
    pub fn new(max_entries: usize) -> FetchSessionCache {
        Self::with_eviction(max_entries, EVICTION_MS)
    }

    pub fn with_eviction(max_entries: usize, eviction_ms: u64) -> FetchSessionCache {
        let seed = (uuid::Uuid::new_v4().as_u128() as u64) | 1;
        FetchSessionCache {
            max_entries,
            eviction_ms,
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                seed,
            }),
        }
    }

    /// The number of cached sessions.
    pub fn len(&self) -> usize {
        lock(&self.inner).sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, id: i32) -> bool {
        lock(&self.inner).sessions.contains_key(&id)
    }

    /// Decides how a request is served (Kafka's `FetchManager.newContext`): epoch 0 or −1
    /// is a full request and first closes the session it names; epoch 0 may create a
    /// session after the read. Otherwise the session must exist (else 70) and expect this
    /// epoch (else 71, and it stays); its partitions are updated by the request, its epoch
    /// advanced, and it is closed when the update leaves it empty.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        now_ms: u64,
        fetch: Vec<(PartitionKey, FetchParams)>,
        forgotten: &[PartitionKey],
    ) -> Begin {
        let mut inner = lock(&self.inner);
        if epoch == 0 || epoch == -1 {
            if session_id != 0 {
                inner.sessions.remove(&session_id);
            }
            return if epoch == -1 {
                Begin::Sessionless
            } else {
                Begin::Full
            };
        }
        let Some((shared, _)) = inner.sessions.get(&session_id) else {
            return Begin::Error(SESSION_ID_NOT_FOUND);
        };
        let shared = shared.clone();
        let mut session = lock(&shared);
        if session.epoch != epoch {
            return Begin::Error(INVALID_SESSION_EPOCH);
        }
        session.update(fetch, forgotten);
        if session.is_empty() {
            inner.sessions.remove(&session_id);
            return Begin::Sessionless;
        }
        let size = session.len();
        self.touch(&mut inner, session_id, size, now_ms);
        session.epoch = next_epoch(session.epoch);
        let partitions = session.to_fetch();
        drop(session);
        Begin::Incremental {
            session: shared,
            id: session_id,
            partitions,
        }
    }

    /// Kafka's `touch`: the session was used now; its evictable sets are decided anew.
    fn touch(&self, inner: &mut Inner, id: i32, size: usize, now_ms: u64) {
        if let Some((_, e)) = inner.sessions.get_mut(&id) {
            e.last_used_ms = now_ms;
            e.size = size;
            let old = now_ms.saturating_sub(e.created_ms) > self.eviction_ms;
            e.by_all = old;
            e.by_privileged = !e.privileged || old;
        }
    }

    /// Kafka's `maybeCreateSession` after a full request's read: a new session with these
    /// partitions (in this order) if there is a free slot or one may be evicted; its id, or 0.
    pub fn maybe_create(
        &self,
        now_ms: u64,
        privileged: bool,
        partitions: Vec<(PartitionKey, CachedPartition)>,
    ) -> i32 {
        let mut inner = lock(&self.inner);
        let size = partitions.len();
        if inner.sessions.len() >= self.max_entries
            && !self.try_evict(&mut inner, privileged, size, now_ms)
        {
            return 0;
        }
        let id = new_id(&mut inner);
        let entry = Entry {
            privileged,
            created_ms: now_ms,
            last_used_ms: now_ms,
            size,
            by_all: false,
            by_privileged: false,
        };
        let session = Arc::new(Mutex::new(FetchSession::new(id, partitions)));
        inner.sessions.insert(id, (session, entry));
        self.touch(&mut inner, id, size, now_ms);
        id
    }

    /// Kafka's `tryEvict`: the least recently used session if stale, else the least
    /// valuable evictable one if the new session's key (privileged, size, id 0) is not
    /// below it.
    fn try_evict(&self, inner: &mut Inner, privileged: bool, size: usize, now_ms: u64) -> bool {
        let lru = inner
            .sessions
            .iter()
            .min_by_key(|(id, (_, e))| (e.last_used_ms, **id))
            .map(|(id, (_, e))| (*id, e.last_used_ms));
        let Some((lru_id, last_used)) = lru else {
            return false;
        };
        if now_ms.saturating_sub(last_used) > self.eviction_ms {
            tracing::debug!("evicting stale fetch session {lru_id}");
            inner.sessions.remove(&lru_id);
            return true;
        }
        let least = inner
            .sessions
            .iter()
            .filter(|(_, (_, e))| {
                if privileged {
                    e.by_privileged
                } else {
                    e.by_all
                }
            })
            .map(|(id, (_, e))| (e.privileged, e.size, *id))
            .min();
        match least {
            Some(victim) if (privileged, size, 0) >= victim => {
                tracing::debug!(
                    "evicting fetch session {} for a more valuable one",
                    victim.2
                );
                inner.sessions.remove(&victim.2);
                true
            }
            _ => false,
        }
    }
}

/// A positive id not in use (Kafka draws them at random).
fn new_id(inner: &mut Inner) -> i32 {
    loop {
        let mut x = inner.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        inner.seed = x;
        let id = (x >> 33) as i32 & i32::MAX;
        if id > 0 && !inner.sessions.contains_key(&id) {
            return id;
        }
    }
}
