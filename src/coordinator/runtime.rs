//! The coordinator runtime: Kafka's `CoordinatorRuntime` / `CoordinatorResult` pattern, one
//! engine for every coordinator (groups now, transactions next).
//!
//! Why: a coordinator keeps state in memory and makes it durable in its own log. Doing that
//! by hand in every operation is how changes end up applied before the write that should
//! precede them, with a failed write only logged. Here an operation cannot do that: it is a
//! function of `(&state, now)` that returns a [`CoordinatorResult`] — the records to write and
//! the response — and the runtime does the rest in one order:
//!
//! 1. operations of one coordinator partition run one at a time (serialised by an async
//!    mutex, held from the decision until the state is updated);
//! 2. the records are appended to the partition's [`CoordinatorLog`];
//! 3. only once they are written are they replayed into the state, through
//!    [`Shard::replay`] — the very path start-up uses to rebuild the state from the log — and
//!    the response is produced (optionally by a step that updates in-memory-only state, such
//!    as waiting JoinGroup members, after the records were applied);
//! 4. if the write fails, nothing is replayed and no step runs: the state is exactly as
//!    before and the caller gets the error (map it with [`write_error_code`]).
//!
//! So durable state changes only by replaying written records, and what a reader sees always
//! matches the log.
//!
//! Transactions (Kafka's `scheduleTransactionalWriteOperation` / `scheduleTransactionCompletion`):
//! an operation may ask for its records to be written as a transactional batch of a producer
//! ([`CoordinatorResult::transactional`]; replayed through [`Shard::replay_transactional`]) or
//! for a marker ending a producer's transaction ([`CoordinatorResult::end_transaction`];
//! replayed through [`Shard::replay_marker`]). Start-up replays the log the same way, so
//! transactions still open when the broker stopped are open again after it starts. Timers are ordinary write operations whose `now` comes from the injected
//! [`Clock`] (a fake clock in tests).
//!
//! Thread-safety: `CoordinatorRuntime` is `Send + Sync` and shared as `Arc`. The state sits
//! behind a std mutex held only for synchronous sections (deciding, replaying, reading),
//! never across an await, so reads ([`CoordinatorRuntime::read`]) never wait for a disk
//! write. Writes take a separate async mutex for their whole duration, and the append and
//! replay run in a spawned task: a caller that goes away mid-write cannot leave a record
//! written but not applied.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::clock::{Clock, Now};
use super::log::{CoordinatorLog, LogEntry, RecordBytes, TxnProducer};
use crate::error::{Error, ErrorCode, Result};

/// A record type a coordinator writes: it knows its own key and value bytes.
pub trait CoordinatorRecord: Sized + Send + 'static {
    fn encode(&self) -> RecordBytes;
    fn decode(key: Bytes, value: Option<Bytes>) -> Result<Self, String>;
}

/// The state of one coordinator partition. Its durable part changes only in [`Shard::replay`].
pub trait Shard: Send + 'static {
    type Record: CoordinatorRecord;

    /// Applies one written record (at start-up and after every successful write).
    fn replay(&mut self, record: Self::Record, now: Now);

    /// Applies one record written in a transactional batch of `producer`. A shard that keeps
    /// no transactional state applies it as a plain record.
    fn replay_transactional(&mut self, record: Self::Record, producer: TxnProducer, now: Now) {
        let _ = producer;
        self.replay(record, now);
    }

    /// Applies a marker ending `producer`'s transaction (`commit` or abort). Shards that keep
    /// no transactional state ignore it.
    fn replay_marker(&mut self, producer: TxnProducer, commit: bool, now: Now) {
        let _ = (producer, commit, now);
    }
}

/// How an operation's write goes to the log (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteKind {
    /// A plain batch.
    Plain,
    /// A transactional batch of this producer (as a plain batch, nothing is written when
    /// there are no records).
    Transactional(TxnProducer),
    /// A marker ending this producer's transaction (written even without records), stamped
    /// with the epoch of the transaction coordinator that asked for it.
    Marker {
        producer: TxnProducer,
        commit: bool,
        coordinator_epoch: i32,
    },
}

type Step<S, T> = Box<dyn FnOnce(&mut S, Now) -> T + Send>;

/// What an operation decided: the records to write and how to answer once they are written
/// (see the module doc).
pub struct CoordinatorResult<S: Shard, T> {
    records: Vec<S::Record>,
    kind: WriteKind,
    response: Step<S, T>,
}

impl<S: Shard, T: Send + 'static> CoordinatorResult<S, T> {
    /// An answer that needs no write.
    pub fn answer(response: T) -> Self {
        Self::new(Vec::new(), response)
    }

    /// Records to write, and the answer to give once they are written and applied.
    pub fn new(records: Vec<S::Record>, response: T) -> Self {
        CoordinatorResult {
            records,
            kind: WriteKind::Plain,
            response: Box::new(move |_, _| response),
        }
    }

    /// Records to write, then `step` on the state after they were written and replayed. The
    /// step may change in-memory-only state (waiters, heartbeats, a rebalance in progress),
    /// never what the records describe. It does not run if the write fails.
    pub fn then(
        records: Vec<S::Record>,
        step: impl FnOnce(&mut S, Now) -> T + Send + 'static,
    ) -> Self {
        CoordinatorResult {
            records,
            kind: WriteKind::Plain,
            response: Box::new(step),
        }
    }

    /// Records to write as one transactional batch of `producer` (Kafka's TxnOffsetCommit
    /// write), replayed through [`Shard::replay_transactional`]; then `response`.
    pub fn transactional(producer: TxnProducer, records: Vec<S::Record>, response: T) -> Self {
        CoordinatorResult {
            kind: WriteKind::Transactional(producer),
            ..Self::new(records, response)
        }
    }

    /// A marker ending `producer`'s transaction (`commit` or abort), replayed through
    /// [`Shard::replay_marker`]; then `response`. The marker is written even when the shard
    /// holds nothing of that producer, as Kafka writes every marker it is asked to. The
    /// marker carries `coordinator_epoch`, the transaction coordinator's epoch from
    /// WriteTxnMarkers (Kafka's `CoordinatorRuntime.scheduleTransactionCompletion`).
    pub fn end_transaction(
        producer: TxnProducer,
        commit: bool,
        coordinator_epoch: i32,
        response: T,
    ) -> Self {
        CoordinatorResult {
            kind: WriteKind::Marker {
                producer,
                commit,
                coordinator_epoch,
            },
            ..Self::new(Vec::new(), response)
        }
    }

    pub fn records(&self) -> &[S::Record] {
        &self.records
    }
}

/// Runs the operations of one coordinator partition (see the module doc).
pub struct CoordinatorRuntime<S: Shard> {
    state: Mutex<S>,
    writes: Arc<tokio::sync::Mutex<()>>,
    log: Arc<dyn CoordinatorLog>,
    clock: Arc<dyn Clock>,
}

/// The code a client gets when a coordinator's write failed, as Kafka's group coordinator
/// maps it (`GroupCoordinatorService.handleOperationException`): the partition is gone or
/// slow → COORDINATOR_NOT_AVAILABLE; not leader or a storage error → NOT_COORDINATOR (the
/// client looks the coordinator up again); a batch too large → UNKNOWN_SERVER_ERROR.
pub fn write_error_code(e: &Error) -> ErrorCode {
    match e.code() {
        ErrorCode::UnknownTopicOrPartition
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::RequestTimedOut => ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotLeaderOrFollower | ErrorCode::KafkaStorageError => ErrorCode::NotCoordinator,
        ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge => ErrorCode::UnknownServerError,
        other => other,
    }
}

impl<S: Shard> CoordinatorRuntime<S> {
    /// Rebuilds `shard` from every record and marker of `log` (blocking) and returns the
    /// runtime with the number of entries replayed. Records that cannot be decoded are skipped with a warning.
    pub fn load(
        mut shard: S,
        log: Arc<dyn CoordinatorLog>,
        clock: Arc<dyn Clock>,
    ) -> Result<(CoordinatorRuntime<S>, usize)> {
        let now = clock.now();
        let stored = log.read_all()?;
        let count = stored.len();
        for entry in stored {
            match entry {
                LogEntry::Record {
                    record: (key, value),
                    producer,
                } => match (S::Record::decode(key, value), producer) {
                    (Ok(r), None) => shard.replay(r, now),
                    (Ok(r), Some(p)) => shard.replay_transactional(r, p, now),
                    (Err(e), _) => tracing::warn!("skipping unreadable coordinator record: {e}"),
                },
                LogEntry::Marker { producer, commit } => shard.replay_marker(producer, commit, now),
            }
        }
        let runtime = CoordinatorRuntime {
            state: Mutex::new(shard),
            writes: Arc::new(tokio::sync::Mutex::new(())),
            log,
            clock,
        };
        Ok((runtime, count))
    }

    pub fn now(&self) -> Now {
        self.clock.now()
    }

    pub fn log(&self) -> &Arc<dyn CoordinatorLog> {
        &self.log
    }

    fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the state as of the last written record, without waiting for writes in flight.
    pub fn read<T>(&self, f: impl FnOnce(&S) -> T) -> T {
        f(&self.lock())
    }

    /// Runs one operation (see the module doc). `Err` means the records could not be written
    /// and the state is unchanged.
    pub async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        op: impl FnOnce(&S, Now) -> CoordinatorResult<S, T>,
    ) -> Result<T> {
        let turn = self.writes.clone().lock_owned().await;
        let now = self.clock.now();
        let result = op(&self.lock(), now);
        if result.records.is_empty() && !matches!(result.kind, WriteKind::Marker { .. }) {
            let mut state = self.lock();
            return Ok((result.response)(&mut state, now));
        }
        let me = self.clone();
        let task = tokio::spawn(async move {
            let bytes = result.records.iter().map(|r| r.encode()).collect();
            match result.kind {
                WriteKind::Plain => me.log.append(bytes).await?,
                WriteKind::Transactional(p) => me.log.append_transactional(p, bytes).await?,
                WriteKind::Marker {
                    producer,
                    commit,
                    coordinator_epoch,
                } => {
                    me.log
                        .append_marker(producer, commit, coordinator_epoch)
                        .await?
                }
            }
            let mut state = me.lock();
            for r in result.records {
                match result.kind {
                    WriteKind::Transactional(p) => state.replay_transactional(r, p, now),
                    _ => state.replay(r, now),
                }
            }
            if let WriteKind::Marker {
                producer, commit, ..
            } = result.kind
            {
                state.replay_marker(producer, commit, now);
            }
            let out = (result.response)(&mut state, now);
            drop(turn);
            Ok(out)
        });
        task.await.map_err(|e| {
            Error::kafka(
                ErrorCode::UnknownServerError,
                format!("coordinator write failed: {e}"),
            )
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::clock::FakeClock;
    use crate::coordinator::log::MemoryLog;

    /// A counter: the smallest shard there is. Amounts added inside a transaction wait in
    /// `pending` for their producer's marker.
    #[derive(Default)]
    struct Sum {
        total: i64,
        steps: u32,
        pending: std::collections::HashMap<i64, i64>,
    }

    struct Add(i64);

    impl CoordinatorRecord for Add {
        fn encode(&self) -> RecordBytes {
            (
                Bytes::from_static(b"add"),
                Some(Bytes::copy_from_slice(&self.0.to_be_bytes())),
            )
        }
        fn decode(_: Bytes, value: Option<Bytes>) -> Result<Self, String> {
            let v = value.ok_or("tombstone")?;
            let b: [u8; 8] = v[..].try_into().map_err(|_| "bad length".to_string())?;
            Ok(Add(i64::from_be_bytes(b)))
        }
    }

    impl Shard for Sum {
        type Record = Add;
        fn replay(&mut self, r: Add, _: Now) {
            self.total += r.0;
        }
        fn replay_transactional(&mut self, r: Add, p: TxnProducer, _: Now) {
            *self.pending.entry(p.producer_id).or_default() += r.0;
        }
        fn replay_marker(&mut self, p: TxnProducer, commit: bool, _: Now) {
            let amount = self.pending.remove(&p.producer_id).unwrap_or(0);
            if commit {
                self.total += amount;
            }
        }
    }

    const P1: TxnProducer = TxnProducer {
        producer_id: 1,
        producer_epoch: 0,
    };
    const P2: TxnProducer = TxnProducer {
        producer_id: 2,
        producer_epoch: 0,
    };

    fn add_in(p: TxnProducer, n: i64) -> impl FnOnce(&Sum, Now) -> CoordinatorResult<Sum, ()> {
        move |_, _| CoordinatorResult::transactional(p, vec![Add(n)], ())
    }

    fn end(p: TxnProducer, commit: bool) -> impl FnOnce(&Sum, Now) -> CoordinatorResult<Sum, ()> {
        move |_, _| CoordinatorResult::end_transaction(p, commit, 0, ())
    }

    #[tokio::test]
    async fn transactional_writes_wait_for_their_marker_and_replay_the_same() {
        let log = Arc::new(MemoryLog::new());
        let clock = Arc::new(FakeClock::new());
        let (rt, _) = CoordinatorRuntime::load(Sum::default(), log.clone(), clock.clone()).unwrap();
        let rt = Arc::new(rt);
        rt.write(add(1)).await.unwrap();
        rt.write(add_in(P1, 10)).await.unwrap();
        rt.write(add_in(P2, 100)).await.unwrap();
        rt.write(add_in(P1, 20)).await.unwrap();
        assert_eq!(rt.read(|s| s.total), 1, "pending amounts are not applied");
        assert_eq!(
            log.read_all().unwrap()[1],
            LogEntry::Record {
                record: Add(10).encode(),
                producer: Some(P1)
            }
        );

        // A restart with both transactions open rebuilds them.
        let (again, n) =
            CoordinatorRuntime::load(Sum::default(), log.clone(), clock.clone()).unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            again.read(|s| (s.total, s.pending.clone())),
            (1, [(1, 30), (2, 100)].into())
        );

        // A marker is written although it has no records; a failed one changes nothing.
        log.fail_writes(true);
        assert!(rt.write(end(P1, true)).await.is_err());
        assert_eq!(rt.read(|s| (s.total, s.pending.len())), (1, 2));
        log.fail_writes(false);
        rt.write(end(P1, true)).await.unwrap();
        rt.write(end(P2, false)).await.unwrap();
        assert_eq!(rt.read(|s| (s.total, s.pending.len())), (31, 0));
        assert_eq!(
            log.read_all().unwrap().last(),
            Some(&LogEntry::Marker {
                producer: P2,
                commit: false
            })
        );

        let (again, n) = CoordinatorRuntime::load(Sum::default(), log, clock).unwrap();
        assert_eq!(n, 6);
        assert_eq!(again.read(|s| (s.total, s.pending.len())), (31, 0));
    }

    fn add(n: i64) -> impl FnOnce(&Sum, Now) -> CoordinatorResult<Sum, i64> {
        move |s, _| {
            let expected = s.total + n;
            CoordinatorResult::then(vec![Add(n)], move |s: &mut Sum, _| {
                s.steps += 1;
                assert_eq!(s.total, expected, "records are applied before the step");
                s.total
            })
        }
    }

    #[tokio::test]
    async fn write_then_apply_and_replay_gives_the_same_state() {
        let log = Arc::new(MemoryLog::new());
        let clock = Arc::new(FakeClock::new());
        let (rt, n) = CoordinatorRuntime::load(Sum::default(), log.clone(), clock.clone()).unwrap();
        assert_eq!(n, 0);
        let rt = Arc::new(rt);
        assert_eq!(rt.write(add(5)).await.unwrap(), 5);
        assert_eq!(rt.write(add(-2)).await.unwrap(), 3);
        assert_eq!(log.len(), 2);

        log.fail_writes(true);
        let err = rt.write(add(100)).await.expect_err("write must fail");
        assert_eq!(write_error_code(&err), ErrorCode::NotCoordinator);
        assert_eq!(rt.read(|s| (s.total, s.steps)), (3, 2), "state unchanged");
        assert_eq!(log.len(), 2);
        log.fail_writes(false);

        let (again, n) = CoordinatorRuntime::load(Sum::default(), log.clone(), clock).unwrap();
        assert_eq!(n, 2);
        assert_eq!(again.read(|s| s.total), 3);
    }

    #[tokio::test]
    async fn concurrent_writes_are_serialised() {
        let log = Arc::new(MemoryLog::new());
        let (rt, _) =
            CoordinatorRuntime::load(Sum::default(), log, Arc::new(FakeClock::new())).unwrap();
        let rt = Arc::new(rt);
        let tasks: Vec<_> = (1..=20)
            .map(|i| {
                let rt = rt.clone();
                tokio::spawn(async move { rt.write(add(i)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(rt.read(|s| (s.total, s.steps)), (210, 20));
    }

    #[test]
    fn write_errors_map_as_kafka_maps_them() {
        let io = Error::Io(std::io::Error::other("disk"));
        assert_eq!(write_error_code(&io), ErrorCode::NotCoordinator);
        let big = Error::kafka(ErrorCode::RecordListTooLarge, "big");
        assert_eq!(write_error_code(&big), ErrorCode::UnknownServerError);
        let gone = Error::kafka(ErrorCode::UnknownTopicOrPartition, "gone");
        assert_eq!(write_error_code(&gone), ErrorCode::CoordinatorNotAvailable);
    }
}
