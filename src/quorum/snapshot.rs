//! A snapshot of the metadata image in Kafka's `.checkpoint` format: record batches laid
//! end to end — a control batch SNAPSHOT_HEADER (`SnapshotHeaderRecord` v0), a control
//! batch KRAFT_VOTERS (the membership, as in the log), the image as metadata records
//! (`MetadataImage::to_records`, at most [`RECORDS_PER_BATCH`] per batch), a control batch
//! SNAPSHOT_FOOTER. Batch offsets count from 0 and carry the snapshot's epoch. Its Kafka
//! name is `<end offset: 20 digits>-<epoch: 10 digits>`, the snapshot id given to openraft.
//!
//! Only built in memory today (openraft's storage suite and, later, InstallSnapshot);
//! gregor's policy never triggers one yet, so no file is written (see the quorum module doc).
//!
//! Thread-safety: pure functions.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{SnapshotFooterRecord, SnapshotHeaderRecord};
use kafka_protocol::protocol::Encodable;

use super::entry_codec::{control_batch, membership_from_voters, voters_value};
use super::types::{Membership, StoredMembership};
use crate::log::batch::{self, BatchHeader, BatchWalker, HEADER_LEN};
use crate::log::control;
use crate::metadata::records::MetadataRecord;
use crate::metadata::MetadataImage;

/// Metadata records per batch in a snapshot.
pub const RECORDS_PER_BATCH: usize = 1000;

/// Kafka's snapshot name for a snapshot ending at `end_offset` in `epoch`.
pub fn snapshot_name(end_offset: i64, epoch: u64) -> String {
    format!("{end_offset:020}-{epoch:010}")
}

/// The snapshot bytes of `image` with `membership` (see the module doc).
pub fn encode(
    image: &MetadataImage,
    membership: &StoredMembership,
    epoch: u64,
    now: i64,
) -> Result<Vec<u8>, String> {
    let epoch = i32::try_from(epoch).map_err(|_| "epoch too large".to_string())?;
    let mut batches: Vec<Bytes> = Vec::new();
    let mut header = BytesMut::new();
    SnapshotHeaderRecord::default()
        .with_version(0)
        .with_last_contained_log_timestamp(now)
        .encode(&mut header, 0)
        .map_err(|e| e.to_string())?;
    batches.push(control_batch(
        control::SNAPSHOT_HEADER,
        header.freeze(),
        now,
    )?);
    batches.push(control_batch(
        control::KRAFT_VOTERS,
        voters_value(membership.membership())?,
        now,
    )?);
    for chunk in image.to_records().chunks(RECORDS_PER_BATCH) {
        let entries: Vec<_> = chunk.iter().map(|r| (None, Some(r.encode()))).collect();
        batches.push(crate::log::records::encode_batch(&entries, None, now)?);
    }
    let mut footer = BytesMut::new();
    SnapshotFooterRecord::default()
        .with_version(0)
        .encode(&mut footer, 0)
        .map_err(|e| e.to_string())?;
    batches.push(control_batch(
        control::SNAPSHOT_FOOTER,
        footer.freeze(),
        now,
    )?);
    let mut out = Vec::new();
    let mut offset = 0i64;
    for b in batches {
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&b[..HEADER_LEN]);
        batch::stamp_header(&mut h, offset, epoch, None);
        let parsed = BatchHeader::parse(&h).ok_or("short batch")?;
        offset = parsed.last_offset() + 1;
        out.extend_from_slice(&h);
        out.extend_from_slice(&b[HEADER_LEN..]);
    }
    Ok(out)
}

/// The image (over `cluster_id`) and the membership a snapshot holds.
pub fn decode(
    bytes: &[u8],
    cluster_id: &str,
) -> Result<(MetadataImage, Option<Membership>), String> {
    let mut image = MetadataImage::new(cluster_id.to_string());
    let mut membership = None;
    let mut footer = false;
    for (pos, h) in BatchWalker::new(bytes) {
        let b = &bytes[pos..pos + h.total_size()];
        if batch::compute_crc(b) != h.crc {
            return Err(format!("snapshot batch at {} has a bad CRC", h.base_offset));
        }
        let records = crate::log::records::decode(b)?;
        if h.is_control() {
            let Some(r) = records.first() else { continue };
            match control::key_type(r.key.as_deref().unwrap_or(&[])) {
                Some(control::KRAFT_VOTERS) => {
                    let mut v = r.value.clone().ok_or("voters record without value")?;
                    membership = Some(membership_from_voters(&mut v)?);
                }
                Some(control::SNAPSHOT_FOOTER) => footer = true,
                _ => {}
            }
            continue;
        }
        for r in records {
            let v = r.value.ok_or("snapshot record without value")?;
            image.apply(&MetadataRecord::decode(v).map_err(|e| e.0)?);
        }
    }
    if !footer && !bytes.is_empty() {
        return Err("snapshot has no footer (incomplete)".into());
    }
    Ok((image, membership))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::types::QuorumNode;
    use std::collections::BTreeMap;

    #[test]
    fn a_snapshot_rebuilds_the_image() {
        let mut image = MetadataImage::new("c".into());
        let id = uuid::Uuid::from_u128(9);
        for r in [
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: id,
            },
            MetadataRecord::Partition {
                partition_id: 0,
                topic_id: id,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
            },
            MetadataRecord::Config {
                resource_type: crate::metadata::records::TOPIC_RESOURCE,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: Some("5".into()),
            },
            MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: 0,
                next_producer_id: 2000,
            },
        ] {
            image.apply(&r);
        }
        let m = Membership::new(
            vec![[1u64].into()],
            BTreeMap::from([(
                1,
                QuorumNode {
                    host: "h".into(),
                    port: 1,
                },
            )]),
        );
        let stored = StoredMembership::new(None, m.clone());
        let bytes = encode(&image, &stored, 3, 7).expect("encode");
        let (back, membership) = decode(&bytes, "c").expect("decode");
        assert!(back.same_content(&image));
        assert_eq!(membership, Some(m));
        assert_eq!(snapshot_name(12, 3), "00000000000000000012-0000000003");
        assert!(decode(&bytes[..bytes.len() - 10], "c").is_err());
    }
}
