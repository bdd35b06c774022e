//! Metadata requests naming topics by id (v12+, KIP-516), as the Java admin's
//! `describeTopics(TopicCollection.ofTopicIds(..))` sends them: the id with the name left at
//! its default, "" (not null). Kafka looks such topics up by id; gregor once read the "" as a
//! topic name and answered an error the client could not map ("TopicId … not found").

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use uuid::Uuid;

use crate::support::raw::{self, topic};
use crate::support::{RawClient, TestBroker};

const UNKNOWN_TOPIC_ID: i16 = 100;

fn by_id(c: &mut RawClient, id: Uuid, name: Option<&str>, version: i16) -> MetadataResponse {
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![MetadataRequestTopic::default()
            .with_topic_id(id)
            .with_name(name.map(topic))]));
    c.call(&req, version)
}

#[test]
fn metadata_by_topic_id_ignores_the_default_empty_name() {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start(dir.path(), &[]);
    let mut c = RawClient::connect(&broker.bootstrap());
    assert_eq!(raw::create_topic(&mut c, "by-id", 3, &[]), 0);
    let by_name = c.call(
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic("by-id")))
        ])),
        12,
    );
    let id = by_name.topics[0].topic_id;
    assert!(!id.is_nil());
    for version in [12, 13] {
        for name in [Some(""), None] {
            let resp = by_id(&mut c, id, name, version);
            assert_eq!(resp.topics.len(), 1, "v{version} name {name:?}");
            let t = &resp.topics[0];
            assert_eq!(t.error_code, 0, "v{version} name {name:?}");
            assert_eq!(t.name, Some(topic("by-id")), "v{version} name {name:?}");
            assert_eq!(t.topic_id, id);
            let mut parts: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
            parts.sort();
            assert_eq!(parts, vec![0, 1, 2]);
        }
        // An id nobody has: UNKNOWN_TOPIC_ID, the id echoed and no name (Kafka's answer).
        let unknown = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
        let resp = by_id(&mut c, unknown, Some(""), version);
        let t = &resp.topics[0];
        assert_eq!((t.error_code, t.topic_id), (UNKNOWN_TOPIC_ID, unknown));
        assert_eq!(t.name, None);
        assert!(t.partitions.is_empty());
    }
    // Nothing was created under the name "".
    let all = c.call(&MetadataRequest::default().with_topics(None), 12);
    let names: Vec<_> = all.topics.iter().filter_map(|t| t.name.clone()).collect();
    assert_eq!(names, vec![topic("by-id")]);
}
