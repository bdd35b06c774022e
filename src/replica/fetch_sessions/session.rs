//! One fetch session (KIP-227): the partitions a fetcher follows, in the order the broker
//! serves them, with what each was last told (high watermark, log start offset), so an
//! incremental response can leave out the partitions with nothing new. Kafka's
//! `FetchSession` / `CachedPartition` rules; no I/O here.

use std::collections::HashSet;

use indexmap::IndexMap;

/// A partition of a session, named by topic and index (topic names: Fetch v7–12).
pub type PartitionKey = (String, i32);

/// What the fetcher asks of one partition (the request's fields Kafka caches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchParams {
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    /// The follower's log start offset (−1 for consumers).
    pub log_start_offset: i64,
}

/// A session's partition: the fetcher's last parameters and what it was last answered
/// (Kafka's `CachedPartition`), so only changes are sent.
#[derive(Clone, Debug)]
pub struct CachedPartition {
    pub params: FetchParams,
    /// The high watermark last sent (−1: never sent, or an error was: send the next answer).
    high_watermark: i64,
    /// The log start offset last sent (−1: never sent).
    log_start_offset: i64,
}

/// The fields of one partition's response that decide whether an incremental response
/// includes it (Kafka's `maybeUpdateResponseData`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PartitionOutcome {
    pub record_bytes: usize,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub error_code: i16,
    pub diverging: bool,
    pub preferred_read_replica: bool,
}

impl CachedPartition {
    /// A partition just added by a request: its first answer is always sent.
    fn added(params: FetchParams) -> CachedPartition {
        CachedPartition {
            params,
            high_watermark: -1,
            log_start_offset: -1,
        }
    }

    /// A partition of a new session, with the full response it was just sent.
    pub fn answered(params: FetchParams, sent: &PartitionOutcome) -> CachedPartition {
        CachedPartition {
            params,
            high_watermark: sent.high_watermark,
            log_start_offset: sent.log_start_offset,
        }
    }

    /// Whether an incremental response must carry this partition (new records, a changed
    /// high watermark or log start offset, an error, a diverging epoch, a preferred read
    /// replica), remembering what is sent. An error resets the cached high watermark so the
    /// answer after the error clears is sent too. The last stable offset is not compared
    /// (neither does Kafka).
    pub fn must_respond(&mut self, out: &PartitionOutcome) -> bool {
        let mut respond = out.record_bytes > 0 || out.diverging || out.preferred_read_replica;
        if self.high_watermark != out.high_watermark {
            respond = true;
            self.high_watermark = out.high_watermark;
        }
        if self.log_start_offset != out.log_start_offset {
            respond = true;
            self.log_start_offset = out.log_start_offset;
        }
        if out.error_code != 0 {
            respond = true;
            self.high_watermark = -1;
        }
        respond
    }
}

/// A cached session: its id, the epoch the next incremental request must carry, and its
/// partitions in serving order (rotated after each response: partitions that returned
/// records move to the end, so a small `fetch.max.bytes` still serves every one in turn).
#[derive(Debug)]
pub struct FetchSession {
    pub id: i32,
    /// The epoch the next request must carry (1 after creation; wraps to 1 after i32::MAX).
    pub epoch: i32,
    partitions: IndexMap<PartitionKey, CachedPartition>,
}

/// The epoch after `epoch` (Kafka's `FetchMetadata.nextEpoch`: never 0 or −1 again).
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        0
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

impl FetchSession {
    pub fn new(id: i32, partitions: Vec<(PartitionKey, CachedPartition)>) -> FetchSession {
        FetchSession {
            id,
            epoch: 1,
            partitions: partitions.into_iter().collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// An incremental request's changes: partitions it names are added (at the end) or have
    /// their parameters replaced (in place); then the forgotten ones are removed.
    pub fn update(&mut self, fetch: Vec<(PartitionKey, FetchParams)>, forgotten: &[PartitionKey]) {
        for (key, params) in fetch {
            match self.partitions.get_mut(&key) {
                Some(p) => p.params = params,
                None => {
                    self.partitions.insert(key, CachedPartition::added(params));
                }
            }
        }
        for key in forgotten {
            self.partitions.shift_remove(key);
        }
    }

    /// The partitions to read, in serving order.
    pub fn to_fetch(&self) -> Vec<(PartitionKey, FetchParams)> {
        self.partitions
            .iter()
            .map(|(k, p)| (k.clone(), p.params.clone()))
            .collect()
    }

    /// After the read: which partitions the incremental response carries (one flag per
    /// outcome, in the order given), and the rotation (those that returned records move to
    /// the end, in the order they were served). Outcomes for partitions the session no longer
    /// has (a concurrent request removed them) are sent.
    pub fn respond(&mut self, outcomes: &[(PartitionKey, PartitionOutcome)]) -> Vec<bool> {
        let mut keep = Vec::with_capacity(outcomes.len());
        let mut moved = Vec::new();
        for (key, out) in outcomes {
            match self.partitions.get_mut(key) {
                Some(p) => {
                    keep.push(p.must_respond(out));
                    if out.record_bytes > 0 {
                        moved.push(key);
                    }
                }
                None => keep.push(true),
            }
        }
        if !moved.is_empty() {
            // One pass, whatever the number moved (1,000 partitions stay cheap).
            let moved: HashSet<&PartitionKey> = moved.into_iter().collect();
            let old = std::mem::take(&mut self.partitions);
            let (to_end, rest): (Vec<_>, Vec<_>) =
                old.into_iter().partition(|(k, _)| moved.contains(k));
            self.partitions = rest.into_iter().chain(to_end).collect();
        }
        keep
    }
}
