//! The raw Kafka protocol for tests: [`RawClient`], a blocking client that sends exactly the
//! bytes a test builds (so tests can send what no real client would), record batches as a
//! producer encodes them, and the requests tests use often.

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use gregor::tools::client::Client;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Request;
use kafka_protocol::protocol::StrBytes;

/// A blocking client speaking the Kafka protocol directly (the library's tool client, with
/// panics instead of errors and a few raw-byte helpers).
pub struct RawClient {
    inner: Client,
}

impl RawClient {
    pub fn connect(addr: &str) -> RawClient {
        let inner = Client::connect(addr).expect("connect");
        inner
            .stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        RawClient { inner }
    }

    /// A client whose request headers carry `client_id`.
    pub fn connect_as(addr: &str, client_id: &str) -> RawClient {
        let RawClient { inner } = RawClient::connect(addr);
        RawClient {
            inner: inner.with_client_id(client_id),
        }
    }

    /// Encodes a request frame (size prefix included).
    pub fn frame<R: Request>(&mut self, req: &R, version: i16) -> Vec<u8> {
        self.inner.frame(req, version).expect("encode request")
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.inner.stream.write_all(bytes).expect("write");
    }

    /// Reads one response frame; `None` when the broker closed the connection.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        self.inner.read_frame()
    }

    /// Sends a request and decodes its response.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        self.inner.call(req, version).expect("request answered")
    }

    /// Sends a request and decodes its response: an error for an encoding failure, a closed
    /// connection, another correlation id, or a body that does not decode at `version` (trailing
    /// bytes included).
    pub fn try_call<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, String> {
        self.inner.call(req, version)
    }

    /// True when the broker closed the connection (EOF or reset) within 5 s.
    pub fn is_closed(&mut self) -> bool {
        let stream = &mut self.inner.stream;
        let mut b = [0u8; 1];
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let r = stream.read(&mut b);
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        match r {
            Ok(0) => true,
            Ok(_) => false,
            // A timeout means the broker kept the connection open.
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

/// A record batch v2 as a producer would send it (the library's encoder).
pub fn encode_batch(
    records: &[(Option<&str>, &str)],
    producer: Option<(i64, i16, i32)>,
    timestamp: i64,
) -> Bytes {
    let entries: Vec<(Option<Bytes>, Option<Bytes>)> = records
        .iter()
        .map(|(k, v)| {
            (
                k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
                Some(Bytes::copy_from_slice(v.as_bytes())),
            )
        })
        .collect();
    gregor::log::records::encode_batch(&entries, producer, timestamp).expect("encode batch")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub fn produce_request(t: &str, partition: i32, batch: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic(t))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])])
}

pub fn produce(
    c: &mut RawClient,
    t: &str,
    partition: i32,
    batch: Bytes,
) -> PartitionProduceResponse {
    let resp = c.call(&produce_request(t, partition, batch, -1), 9);
    resp.responses[0].partition_responses[0].clone()
}

pub fn fetch(
    c: &mut RawClient,
    t: &str,
    partition: i32,
    offset: i64,
    max_bytes: i32,
) -> PartitionData {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic(t))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(max_bytes)])]);
    let resp = c.call(&req, 12);
    resp.responses[0].partitions[0].clone()
}

/// (error code, offset) of ListOffsets at `timestamp` (−1 latest, −2 earliest).
pub fn list_offset(c: &mut RawClient, t: &str, partition: i32, timestamp: i64) -> (i16, i64) {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic(t))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(timestamp)])]);
    let resp = c.call(&req, 7);
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.offset)
}

pub fn create_topic(
    c: &mut RawClient,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> i16 {
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(configs)]);
    c.call(&req, 7).topics[0].error_code
}

/// The batches of a fetch response: (base offset, last offset) each.
pub fn batch_ranges(records: &Bytes) -> Vec<(i64, i64)> {
    gregor::log::batch::BatchWalker::new(records)
        .map(|(_, h)| (h.base_offset, h.last_offset()))
        .collect()
}

/// InitProducerId v4: `(producer id, epoch)`, with `transactional_id` for a transactional
/// producer; panics on an error code.
pub fn init_producer_id(c: &mut RawClient, transactional_id: Option<&str>) -> (i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(
            transactional_id.map(|t| TransactionalId(StrBytes::from_string(t.to_string()))),
        )
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let r = c.call(&req, 4);
    assert_eq!(r.error_code, 0, "InitProducerId");
    (r.producer_id.0, r.producer_epoch)
}

/// AddPartitionsToTxn v3 (one transaction, one partition): the partition's error code.
pub fn add_partition(
    c: &mut RawClient,
    transactional_id: &str,
    (producer_id, epoch): (i64, i16),
    t: &str,
    partition: i32,
) -> i16 {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_string(
            transactional_id.to_string(),
        )))
        .with_v3_and_below_producer_id(ProducerId(producer_id))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(topic(t))
            .with_partitions(vec![partition])]);
    let resp = c.call(&req, 3);
    resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

/// A transactional record batch as a transactional producer sends it: the idempotent
/// batch of [`encode_batch`] with the transactional attribute set and its CRC recomputed.
pub fn encode_txn_batch(values: &[&str], (pid, epoch): (i64, i16), seq: i32, ts: i64) -> Bytes {
    let records: Vec<(Option<&str>, &str)> = values.iter().map(|v| (None, *v)).collect();
    let mut b = encode_batch(&records, Some((pid, epoch, seq)), ts).to_vec();
    let attrs = i16::from_be_bytes([b[21], b[22]]) | gregor::log::batch::TRANSACTIONAL_BIT;
    b[21..23].copy_from_slice(&attrs.to_be_bytes());
    let crc = gregor::log::batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// Produce v9 of one batch carrying `transactional_id`, as a transactional producer sends it.
pub fn produce_txn(
    c: &mut RawClient,
    transactional_id: &str,
    t: &str,
    partition: i32,
    batch: Bytes,
) -> PartitionProduceResponse {
    let req = produce_request(t, partition, batch, -1).with_transactional_id(Some(
        TransactionalId(StrBytes::from_string(transactional_id.to_string())),
    ));
    let resp = c.call(&req, 9);
    resp.responses[0].partition_responses[0].clone()
}

/// Latest record per key: key → (offset, value), both as text.
pub type KeyView = std::collections::BTreeMap<String, (i64, String)>;

/// Reads a partition from offset 0 to its high watermark, 16 KiB per Fetch, checking what a
/// compacted log must always look like to a reader: whole batches (CRC-32C valid), every
/// record inside its batch's offset range, record offsets strictly increasing within and
/// across batches and fetches. Returns the latest record per key and how many records were
/// read.
pub fn read_compacted(c: &mut RawClient, t: &str, partition: i32) -> (KeyView, usize) {
    use gregor::log::batch::{compute_crc, BatchWalker};
    let mut view = KeyView::new();
    let (mut next, mut last_seen, mut count) = (0i64, -1i64, 0usize);
    loop {
        let data = fetch(c, t, partition, next, 16 << 10);
        assert_eq!(data.error_code, 0, "fetch at {next}");
        let bytes = data.records.unwrap_or_default();
        let mut progressed = false;
        for (pos, h) in BatchWalker::new(&bytes) {
            let batch = &bytes[pos..pos + h.total_size()];
            assert_eq!(
                compute_crc(batch),
                h.crc,
                "batch at {} is whole",
                h.base_offset
            );
            assert!(
                h.last_offset() >= next,
                "a batch wholly before the fetch offset"
            );
            for r in gregor::log::records::decode(batch).expect("decodes") {
                assert!(r.offset <= h.last_offset(), "record inside its batch");
                if r.offset < next {
                    continue; // the part of the first batch before the fetch offset
                }
                assert!(
                    r.offset > last_seen,
                    "offset {} after {last_seen}",
                    r.offset
                );
                last_seen = r.offset;
                count += 1;
                let s =
                    |b: Option<Bytes>| String::from_utf8_lossy(&b.unwrap_or_default()).into_owned();
                view.insert(s(r.key), (r.offset, s(r.value)));
            }
            next = h.last_offset() + 1;
            progressed = true;
        }
        if !progressed || next >= data.high_watermark {
            break;
        }
    }
    (view, count)
}

fn text(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// AlterConfigs v2 (the whole set) of one resource of type `kind` (2 topic, 4 broker):
/// (error code, message).
pub fn alter_configs(
    c: &mut RawClient,
    kind: i8,
    name: &str,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> (i16, Option<String>) {
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let configs = configs
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(text(k))
                .with_value(Some(text(v)))
        })
        .collect();
    let req = AlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(text(name))
            .with_configs(configs)]);
    let r = &c.call(&req, 2).responses[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// IncrementalAlterConfigs v1 of one resource of type `kind`: (error code, message). Ops: 0
/// SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.
pub fn incremental_alter_configs(
    c: &mut RawClient,
    kind: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    let configs = ops
        .iter()
        .map(|(k, op, v)| {
            AlterableConfig::default()
                .with_name(text(k))
                .with_config_operation(*op)
                .with_value(v.map(text))
        })
        .collect();
    let req = IncrementalAlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(text(name))
            .with_configs(configs)]);
    let r = &c.call(&req, 1).responses[0];
    (
        r.error_code,
        r.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// Grants `principal` ALL on the topic and the group (LITERAL ACLs, any host) through
/// CreateAcls, asserting every creation succeeded: the secured tests' "this user may use
/// these" set-up.
pub fn grant_all(admin: &mut RawClient, principal: &str, topic: &str, group: &str) {
    let grant = |resource_type: i8, name: &str| {
        create_acls_request::AclCreation::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.into()))
            .with_resource_pattern_type(3)
            .with_principal(StrBytes::from_string(principal.into()))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(2)
            .with_permission_type(3)
    };
    let resp = admin.call(
        &CreateAclsRequest::default().with_creations(vec![grant(2, topic), grant(3, group)]),
        3,
    );
    assert!(resp.results.iter().all(|r| r.error_code == 0));
}
