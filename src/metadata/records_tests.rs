//! Round trips of every metadata record type through Kafka's bytes (`records.rs`).

use super::*;

fn samples() -> Vec<MetadataRecord> {
    let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    vec![
        MetadataRecord::RegisterBroker {
            broker_id: 1,
            incarnation_id: id,
            broker_epoch: 7,
            endpoints: vec![EndPoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
                security_protocol: 0,
            }],
            rack: None,
            fenced: false,
        },
        MetadataRecord::Topic {
            name: "orders".into(),
            topic_id: id,
        },
        MetadataRecord::Partition {
            partition_id: 3,
            topic_id: id,
            replicas: vec![1, 2],
            isr: vec![1],
            removing_replicas: vec![1],
            adding_replicas: vec![2],
            leader: 1,
            leader_epoch: 4,
            partition_epoch: 5,
        },
        MetadataRecord::Config {
            resource_type: TOPIC_RESOURCE,
            resource_name: "orders".into(),
            name: "retention.ms".into(),
            value: None,
        },
        MetadataRecord::PartitionChange {
            partition_id: 0,
            topic_id: id,
            isr: Some(vec![1, 2]),
            leader: LEADER_UNCHANGED,
            replicas: None,
            removing_replicas: None,
            adding_replicas: None,
        },
        MetadataRecord::PartitionChange {
            partition_id: 0,
            topic_id: id,
            isr: None,
            leader: 2,
            replicas: Some(vec![3, 2, 1]),
            removing_replicas: Some(vec![1]),
            adding_replicas: Some(vec![]),
        },
        MetadataRecord::RemoveTopic { topic_id: id },
        MetadataRecord::UnregisterBroker {
            broker_id: 2,
            broker_epoch: 9,
        },
        MetadataRecord::FenceBroker {
            broker_id: 2,
            broker_epoch: 9,
            fenced: true,
        },
        MetadataRecord::FenceBroker {
            broker_id: 2,
            broker_epoch: 9,
            fenced: false,
        },
        MetadataRecord::BrokerRegistrationChange {
            broker_id: 2,
            broker_epoch: 9,
            fenced: Some(true),
            in_controlled_shutdown: Some(true),
        },
        MetadataRecord::BrokerRegistrationChange {
            broker_id: 2,
            broker_epoch: 9,
            fenced: Some(false),
            in_controlled_shutdown: None,
        },
        MetadataRecord::ProducerIds {
            broker_id: 1,
            broker_epoch: 7,
            next_producer_id: 2000,
        },
        MetadataRecord::UserScramCredential {
            name: "alice".into(),
            mechanism: 2,
            credential: ScramCredential {
                salt: b"salt".to_vec(),
                stored_key: vec![1; 64],
                server_key: vec![2; 64],
                iterations: 4096,
            },
        },
        MetadataRecord::RemoveUserScramCredential {
            name: "alice".into(),
            mechanism: 1,
        },
    ]
}

#[test]
fn every_record_round_trips() {
    for r in samples() {
        let bytes = r.encode();
        assert_eq!(
            MetadataRecord::decode(bytes.clone()),
            Ok(r.clone()),
            "{r:?}"
        );
        // Every strict prefix is refused, never a panic.
        for cut in 0..bytes.len() {
            assert!(
                MetadataRecord::decode(bytes.slice(..cut)).is_err(),
                "{r:?} cut {cut}"
            );
        }
    }
}

#[test]
fn topic_record_bytes_are_kafkas() {
    let r = MetadataRecord::Topic {
        name: "t".into(),
        topic_id: Uuid::nil(),
    };
    let mut want = vec![1u8, 2, 0, 2, b't'];
    want.extend_from_slice(&[0; 16]);
    want.push(0);
    assert_eq!(&r.encode()[..], &want[..]);
}
