//! Unit tests of the reassignment rules (`reassignments.rs`): start, completion on an ISR
//! expansion, leader moves, cancellation and listing, over a small image.

use uuid::Uuid;

use super::*;
use crate::metadata::records::EndPoint;

const T: Uuid = Uuid::from_u128(7);

fn image(replicas: &[i32], isr: &[i32], leader: i32) -> MetadataImage {
    let mut image = MetadataImage::new("c".into());
    for id in 1..=4 {
        image.apply(&MetadataRecord::RegisterBroker {
            broker_id: id,
            incarnation_id: Uuid::nil(),
            broker_epoch: 1,
            endpoints: vec![EndPoint {
                name: "PLAINTEXT".into(),
                host: "h".into(),
                port: 9092,
                security_protocol: 0,
            }],
            rack: None,
            fenced: false,
        });
    }
    image.apply(&MetadataRecord::Topic {
        name: "t".into(),
        topic_id: T,
    });
    image.apply(&MetadataRecord::Partition {
        partition_id: 0,
        topic_id: T,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        removing_replicas: vec![],
        adding_replicas: vec![],
        leader,
        leader_epoch: 3,
        partition_epoch: 5,
    });
    image
}

fn part(image: &MetadataImage) -> PartitionImage {
    image
        .partition("t", 0)
        .cloned()
        .unwrap_or_else(|| unreachable!())
}

fn apply(image: &mut MetadataImage, r: Option<MetadataRecord>) {
    if let Some(r) = r {
        image.apply(&r);
    }
}

#[test]
fn a_move_adds_first_then_completes_when_the_new_replica_is_in_sync() {
    let mut img = image(&[1, 2], &[1, 2], 2);
    let p = part(&img);
    let r = start(&img, T, 0, &p, &[2, 3]).unwrap_or_else(|e| panic!("{e:?}"));
    apply(&mut img, r);
    let p = part(&img);
    assert_eq!(p.replicas, vec![2, 3, 1], "target, then the leaving ones");
    assert_eq!(p.adding_replicas, vec![3]);
    assert_eq!(p.removing_replicas, vec![1]);
    assert_eq!(p.isr, vec![1, 2]);
    assert_eq!(ongoing(&img, None).len(), 1);
    // Not yet: 3 is not in the ISR.
    assert_eq!(completion(&img, T, 0, &p, &[1, 2]), None);
    let done = completion(&img, T, 0, &p, &[1, 2, 3]);
    assert!(done.is_some());
    apply(&mut img, done);
    let p = part(&img);
    assert_eq!(p.replicas, vec![2, 3]);
    assert_eq!(p.isr, vec![2, 3]);
    assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    assert_eq!((p.leader, p.leader_epoch), (2, 3), "the leader stays");
    assert!(ongoing(&img, None).is_empty());
}

#[test]
fn a_removed_leader_hands_over_to_the_target_on_completion() {
    let mut img = image(&[1, 2], &[1, 2], 1);
    let p = part(&img);
    let r = start(&img, T, 0, &p, &[3, 2]).unwrap_or(None);
    apply(&mut img, r);
    let p = part(&img);
    assert_eq!(p.leader, 1, "leads until the target is in sync");
    let r = completion(&img, T, 0, &p, &[1, 2, 3]);
    apply(&mut img, r);
    let p = part(&img);
    assert_eq!(p.replicas, vec![3, 2]);
    assert_eq!(p.leader, 3, "the first target replica in the ISR");
    assert_eq!(p.leader_epoch, 4);
}

#[test]
fn a_target_already_in_sync_completes_at_once() {
    let mut img = image(&[1, 2, 3], &[1, 2, 3], 1);
    let p = part(&img);
    let r = start(&img, T, 0, &p, &[2, 3]).unwrap_or(None);
    apply(&mut img, r);
    let p = part(&img);
    assert_eq!(
        (p.replicas.clone(), p.isr.clone()),
        (vec![2, 3], vec![2, 3])
    );
    assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    assert_eq!(p.leader, 2);
}

#[test]
fn cancellation_reverts_and_needs_a_reassignment() {
    let mut img = image(&[1, 2], &[1, 2], 1);
    let p = part(&img);
    let e = cancel(&img, "t", T, 0, &p).unwrap_err();
    assert_eq!(e.0, ErrorCode::NoReassignmentInProgress);
    let r = start(&img, T, 0, &p, &[3, 4]).unwrap_or(None);
    apply(&mut img, r);
    let p = part(&img);
    assert_eq!(p.replicas, vec![3, 4, 1, 2]);
    let r = cancel(&img, "t", T, 0, &p).unwrap_or(None);
    apply(&mut img, r);
    let p = part(&img);
    assert_eq!(p.replicas, vec![1, 2]);
    assert_eq!(p.isr, vec![1, 2]);
    assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    assert_eq!(p.leader, 1);
}

#[test]
fn targets_are_checked_as_kafka_does() {
    let img = image(&[1, 2], &[1, 2], 1);
    let p = part(&img);
    let code = |t: &[i32], allow| validate_target(&img, &p, t, allow).err().map(|e| e.0);
    assert_eq!(code(&[], true), Some(ErrorCode::InvalidReplicaAssignment));
    assert_eq!(
        code(&[1, 9], true),
        Some(ErrorCode::InvalidReplicaAssignment)
    );
    assert_eq!(
        code(&[1, 1], true),
        Some(ErrorCode::InvalidReplicaAssignment)
    );
    assert_eq!(
        code(&[1, 2, 3], false),
        Some(ErrorCode::InvalidReplicationFactor)
    );
    assert_eq!(code(&[1, 2, 3], true), None);
    assert_eq!(code(&[3, 4], false), None);
}

#[test]
fn records_round_trip_through_a_snapshot() {
    let mut img = image(&[1, 2], &[1, 2], 1);
    let p = part(&img);
    let r = start(&img, T, 0, &p, &[2, 3]).unwrap_or(None);
    apply(&mut img, r);
    let mut copy = MetadataImage::new("c".into());
    for r in img.to_records() {
        copy.apply(&MetadataRecord::decode(r.encode()).unwrap_or_else(|e| panic!("{e:?}")));
    }
    assert_eq!(copy.partition("t", 0), img.partition("t", 0));
}
