//! Admin writes sent to a broker-only node are forwarded to the active controller (Kafka's
//! brokers forward CreateTopics, IncrementalAlterConfigs, ElectLeaders, … the same way):
//! one controller and two broker-only nodes; every request goes to a broker-only node and
//! its effect is read back from the controller's image.

use std::time::Duration;

use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::support::cluster::Cluster;
use crate::support::replicas::{self, call};
use crate::support::{raw, wait_for};

const WAIT: Duration = Duration::from_secs(30);
const ELECTION_NOT_NEEDED: i16 = 84;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// `key` of topic `topic` as DescribeConfigs (v4) at `addr` answers it.
fn topic_config(addr: &str, topic: &str, key: &str) -> Option<String> {
    let req = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(topic))
            .with_configuration_keys(Some(vec![s(key)])),
    ]);
    let resp = call(addr, &req, 4)?;
    let r = resp.results.first()?;
    let e = r.configs.iter().find(|e| e.name.as_str() == key)?;
    e.value.as_ref().map(|v| v.to_string())
}

#[test]
fn a_broker_only_node_forwards_admin_writes_to_the_controller() {
    let mut c = Cluster::with_brokers(1, 2);
    c.start_all();
    let (ctl, b2, b3) = (c.broker_addr(0), c.broker_addr(1), c.broker_addr(2));
    replicas::wait_brokers(&ctl, 3, WAIT);

    // CreateTopics through broker-only node 2.
    let code = wait_for("CreateTopics through a broker-only node", WAIT, || {
        replicas::create_topic(&b2, "fwd", 2, 2, &[])
    });
    assert_eq!(code, 0, "CreateTopics through a broker-only node");
    let p0 = wait_for("the topic in the controller's metadata", WAIT, || {
        replicas::partition(&ctl, "fwd", 0).filter(|p| p.leader >= 0 && p.isr.len() == 2)
    });
    assert_eq!(p0.replicas.len(), 2);
    // A second CreateTopics of the same name: the controller's TOPIC_ALREADY_EXISTS.
    assert_eq!(replicas::create_topic(&b3, "fwd", 2, 2, &[]), Some(36));

    // IncrementalAlterConfigs through broker-only node 3.
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("fwd"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(s("retention.ms"))
                .with_config_operation(0)
                .with_value(Some(s("123456")))]),
    ]);
    let resp = call(&b3, &req, 1).expect("an IncrementalAlterConfigs answer");
    assert_eq!(resp.responses[0].error_code, 0, "{:?}", resp.responses[0]);
    let v = wait_for("the new config on the controller", WAIT, || {
        topic_config(&ctl, "fwd", "retention.ms").filter(|v| v == "123456")
    });
    assert_eq!(v, "123456");

    // AlterUserScramCredentials through broker-only node 3; every node's image then has
    // the credential (DescribeUserScramCredentials answers from the local image).
    let salted =
        gregor::security::sasl::ScramMechanism::Sha512.salted_password(b"pw", b"salt", 4096);
    let up = alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
        .with_name(s("alice"))
        .with_mechanism(2)
        .with_iterations(4096)
        .with_salt(bytes::Bytes::from_static(b"salt"))
        .with_salted_password(salted.into());
    let req = AlterUserScramCredentialsRequest::default().with_upsertions(vec![up]);
    let resp = call(&b3, &req, 0).expect("an AlterUserScramCredentials answer");
    assert_eq!(resp.results[0].error_code, 0, "{:?}", resp.results[0]);
    for addr in [&ctl, &b2] {
        let iterations = wait_for("the SCRAM credential on every node", WAIT, || {
            let d = call(addr, &DescribeUserScramCredentialsRequest::default(), 0)?;
            let r = d.results.iter().find(|r| r.user.as_str() == "alice")?;
            r.credential_infos
                .first()
                .map(|i| (i.mechanism, i.iterations))
        });
        assert_eq!(iterations, (2, 4096));
    }

    // ElectLeaders (PREFERRED) through node 2: the controller decides (its leaders are
    // already the preferred ones), a broker-only node alone would say NOT_CONTROLLER.
    let req = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_timeout_ms(10_000)
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic(raw::topic("fwd"))
            .with_partitions(vec![0, 1])]));
    let resp = call(&b2, &req, 2).expect("an ElectLeaders answer");
    assert_eq!(resp.error_code, 0);
    let codes: Vec<i16> = resp.replica_election_results[0]
        .partition_result
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, vec![ELECTION_NOT_NEEDED; 2], "{resp:?}");
}
