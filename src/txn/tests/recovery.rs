//! Timers, replay, restarts half-way through a transaction, and failed writes.

use super::*;
use crate::error::ErrorCode;

fn t(p: i32) -> (String, i32) {
    ("t".to_string(), p)
}

#[tokio::test]
async fn a_timed_out_transaction_is_aborted_with_an_epoch_bump() {
    let h = Harness::new();
    let (pid, epoch) = h.ongoing().await;
    h.clock
        .advance(Duration::from_millis(TIMEOUT_MS as u64 - 1));
    h.coord.tick().await;
    assert_eq!(h.state(), TxnState::Ongoing, "not past its timeout yet");
    h.clock.advance(Duration::from_secs(11));
    h.coord.tick().await;
    let m = h.meta().unwrap();
    assert_eq!(m.state, TxnState::CompleteAbort);
    assert_eq!(m.producer_epoch, epoch + 1);
    assert_eq!(
        h.markers.markers(),
        vec![(t(0), false, epoch + 1), (t(1), false, epoch + 1)]
    );
    // The producer learns it was fenced at its next request.
    assert_eq!(
        h.coord.end_txn(TXN, pid, epoch, true).await,
        ErrorCode::ProducerFenced
    );
    // A restarted producer continues with the next epoch.
    assert_eq!(h.init().await, (pid, epoch + 2));
}

#[tokio::test]
async fn idle_ids_expire_with_a_tombstone() {
    let h = Harness::new();
    h.init().await;
    let before = h.log.len();
    h.clock.advance(Duration::from_millis(3_600_000));
    h.coord.tick().await;
    assert_eq!(h.state(), TxnState::Dead);
    assert_eq!(h.log.len(), before + 1);
    assert!(h.restarted().meta().is_none(), "the tombstone replays");
    // An ongoing transaction never expires.
    let h = Harness::new();
    h.ongoing().await;
    h.clock.advance(Duration::from_millis(59_000));
    h.coord.tick().await;
    assert_eq!(h.state(), TxnState::Ongoing);
}

#[tokio::test]
async fn replay_gives_the_same_state() {
    let h = Harness::new();
    let (pid, epoch) = h.ongoing().await;
    h.coord.end_txn(TXN, pid, epoch, true).await;
    h.coord.add_partitions(TXN, pid, epoch, vec![t(7)]).await;
    h.coord.init_producer_id("b", 5_000, None).await.unwrap();
    let all = |h: &Harness| h.coord.runtime.read(|s| s.txns.clone());
    let mut before = all(&h);
    // The epoch before the last bump is memory-only, as in Kafka (value v0).
    before.values_mut().for_each(|m| m.last_producer_epoch = -1);
    assert_eq!(all(&h.restarted()), before);
}

#[tokio::test]
async fn a_prepared_commit_completes_after_a_restart() {
    let h = Harness::new();
    let (pid, epoch) = h.ongoing().await;
    // t-1's leader is unavailable: the commit is decided but cannot complete.
    h.markers
        .fail
        .lock()
        .unwrap()
        .insert(t(1), ErrorCode::NotLeaderOrFollower);
    assert_eq!(
        h.coord.end_txn(TXN, pid, epoch, true).await,
        ErrorCode::None
    );
    assert_eq!(h.state(), TxnState::PrepareCommit);
    assert_eq!(
        h.coord.add_partitions(TXN, pid, epoch, vec![t(0)]).await,
        ErrorCode::ConcurrentTransactions
    );
    assert_eq!(
        h.coord.init_producer_id(TXN, TIMEOUT_MS, None).await,
        Err(ErrorCode::ConcurrentTransactions)
    );
    // "Restart": the new coordinator finds PrepareCommit and finishes it at its first tick.
    let after = h.restarted();
    assert_eq!(after.state(), TxnState::PrepareCommit);
    after.coord.tick().await;
    assert_eq!(after.state(), TxnState::CompleteCommit);
    assert_eq!(
        after.markers.markers(),
        vec![(t(0), true, epoch), (t(1), true, epoch)]
    );
}

#[tokio::test]
async fn a_failed_write_answers_an_error_and_changes_nothing() {
    let h = Harness::new();
    let (pid, epoch) = h.ongoing().await;
    let before = h.meta();
    h.log.fail_writes(true);
    assert_eq!(
        h.coord.add_partitions(TXN, pid, epoch, vec![t(9)]).await,
        ErrorCode::NotCoordinator
    );
    assert_eq!(
        h.coord.end_txn(TXN, pid, epoch, true).await,
        ErrorCode::NotCoordinator
    );
    assert_eq!(
        h.coord.init_producer_id("new", TIMEOUT_MS, None).await,
        Err(ErrorCode::NotCoordinator)
    );
    assert_eq!(h.meta(), before);
    assert!(
        h.markers.markers().is_empty(),
        "no marker without a Prepare record"
    );
    h.log.fail_writes(false);
    assert_eq!(
        h.coord.end_txn(TXN, pid, epoch, true).await,
        ErrorCode::None
    );
    assert_eq!(h.state(), TxnState::CompleteCommit);
}
