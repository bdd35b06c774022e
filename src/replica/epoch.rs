//! Leader-epoch rules a partition leader applies to the requests that name an epoch (Fetch,
//! ListOffsets, OffsetForLeaderEpoch), as Kafka's `Partition` does — pure functions over
//! numbers, so the rules are tested apart from any log.
//!
//! - [`check_current_leader_epoch`] (`Partition.checkCurrentLeaderEpoch`): a request's
//!   `current_leader_epoch` of −1 is not checked; older than the replica's epoch →
//!   FENCED_LEADER_EPOCH (the client's metadata is stale), newer → UNKNOWN_LEADER_EPOCH (this
//!   broker's is).
//! - [`diverging_epoch`] (`Partition.readRecords` with a `last_fetched_epoch`, KIP-101/279):
//!   where the fetcher's log stops agreeing with the leader's.
//!
//! Thread-safety: pure functions.

use crate::error::{Error, ErrorCode, Result};

/// Kafka's `RecordBatch.NO_PARTITION_LEADER_EPOCH`: "no epoch given, do not check".
pub const NO_EPOCH: i32 = -1;

/// Kafka's `checkCurrentLeaderEpoch` (see the module doc).
pub fn check_current_leader_epoch(local: i32, requested: i32) -> Result<()> {
    if requested == NO_EPOCH {
        return Ok(());
    }
    if local > requested {
        return Err(Error::kafka(
            ErrorCode::FencedLeaderEpoch,
            format!("the request's leader epoch {requested} is older than the current {local}"),
        ));
    }
    if local < requested {
        return Err(Error::kafka(
            ErrorCode::UnknownLeaderEpoch,
            format!("the request's leader epoch {requested} is newer than the current {local}"),
        ));
    }
    Ok(())
}

/// The answer to "my log's last batch has epoch `last_fetched_epoch` and I fetch from
/// `fetch_offset`", given `end_for` = the leader's `end_offset_for_epoch(last_fetched_epoch)`
/// and its log start: `Some((epoch, end offset))` when the fetcher diverged (it must truncate
/// to at most that end and ask again; no records are sent), `None` when the read may go on.
/// OFFSET_OUT_OF_RANGE when the leader cannot place the epoch at all, or the fetch offset is
/// below the log start (checked before divergence, as Kafka does).
pub fn diverging_epoch(
    end_for: Option<(i32, i64)>,
    last_fetched_epoch: i32,
    fetch_offset: i64,
    log_start: i64,
) -> Result<Option<(i32, i64)>> {
    let Some((epoch, end)) = end_for else {
        return Err(Error::kafka(
            ErrorCode::OffsetOutOfRange,
            format!(
                "could not determine the end offset of the last fetched epoch {last_fetched_epoch}"
            ),
        ));
    };
    if fetch_offset < log_start {
        return Err(Error::kafka(
            ErrorCode::OffsetOutOfRange,
            format!("offset {fetch_offset} is below the log start {log_start}"),
        ));
    }
    if epoch < last_fetched_epoch || end < fetch_offset {
        return Ok(Some((epoch, end)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code<T: std::fmt::Debug>(r: Result<T>) -> ErrorCode {
        r.unwrap_err().code()
    }

    #[test]
    fn current_leader_epoch_is_checked_as_kafka_does() {
        assert!(check_current_leader_epoch(3, NO_EPOCH).is_ok());
        assert!(check_current_leader_epoch(3, 3).is_ok());
        assert_eq!(
            code(check_current_leader_epoch(3, 2)),
            ErrorCode::FencedLeaderEpoch
        );
        assert_eq!(
            code(check_current_leader_epoch(3, 4)),
            ErrorCode::UnknownLeaderEpoch
        );
    }

    #[test]
    fn divergence_follows_kafkas_read_records() {
        // The fetcher's epoch 2 ends at 50 on the leader too, and it fetches from 50: fine.
        assert_eq!(diverging_epoch(Some((2, 50)), 2, 50, 0).unwrap(), None);
        // It claims records of epoch 2 up to 60: diverged at 50.
        assert_eq!(
            diverging_epoch(Some((2, 50)), 2, 60, 0).unwrap(),
            Some((2, 50))
        );
        // The leader never had epoch 3: the floor epoch and its end.
        assert_eq!(
            diverging_epoch(Some((1, 40)), 3, 45, 0).unwrap(),
            Some((1, 40))
        );
        assert_eq!(
            code(diverging_epoch(None, 9, 0, 0)),
            ErrorCode::OffsetOutOfRange
        );
        assert_eq!(
            code(diverging_epoch(Some((2, 50)), 2, 60, 70)),
            ErrorCode::OffsetOutOfRange,
            "below the log start, even when diverging"
        );
    }
}
