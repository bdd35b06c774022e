//! Unit tests of `elections.rs`: the pure election rules over hand-made images.

use super::*;
use crate::metadata::records::MetadataRecord;
use uuid::Uuid;

const T: Uuid = Uuid::from_u128(7);

/// Brokers 1–3 (`fenced` ones fenced) and topic "t" with the given partitions
/// (replicas, isr, leader).
fn image(fenced: &[i32], parts: &[(&[i32], &[i32], i32)]) -> MetadataImage {
    let mut image = MetadataImage::new("c".into());
    for id in 1..=3 {
        image.apply(&MetadataRecord::RegisterBroker {
            broker_id: id,
            incarnation_id: Uuid::from_u128(id as u128),
            broker_epoch: 1,
            endpoints: vec![],
            rack: None,
            fenced: fenced.contains(&id),
        });
    }
    image.apply(&MetadataRecord::Topic {
        name: "t".into(),
        topic_id: T,
    });
    for (i, (replicas, isr, leader)) in parts.iter().enumerate() {
        image.apply(&MetadataRecord::Partition {
            partition_id: i as i32,
            topic_id: T,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader: *leader,
            leader_epoch: 0,
            partition_epoch: 0,
            removing_replicas: vec![],
            adding_replicas: vec![],
        });
    }
    image
}

fn topic(image: &MetadataImage) -> std::sync::Arc<TopicImage> {
    image.topic("t").expect("topic").clone()
}

fn change_of(r: &MetadataRecord) -> (i32, Option<Vec<i32>>, i32) {
    match r {
        MetadataRecord::PartitionChange {
            partition_id,
            isr,
            leader,
            ..
        } => (*partition_id, isr.clone(), *leader),
        other => panic!("not a partition change: {other:?}"),
    }
}

#[test]
fn preferred_elections_follow_kafkas_answers() {
    let img = image(
        &[3],
        &[
            (&[1, 2, 3], &[1, 2, 3], 1), // already preferred
            (&[1, 2, 3], &[1, 2, 3], 2), // moves back to 1
            (&[3, 1, 2], &[1, 2, 3], 1), // 3 fenced: stays on 1
            (&[1, 2, 3], &[2, 3], 2),    // 1 outside the ISR
        ],
    );
    let t = topic(&img);
    let kind = ElectionType::Preferred;
    assert_eq!(
        elect_one(&img, &t, 0, kind),
        Err(ErrorCode::ElectionNotNeeded)
    );
    let r = elect_one(&img, &t, 1, kind).expect("elected");
    assert_eq!(change_of(&r), (1, None, 1));
    assert_eq!(
        elect_one(&img, &t, 2, kind),
        Err(ErrorCode::PreferredLeaderNotAvailable)
    );
    assert_eq!(
        elect_one(&img, &t, 3, kind),
        Err(ErrorCode::PreferredLeaderNotAvailable)
    );
    // The imbalance task picks exactly the one that can move.
    let moved: Vec<_> = preferred_imbalanced(&img).iter().map(change_of).collect();
    assert_eq!(moved, vec![(1, None, 1)]);
}

#[test]
fn unclean_elections_take_a_live_replica_outside_the_isr_only_without_a_leader() {
    // 1 is fenced: partition 0 has no leader and its ISR is [1]; partition 1 has a leader.
    let img = image(&[1], &[(&[1, 2, 3], &[1], -1), (&[2, 3], &[2], 2)]);
    let t = topic(&img);
    let kind = ElectionType::Unclean;
    let r = elect_one(&img, &t, 0, kind).expect("elected");
    assert_eq!(change_of(&r), (0, Some(vec![2]), 2));
    assert_eq!(
        elect_one(&img, &t, 1, kind),
        Err(ErrorCode::ElectionNotNeeded)
    );
    // Nobody alive among the replicas.
    let img = image(&[1, 2, 3], &[(&[1, 2], &[1], -1)]);
    assert_eq!(
        elect_one(&img, &topic(&img), 0, kind),
        Err(ErrorCode::EligibleLeadersNotAvailable)
    );
}

#[test]
fn the_unclean_setting_resolves_topic_then_dynamic_then_static() {
    let mut img = image(&[1], &[(&[1, 2], &[1], -1)]);
    let off = BrokerConfig::default();
    let on = BrokerConfig::from_properties([(UNCLEAN_KEY.to_string(), "true".into())].into());
    let none: BTreeMap<String, String> = BTreeMap::new();
    assert!(!UncleanPolicy::new(&off, 1, &img).enabled(&none));
    assert!(UncleanPolicy::new(&on, 1, &img).enabled(&none));
    let topic_off: BTreeMap<String, String> = [(UNCLEAN_KEY.to_string(), "false".into())].into();
    assert!(!UncleanPolicy::new(&on, 1, &img).enabled(&topic_off));
    assert!(unclean_leaderless(&img, &UncleanPolicy::new(&off, 1, &img)).is_empty());
    // A cluster-wide dynamic default turns it on, and the config change elects at once.
    let change = MetadataRecord::Config {
        resource_type: BROKER_RESOURCE,
        resource_name: String::new(),
        name: UNCLEAN_KEY.into(),
        value: Some("true".into()),
    };
    let elected = unclean_after_config_change(&img, std::slice::from_ref(&change), &off, 1);
    assert_eq!(
        elected.iter().map(change_of).collect::<Vec<_>>(),
        vec![(0, Some(vec![2]), 2)]
    );
    img.apply(&change);
    assert!(UncleanPolicy::new(&off, 1, &img).enabled(&none));
    // Another key changes nothing.
    let other = MetadataRecord::Config {
        resource_type: TOPIC_RESOURCE,
        resource_name: "t".into(),
        name: "retention.ms".into(),
        value: Some("5".into()),
    };
    assert!(unclean_after_config_change(&img, &[other], &off, 1).is_empty());
}
