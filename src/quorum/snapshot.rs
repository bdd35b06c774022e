//! A snapshot of the metadata image in Kafka's `.checkpoint` format: record batches laid
//! end to end — a control batch SNAPSHOT_HEADER (`SnapshotHeaderRecord` v0), a control
//! batch KRAFT_VOTERS (the membership, as in the log), the image as metadata records
//! (`MetadataImage::to_records`, at most [`RECORDS_PER_BATCH`] per batch), a control batch
//! SNAPSHOT_FOOTER. Batch offsets count from 0 and carry the snapshot's epoch.
//!
//! File: `__cluster_metadata-0/<end offset: 20 digits>-<epoch: 10 digits>.checkpoint`
//! (Kafka's `Snapshots` naming: the end offset is the Kafka offset after the last entry it
//! contains, the epoch that entry's term). Written as `<name>.checkpoint.part`, fsynced,
//! renamed, the directory fsynced: a crash leaves a `.part` (deleted at open) or the whole
//! file. Once a newer one is durable the older ones are deleted.
//!
//! What Kafka's format cannot say rides in gregor's tagged field 0 of the header record:
//! the Raft index of the last contained entry (u64), then a flag byte and the log id
//! (term u64, index u64) of the membership entry — openraft needs both, Kafka tools skip it.
//!
//! Thread-safety: pure functions and whole-file operations; the state machine serialises
//! its writers.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{SnapshotFooterRecord, SnapshotHeaderRecord};
use kafka_protocol::protocol::Encodable;

use super::entry_codec::{control_batch, membership_from_voters, voters_value};
use super::index_table::log_id;
use super::types::{LogId, Membership, StoredMembership};
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

/// Suffix of a snapshot file.
pub const SUFFIX: &str = ".checkpoint";
/// Suffix of a snapshot being written.
pub const PART_SUFFIX: &str = ".checkpoint.part";

/// What a snapshot file holds besides the image.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub image: MetadataImage,
    pub membership: Option<Membership>,
    /// Raft index of the last contained entry.
    pub last_index: Option<u64>,
    /// Log id of the membership entry.
    pub membership_log_id: Option<LogId>,
}

/// The snapshot bytes of `image` with `membership`, containing the log up to `last` (see
/// the module doc).
pub fn encode(
    image: &MetadataImage,
    membership: &StoredMembership,
    last: Option<LogId>,
    now: i64,
) -> Result<Vec<u8>, String> {
    let epoch = last.map_or(0, |l| l.leader_id.term);
    let epoch = i32::try_from(epoch).map_err(|_| "epoch too large".to_string())?;
    let mut batches: Vec<Bytes> = Vec::new();
    let mut header = BytesMut::new();
    let mut tag = BytesMut::new();
    tag.put_u64(last.map_or(u64::MAX, |l| l.index));
    match membership.log_id() {
        Some(m) => {
            tag.put_u8(1);
            tag.put_u64(m.leader_id.term);
            tag.put_u64(m.index);
        }
        None => tag.put_u8(0),
    }
    let mut record = SnapshotHeaderRecord::default()
        .with_version(0)
        .with_last_contained_log_timestamp(now);
    record.unknown_tagged_fields.insert(0, tag.freeze());
    record.encode(&mut header, 0).map_err(|e| e.to_string())?;
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

/// The image (over `cluster_id`) and the quorum data a snapshot holds.
pub fn decode(bytes: &[u8], cluster_id: &str) -> Result<Decoded, String> {
    let mut image = MetadataImage::new(cluster_id.to_string());
    let mut membership = None;
    let mut footer = false;
    let (mut last_index, mut membership_log_id) = (None, None);
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
                Some(control::SNAPSHOT_HEADER) => {
                    let mut v = r.value.clone().ok_or("snapshot header without value")?;
                    let header =
                        <SnapshotHeaderRecord as kafka_protocol::protocol::Decodable>::decode(
                            &mut v, 0,
                        )
                        .map_err(|e| e.to_string())?;
                    if let Some(tag) = header.unknown_tagged_fields.get(&0) {
                        let mut t = tag.clone();
                        if t.remaining() >= 9 {
                            last_index = Some(t.get_u64()).filter(|i| *i != u64::MAX);
                            if t.get_u8() == 1 && t.remaining() >= 16 {
                                let term = t.get_u64();
                                membership_log_id = Some(log_id(term, t.get_u64()));
                            }
                        }
                    }
                }
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
    Ok(Decoded {
        image,
        membership,
        last_index,
        membership_log_id,
    })
}

/// Writes `bytes` as the snapshot file `<name>.checkpoint` in `dir` (see the module doc),
/// then deletes older snapshot files. Returns its path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let part = dir.join(format!("{name}{PART_SUFFIX}"));
    let path = dir.join(format!("{name}{SUFFIX}"));
    let mut f = std::fs::File::create(&part)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&part, &path)?;
    crate::fs::sync_dir(dir)?;
    for (other, _) in list(dir)? {
        if other != path {
            std::fs::remove_file(&other)?;
        }
    }
    Ok(path)
}

/// The newest complete snapshot file in `dir` with its end offset, without touching
/// anything: safe while a snapshot is being written (its `.part` file is left alone, unlike
/// [`list`], which start-up uses to clear a crash's leftovers).
pub fn newest(dir: &Path) -> io::Result<Option<(PathBuf, i64)>> {
    let mut best: Option<(PathBuf, i64)> = None;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(SUFFIX))
        else {
            continue;
        };
        let Some((offset, epoch)) = stem.split_once('-') else {
            continue;
        };
        if let (Ok(o), Ok(_)) = (offset.parse::<i64>(), epoch.parse::<u64>()) {
            if best.as_ref().is_none_or(|(_, b)| o > *b) {
                best = Some((path, o));
            }
        }
    }
    Ok(best)
}

/// Snapshot files in `dir` with their end offsets, oldest first; `.part` files (left by a
/// crash) are deleted.
pub fn list(dir: &Path) -> io::Result<Vec<(PathBuf, i64)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(PART_SUFFIX) {
            std::fs::remove_file(&path)?;
            continue;
        }
        let Some(stem) = name.strip_suffix(SUFFIX) else {
            continue;
        };
        let Some((offset, epoch)) = stem.split_once('-') else {
            continue;
        };
        if let (Ok(o), Ok(_)) = (offset.parse::<i64>(), epoch.parse::<u64>()) {
            out.push((path, o));
        }
    }
    out.sort_by_key(|(_, o)| *o);
    Ok(out)
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
                removing_replicas: vec![],
                adding_replicas: vec![],
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
        let stored = StoredMembership::new(Some(log_id(1, 0)), m.clone());
        let bytes = encode(&image, &stored, Some(log_id(3, 12)), 7).expect("encode");
        let d = decode(&bytes, "c").expect("decode");
        assert!(d.image.same_content(&image));
        assert_eq!(d.membership, Some(m));
        assert_eq!(
            (d.last_index, d.membership_log_id),
            (Some(12), Some(log_id(1, 0)))
        );
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("x.checkpoint.part"), b"torn").expect("part");
        write_file(dir.path(), &snapshot_name(5, 1), &bytes).expect("first");
        let p = write_file(dir.path(), &snapshot_name(9, 3), &bytes).expect("second");
        assert_eq!(list(dir.path()).expect("list"), vec![(p, 9)]);
        assert_eq!(snapshot_name(12, 3), "00000000000000000012-0000000003");
        assert!(decode(&bytes[..bytes.len() - 10], "c").is_err());
    }
}
