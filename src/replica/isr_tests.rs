//! The leader's ISR and acks=all rules on one log, with an image that has followers and a
//! fake clock for the caught-up rule: shrink and expand proposals and their answers, the
//! high watermark frozen below the min ISR (KAFKA-15583), NOT_ENOUGH_REPLICAS (19),
//! NOT_ENOUGH_REPLICAS_AFTER_APPEND (20), REQUEST_TIMED_OUT (7), NOT_LEADER_OR_FOLLOWER for
//! a waiter whose leadership ends, and the AlterPartition driver against a fake controller.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use super::isr::{AlterIsr, CommittedIsr, Outcome};
use super::isr_driver::{AlterPartitionSender, BoxFuture, IsrCall, IsrDriver, IsrReply};
use super::tests::{batch, image, log_with, ME};
use super::{Replica, ReplicaManager};
use crate::config::BrokerConfig;
use crate::error::ErrorCode;
use crate::log::partition::now_ms;
use crate::log::LogManager;
use crate::metadata::records::MetadataRecord;
use crate::metadata::{Metadata, MetadataImage, MetadataPublisher, PartitionImage};

const LAG: u64 = 10_000;

fn with_isr(isr: &[i32], partition_epoch: i32) -> PartitionImage {
    let mut p = image(&[0, 2, 3], isr, 1);
    p.partition_epoch = partition_epoch;
    p
}

fn committed(isr: &[i32], partition_epoch: i32) -> CommittedIsr {
    CommittedIsr {
        leader_epoch: 1,
        isr: isr.to_vec(),
        partition_epoch,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn isr_shrinks_and_expands_with_a_fake_clock() {
    let dir = tempfile::tempdir().unwrap();
    let r = Replica::new(
        log_with(dir.path(), 4),
        Uuid::nil(),
        ME,
        &with_isr(&[0, 2], 0),
        None,
    );
    r.set_limits(1, LAG);
    // The reset made 2 caught up "now"; the fake clock starts there.
    let t0 = now_ms();
    assert_eq!(
        r.record_follower_fetch_at(2, 4, 0, 4, t0),
        None,
        "a member already"
    );
    assert_eq!(r.high_watermark(), 4);
    r.append_as_leader(batch(2), 1).await.unwrap();
    assert_eq!(r.maybe_shrink_isr(t0 + 5_000), None, "within the lag");
    let shrink = r.maybe_shrink_isr(t0 + 10_001).expect("2 lagged");
    assert_eq!(
        shrink,
        AlterIsr {
            leader_epoch: 1,
            partition_epoch: 0,
            new_isr: vec![0]
        }
    );
    assert_eq!(
        r.maybe_shrink_isr(t0 + 20_000),
        None,
        "one change in flight"
    );
    assert_eq!(r.isr(), vec![0, 2], "not committed yet");
    assert_eq!(
        r.on_alter_answer(&shrink, Ok(committed(&[0], 1))),
        Outcome::Adopted
    );
    assert_eq!(r.isr(), vec![0]);

    // 3 has never fetched; 2 comes back at the log end: proposed into the ISR.
    assert_eq!(
        r.high_watermark(),
        4,
        "2 is out of the ISR but caught up in real time: the HW waits for it to rejoin"
    );
    let expand = r
        .record_follower_fetch_at(2, 6, 0, 6, t0 + 30_000)
        .expect("joins");
    assert_eq!(expand.new_isr, vec![0, 2]);
    assert_eq!(r.maximal_isr(), vec![0, 2]);
    // 3 fetches below the high watermark: not yet.
    assert_eq!(r.record_follower_fetch_at(3, 2, 0, 6, t0 + 30_001), None);
    assert_eq!(
        r.on_alter_answer(&expand, Err(ErrorCode::IneligibleReplica)),
        Outcome::Reverted
    );
    assert_eq!(r.maximal_isr(), vec![0], "reverted, no retry");
    // A later fetch proposes it again; the image then settles it.
    let again = r
        .record_follower_fetch_at(2, 6, 0, 6, t0 + 31_000)
        .expect("again");
    r.apply(&with_isr(&[0, 2], 2));
    assert_eq!(r.isr(), vec![0, 2]);
    assert_eq!(
        r.on_alter_answer(&again, Ok(committed(&[0, 2], 2))),
        Outcome::Ignored
    );
    // A fenced follower never joins (the image's eligibility).
    r.apply_with(&with_isr(&[0, 2], 2), |id| (id != 3).then_some(-1));
    assert_eq!(r.record_follower_fetch_at(3, 6, 0, 6, t0 + 32_000), None);
    // KIP-903: broker 3, registered again with epoch 50, is eligible only when its fetch
    // carries that epoch — a fetch of its previous incarnation (epoch 40) never joins it.
    r.apply_with(&with_isr(&[0, 2], 2), |id| {
        Some(if id == 3 { 50 } else { -1 })
    });
    r.record_follower_epoch(3, 40);
    assert_eq!(r.record_follower_fetch_at(3, 6, 0, 6, t0 + 33_000), None);
    r.record_follower_epoch(3, 50);
    let expand = r
        .record_follower_fetch_at(3, 6, 0, 6, t0 + 34_000)
        .expect("the current incarnation joins");
    assert_eq!(expand.new_isr, vec![0, 2, 3]);
    assert_eq!(r.follower_epochs().get(&3), Some(&50));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_high_watermark_stays_while_the_isr_is_below_min_insync() {
    let dir = tempfile::tempdir().unwrap();
    let r = Replica::new(
        log_with(dir.path(), 4),
        Uuid::nil(),
        ME,
        &with_isr(&[0], 0),
        Some(2),
    );
    assert_eq!(
        r.high_watermark(),
        2,
        "until the topic's limits are set, every replica is the minimum"
    );
    r.set_limits(2, LAG);
    assert_eq!(r.high_watermark(), 2, "ISR {{0}} < min 2: frozen");
    r.append_as_leader(batch(2), 1).await.unwrap();
    assert_eq!(
        r.high_watermark(),
        2,
        "acks=1 accepted, HW frozen (KAFKA-15583)"
    );
    r.apply(&with_isr(&[0, 2], 1));
    r.record_follower_fetch(2, 6, 0, 6);
    assert_eq!(r.high_watermark(), 6);
    // With min 1, the one-member ISR moves it at once once 2 (caught up, but fenced now)
    // is not waited on.
    r.apply_with(&with_isr(&[0], 2), |id| (id != 2).then_some(-1));
    r.set_limits(1, LAG);
    r.append_as_leader(batch(2), 1).await.unwrap();
    assert_eq!(r.high_watermark(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn acks_all_answers_19_20_7_and_not_leader() {
    let dir = tempfile::tempdir().unwrap();
    let r = Arc::new(Replica::new(
        log_with(dir.path(), 0),
        Uuid::nil(),
        ME,
        &with_isr(&[0, 2], 0),
        None,
    ));
    r.set_limits(2, LAG);
    let long = Duration::from_secs(30);

    // Committed once follower 2 has it.
    let info = r.append_as_leader(batch(2), -1).await.unwrap();
    let waiter = {
        let r = r.clone();
        tokio::spawn(async move { r.wait_committed(info.last_offset, 1, long).await })
    };
    r.record_follower_fetch(2, 2, 0, 2);
    waiter.await.unwrap().unwrap();

    // 7: nobody fetches.
    let info = r.append_as_leader(batch(2), -1).await.unwrap();
    let e = r
        .wait_committed(info.last_offset, 1, Duration::from_millis(20))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::RequestTimedOut);

    // 20: committed, but the ISR shrank below the min before the waiter looked.
    r.record_follower_fetch(2, 4, 0, 4);
    r.apply(&with_isr(&[0], 1));
    let e = r
        .wait_committed(info.last_offset, 1, long)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotEnoughReplicasAfterAppend);

    // 19: nothing written; acks=1 and 0 are not refused.
    let end = r.log_end_offset();
    let e = r.append_as_leader(batch(2), -1).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotEnoughReplicas);
    assert_eq!(r.log_end_offset(), end, "nothing written");
    r.append_as_leader(batch(2), 1).await.unwrap();
    r.append_as_leader(batch(2), 0).await.unwrap();

    // Leadership lost while waiting.
    r.apply(&with_isr(&[0, 2], 2));
    let info = r.append_as_leader(batch(2), -1).await.unwrap();
    let waiter = {
        let r = r.clone();
        tokio::spawn(async move { r.wait_committed(info.last_offset, 1, long).await })
    };
    let mut moved = with_isr(&[0, 2], 3);
    moved.leader = 2;
    moved.leader_epoch = 2;
    r.apply(&moved);
    let e = waiter.await.unwrap().unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotLeaderOrFollower);
}

/// A controller that answers from a script and records what it was sent.
struct FakeController {
    replies: Mutex<VecDeque<IsrReply>>,
    calls: Mutex<Vec<IsrCall>>,
}

impl AlterPartitionSender for FakeController {
    fn send(&self, call: IsrCall) -> BoxFuture<IsrReply> {
        self.calls.lock().unwrap().push(call);
        let reply = self
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Err(ErrorCode::UnknownServerError));
        Box::pin(async move { reply })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_driver_sends_one_request_retries_and_adopts() {
    let dir = tempfile::tempdir().unwrap();
    let topic_id = Uuid::from_u128(5);
    let mut img = MetadataImage::new("c".into());
    img.apply(&MetadataRecord::Topic {
        name: "t".into(),
        topic_id,
    });
    let p = with_isr(&[0, 2], 0);
    img.apply(&MetadataRecord::Partition {
        partition_id: 0,
        topic_id,
        replicas: p.replicas.clone(),
        isr: p.isr.clone(),
        leader: ME,
        leader_epoch: 1,
        partition_epoch: 0,
        removing_replicas: vec![],
        adding_replicas: vec![],
    });
    let manager = Arc::new(ReplicaManager::new(
        ME,
        BrokerConfig::default(),
        LogManager::open(dir.path()).unwrap(),
    ));
    manager.publish(&MetadataImage::default(), &img).unwrap();
    let mut queue = manager.take_alter_queue().expect("queue");
    let r = manager.get("t", 0).expect("hosted");
    let fake = Arc::new(FakeController {
        replies: Mutex::new(VecDeque::from([
            Err(ErrorCode::NotController),
            Ok(committed(&[0], 1)),
        ])),
        calls: Mutex::new(Vec::new()),
    });
    let metadata = Arc::new(Metadata::new(img));
    let driver = IsrDriver::new(
        manager.clone(),
        metadata,
        fake.clone(),
        ME,
        Duration::from_millis(1),
    );
    let far = now_ms() + 60_000;
    assert_eq!(driver.shrink_pass(far), vec![("t".to_string(), 0)]);
    assert_eq!(queue.recv().await, Some(("t".to_string(), 0)), "announced");
    assert_eq!(
        driver.send_pending(("t".into(), 0)).await,
        Some(Outcome::Adopted)
    );
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "NOT_CONTROLLER retried once");
    assert_eq!(calls[0], calls[1], "the same request again");
    assert_eq!(calls[0].topic_id, topic_id);
    assert_eq!(calls[0].alter.new_isr, vec![0]);
    assert_eq!(r.isr(), vec![0]);
    assert_eq!(
        driver.send_pending(("t".into(), 0)).await,
        None,
        "nothing pending"
    );
}
