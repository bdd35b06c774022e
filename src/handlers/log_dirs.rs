//! DescribeLogDirs (api 35): the log directories of this node and the partitions in them, as
//! Kafka's `ReplicaManager.describeLogDirs` answers.
//!
//! gregor has one log directory, the data directory; it is reported by its absolute path (not
//! canonicalised, as Kafka's `toAbsolutePath`). Every partition log in it counts, the internal
//! `__consumer_offsets` and `__transaction_state` included; the metadata log is not listed,
//! because in KRaft it belongs to the raft layer, not to the log manager. Per partition: the
//! size (the sum of its segment files), the offset lag (high watermark minus log end, never
//! below 0: 0 for a leader) and `is_future_key` false (no replica moves between directories).
//! `topics` null means every partition; requested partitions this node does not host are
//! left out, and a topic left with none is left out too. v4 adds the file system's total and
//! usable bytes (statvfs: blocks × fragment size, and the blocks available to unprivileged
//! users); when the directory cannot be examined the result carries KAFKA_STORAGE_ERROR and no
//! topics, with the sizes left at Kafka's "unknown" −1.
//!
//! Thread-safety: partition sizes are read under each partition's lock and the file system is
//! queried, so the work runs on a blocking thread.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::error::{Error, ErrorCode};
use crate::handlers::RequestContext;
use crate::metadata::log::METADATA_TOPIC;
use crate::security::acl::AclOperation;

/// Which partitions a request asks about: all, or the listed (topic, partition) pairs.
enum Wanted {
    All,
    Some(HashSet<(String, i32)>),
}

impl Wanted {
    fn contains(&self, topic: &str, partition: i32) -> bool {
        match self {
            Wanted::All => true,
            Wanted::Some(set) => set.contains(&(topic.to_string(), partition)),
        }
    }
}

/// The size of a file system as Kafka reports it: total and usable bytes, `i64::MAX` for a
/// size that does not fit (Kafka's `adjustForLargeFileSystems`).
fn volume_bytes(dir: &Path) -> std::io::Result<(i64, i64)> {
    let st = rustix::fs::statvfs(dir)?;
    let clamp = |blocks: u64| {
        let bytes = u128::from(blocks) * u128::from(st.f_frsize);
        i64::try_from(bytes).unwrap_or(i64::MAX)
    };
    Ok((clamp(st.f_blocks), clamp(st.f_bavail)))
}

/// The absolute path of the data directory, as Kafka's `Path.toAbsolutePath`.
fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Describes the data directory (blocking: file system calls and partition locks).
fn describe(b: &Broker, wanted: &Wanted) -> DescribeLogDirsResult {
    let dir = absolute(&b.config.data_dir);
    let result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(dir.display().to_string()));
    let (total, usable) = match volume_bytes(&dir) {
        Ok(sizes) => sizes,
        Err(e) => {
            tracing::warn!("Unable to describe replica dirs for {}: {e}", dir.display());
            return result.with_error_code(ErrorCode::KafkaStorageError.code());
        }
    };
    let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for log in b.all_logs() {
        let (topic, index) = (log.topic(), log.index());
        if topic == METADATA_TOPIC || !wanted.contains(topic, index) {
            continue;
        }
        let size = match log.lock() {
            Ok(l) => l.size_bytes(),
            Err(e) => {
                tracing::error!(
                    "Error while describing replica in dir {}: {e}",
                    dir.display()
                );
                return result.with_error_code(e.code().code());
            }
        };
        let lag = b
            .replicas
            .get(topic, index)
            .map_or(0, |r| (r.high_watermark() - r.log_end_offset()).max(0));
        topics.entry(topic.to_string()).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(index)
                .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                .with_offset_lag(lag)
                .with_is_future_key(false),
        );
    }
    let topics = topics
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    result
        .with_topics(topics)
        .with_total_bytes(total)
        .with_usable_bytes(usable)
}

pub async fn handle(ctx: &RequestContext, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    if !ctx.cluster_authorized(AclOperation::Describe) {
        return DescribeLogDirsResponse::default().with_error_code(if ctx.version >= 3 {
            crate::handlers::authz::CLUSTER_DENIED
        } else {
            0
        });
    }
    let wanted = match req.topics {
        None => Wanted::All,
        Some(topics) => Wanted::Some(
            topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.to_string(), p)))
                .collect(),
        ),
    };
    let version = ctx.version;
    let described = ctx
        .broker
        .blocking(move |b| Ok::<_, Error>(describe(b, &wanted)))
        .await;
    let mut result = match described {
        Ok(r) => r,
        Err(e) => {
            return DescribeLogDirsResponse::default().with_error_code(if version >= 3 {
                e.code().code()
            } else {
                0
            })
        }
    };
    if version < 4 {
        // Fields of v4 only: the crate refuses to encode them non-default in older versions.
        result = result.with_total_bytes(-1).with_usable_bytes(-1);
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_sizes_of_a_directory_and_of_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let (total, usable) = volume_bytes(dir.path()).unwrap();
        assert!(
            total > 0 && (0..=total).contains(&usable),
            "{total} {usable}"
        );
        // A directory that cannot be examined is a storage error for the caller.
        assert!(volume_bytes(&dir.path().join("gone")).is_err());
        assert!(absolute(Path::new("rel")).is_absolute());
    }
}
