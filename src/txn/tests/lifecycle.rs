//! InitProducerId, AddPartitionsToTxn, EndTxn, fencing and verification.

use super::*;
use crate::error::ErrorCode;

fn t(p: i32) -> (String, i32) {
    ("t".to_string(), p)
}

#[tokio::test]
async fn init_gives_a_fresh_id_then_bumps_the_epoch() {
    let h = Harness::new();
    assert_eq!(h.init().await, (1000, 0));
    assert_eq!(h.init().await, (1000, 1));
    let m = h.meta().unwrap();
    assert_eq!((m.state, m.timeout_ms), (TxnState::Empty, TIMEOUT_MS));
    assert_eq!(h.log.len(), 2);
    let c = &h.coord;
    assert_eq!(
        c.init_producer_id(TXN, 900_001, None).await,
        Err(ErrorCode::InvalidTransactionTimeout)
    );
    assert_eq!(
        c.init_producer_id(TXN, 0, None).await,
        Err(ErrorCode::InvalidTransactionTimeout)
    );
    assert_eq!(
        c.init_producer_id("", TIMEOUT_MS, None).await,
        Err(ErrorCode::InvalidRequest)
    );
    assert_eq!(h.log.len(), 2, "refused calls write nothing");
}

#[tokio::test]
async fn commit_writes_prepare_markers_then_complete() {
    let h = Harness::new();
    let (pid, epoch) = h.ongoing().await;
    let m = h.meta().unwrap();
    assert_eq!(m.state, TxnState::Ongoing);
    assert_eq!(m.partitions.len(), 2);
    // Adding a partition already there writes nothing.
    let before = h.log.len();
    assert_eq!(
        h.coord.add_partitions(TXN, pid, epoch, vec![t(0)]).await,
        ErrorCode::None
    );
    assert_eq!(h.log.len(), before);
    assert_eq!(
        h.coord.add_offsets(TXN, pid, epoch, 0).await,
        ErrorCode::None
    );

    assert_eq!(
        h.coord.end_txn(TXN, pid, epoch, true).await,
        ErrorCode::None
    );
    let offsets = ("__consumer_offsets".to_string(), 0);
    assert_eq!(
        h.markers.markers(),
        vec![(offsets, true, 0), (t(0), true, 0), (t(1), true, 0)]
    );
    let m = h.meta().unwrap();
    assert_eq!((m.state, m.partitions.len()), (TxnState::CompleteCommit, 0));
    // Records: Empty, Ongoing, Ongoing (+offsets), PrepareCommit, CompleteCommit.
    assert_eq!(h.log.len(), before + 3);
    // A retried commit answers NONE; an abort now is INVALID_TXN_STATE.
    assert_eq!(
        h.coord.end_txn(TXN, pid, epoch, true).await,
        ErrorCode::None
    );
    assert_eq!(
        h.coord.end_txn(TXN, pid, epoch, false).await,
        ErrorCode::InvalidTxnState
    );
    // The next transaction starts from CompleteCommit.
    assert_eq!(
        h.coord.add_partitions(TXN, pid, epoch, vec![t(5)]).await,
        ErrorCode::None
    );
    assert_eq!(h.meta().unwrap().partitions, [t(5)].into());
}

#[tokio::test]
async fn abort_writes_abort_markers() {
    let h = Harness::new();
    let (pid, epoch) = h.ongoing().await;
    assert_eq!(
        h.coord.end_txn(TXN, pid, epoch, false).await,
        ErrorCode::None
    );
    assert_eq!(
        h.markers.markers(),
        vec![(t(0), false, 0), (t(1), false, 0)]
    );
    assert_eq!(h.state(), TxnState::CompleteAbort);
}

#[tokio::test]
async fn end_txn_checks_the_producer_and_the_state() {
    let h = Harness::new();
    let (pid, epoch) = h.init().await;
    let c = &h.coord;
    assert_eq!(
        c.end_txn(TXN, pid, epoch, true).await,
        ErrorCode::InvalidTxnState,
        "nothing to commit in Empty"
    );
    assert_eq!(
        c.end_txn("nope", pid, epoch, true).await,
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(
        c.end_txn(TXN, pid + 1, epoch, true).await,
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(
        c.add_partitions(TXN, pid, epoch + 1, vec![t(0)]).await,
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        c.add_partitions("nope", pid, epoch, vec![t(0)]).await,
        ErrorCode::InvalidProducerIdMapping
    );
}

#[tokio::test]
async fn a_new_instance_fences_the_ongoing_transaction() {
    let h = Harness::new();
    let (pid, epoch) = h.ongoing().await;
    // The new instance is told to retry while the old transaction is aborted ...
    assert_eq!(
        h.coord.init_producer_id(TXN, TIMEOUT_MS, None).await,
        Err(ErrorCode::ConcurrentTransactions)
    );
    // ... with markers carrying the fenced epoch.
    assert_eq!(
        h.markers.markers(),
        vec![(t(0), false, epoch + 1), (t(1), false, epoch + 1)]
    );
    assert_eq!(h.state(), TxnState::CompleteAbort);
    // Its retry gets the epoch after that.
    assert_eq!(h.init().await, (pid, epoch + 2));
    // The old instance is fenced everywhere.
    let c = &h.coord;
    assert_eq!(
        c.end_txn(TXN, pid, epoch, true).await,
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        c.add_partitions(TXN, pid, epoch, vec![t(0)]).await,
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        c.verify(TXN, pid, epoch, "t", 0),
        Err(ErrorCode::ProducerFenced)
    );
}

#[tokio::test]
async fn kip_360_recovery_bumps_once_and_retries_get_the_same_epoch() {
    let h = Harness::new();
    let (pid, epoch) = h.init().await;
    let c = &h.coord;
    let bumped = c
        .init_producer_id(TXN, TIMEOUT_MS, Some((pid, epoch)))
        .await
        .unwrap();
    assert_eq!(bumped, (pid, epoch + 1));
    // The response was lost: the producer asks again with its old epoch.
    let retried = c
        .init_producer_id(TXN, TIMEOUT_MS, Some((pid, epoch)))
        .await
        .unwrap();
    assert_eq!(retried, bumped);
    // Another producer id is fenced.
    assert_eq!(
        c.init_producer_id(TXN, TIMEOUT_MS, Some((pid + 7, 0)))
            .await,
        Err(ErrorCode::ProducerFenced)
    );
}

#[tokio::test]
async fn exhausted_epochs_rotate_to_a_new_producer_id() {
    let h = Harness::new();
    let (pid, _) = h.init().await;
    // Bring the epoch to the last usable value through the log itself.
    let mut m = h.meta().unwrap();
    m.producer_epoch = i16::MAX - 1;
    let rec = crate::txn::records::TxnRecord {
        transactional_id: TXN.into(),
        value: Some(m),
    };
    h.coord
        .runtime
        .write(move |_, _| crate::coordinator::CoordinatorResult::new(vec![rec], ()))
        .await
        .unwrap();
    let (new_pid, epoch) = h.init().await;
    assert_ne!(new_pid, pid);
    assert_eq!(epoch, 0);
    assert_eq!(h.meta().unwrap().prev_producer_id, pid);
}

#[tokio::test]
async fn verify_answers_for_the_ongoing_transaction_only() {
    let h = Harness::new();
    let (pid, epoch) = h.ongoing().await;
    let c = &h.coord;
    assert_eq!(c.verify(TXN, pid, epoch, "t", 1), Ok(()));
    assert_eq!(
        c.verify(TXN, pid, epoch, "t", 9),
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        c.verify(TXN, pid + 1, epoch, "t", 1),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        c.verify_partitions(TXN, pid, epoch, &[t(0), t(3)]),
        Ok(vec![ErrorCode::None, ErrorCode::InvalidTxnState])
    );
    c.end_txn(TXN, pid, epoch, true).await;
    assert_eq!(
        c.verify(TXN, pid, epoch, "t", 1),
        Err(ErrorCode::InvalidTxnState),
        "a finished transaction holds no partition"
    );
}

#[tokio::test]
async fn describe_and_list() {
    let h = Harness::new();
    let (pid, epoch) = h.ongoing().await;
    let d = h.coord.describe(TXN).unwrap();
    assert_eq!(d.state, TxnState::Ongoing);
    assert_eq!((d.producer_id, d.producer_epoch), (pid, epoch));
    assert_eq!(d.topics, vec![("t".to_string(), vec![0, 1])]);
    assert_eq!(
        h.coord.describe("nope"),
        Err(ErrorCode::TransactionalIdNotFound)
    );
    h.coord.init_producer_id("other", 1000, None).await.unwrap();
    let all = h.coord.list(&[], &[], -1);
    assert_eq!(all.len(), 2);
    let ongoing = h.coord.list(&[TxnState::Ongoing], &[], -1);
    assert_eq!(ongoing.len(), 1);
    assert_eq!(ongoing[0].transactional_id, TXN);
    assert_eq!(h.coord.list(&[], &[pid], -1).len(), 1);
    assert!(h.coord.list(&[TxnState::Ongoing], &[], 5_000).is_empty());
    h.clock.advance(Duration::from_secs(6));
    assert_eq!(h.coord.list(&[TxnState::Ongoing], &[], 5_000).len(), 1);
}
