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
//! matches the log. Timers are ordinary write operations whose `now` comes from the injected
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
use super::log::{CoordinatorLog, RecordBytes};
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
}

type Step<S, T> = Box<dyn FnOnce(&mut S, Now) -> T + Send>;

/// What an operation decided: the records to write and how to answer once they are written
/// (see the module doc).
pub struct CoordinatorResult<S: Shard, T> {
    records: Vec<S::Record>,
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
            response: Box::new(step),
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
    /// Rebuilds `shard` from every record of `log` (blocking) and returns the runtime with the
    /// number of records replayed. Records that cannot be decoded are skipped with a warning.
    pub fn load(
        mut shard: S,
        log: Arc<dyn CoordinatorLog>,
        clock: Arc<dyn Clock>,
    ) -> Result<(CoordinatorRuntime<S>, usize)> {
        let now = clock.now();
        let stored = log.read_all()?;
        let count = stored.len();
        for (key, value) in stored {
            match S::Record::decode(key, value) {
                Ok(r) => shard.replay(r, now),
                Err(e) => tracing::warn!("skipping unreadable coordinator record: {e}"),
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
        if result.records.is_empty() {
            let mut state = self.lock();
            return Ok((result.response)(&mut state, now));
        }
        let me = self.clone();
        let task = tokio::spawn(async move {
            let bytes = result.records.iter().map(|r| r.encode()).collect();
            me.log.append(bytes).await?;
            let mut state = me.lock();
            for r in result.records {
                state.replay(r, now);
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

    /// A counter: the smallest shard there is.
    #[derive(Default)]
    struct Sum {
        total: i64,
        steps: u32,
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
