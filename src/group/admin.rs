//! DescribeGroups, ListGroups and DeleteGroups as coordinator-runtime operations.
//!
//! Describing and listing read the state as of the last written record. Deleting writes
//! tombstones for the group's offsets and metadata; the group disappears when they are
//! replayed, and stays as it was if the write fails.

use bytes::Bytes;

use super::api::{GroupDescription, MemberDescription};
use super::coordinator::GroupCoordinator;
use super::records::GroupRecord;
use super::shard::GroupShard;
use super::state::GroupState;
use crate::coordinator::runtime::{write_error_code, CoordinatorResult};
use crate::error::ErrorCode;

impl GroupCoordinator {
    /// DescribeGroups: `None` for a group that does not exist.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        self.runtime.read(|s| {
            let g = s.group(group_id)?;
            let protocol = g.protocol.clone().unwrap_or_default();
            let settled = matches!(
                g.state,
                GroupState::Stable | GroupState::CompletingRebalance
            );
            Some(GroupDescription {
                state: g.state,
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                protocol: protocol.clone(),
                members: g
                    .members
                    .values()
                    .map(|m| MemberDescription {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        metadata: if settled {
                            m.metadata(&protocol)
                        } else {
                            Bytes::new()
                        },
                        assignment: if g.is(GroupState::Stable) {
                            m.assignment.clone()
                        } else {
                            Bytes::new()
                        },
                    })
                    .collect(),
            })
        })
    }

    /// ListGroups: `(group id, protocol type, state)` of every group, by id.
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let mut out: Vec<_> = self.runtime.read(|s| {
            s.groups
                .values()
                .map(|g| {
                    (
                        g.id.clone(),
                        g.protocol_type.clone().unwrap_or_default(),
                        g.state,
                    )
                })
                .collect()
        });
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// ListGroups v5: `(group id, protocol type, state name, group type)` of every group, by
    /// id; a KIP-848 group is of type `consumer` (protocol type `consumer`, Kafka's states
    /// Empty, Assigning, Reconciling, Stable), any other of type `classic`.
    pub fn list_typed(&self) -> Vec<(String, String, &'static str, &'static str)> {
        let mut out: Vec<_> = self.runtime.read(|s| {
            s.groups
                .values()
                .map(|g| match &g.consumer {
                    Some(c) => (
                        g.id.clone(),
                        "consumer".to_string(),
                        c.state().name(),
                        "consumer",
                    ),
                    None => (
                        g.id.clone(),
                        g.protocol_type.clone().unwrap_or_default(),
                        g.state.name(),
                        "classic",
                    ),
                })
                .collect()
        });
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// DeleteGroups: only empty groups; their offsets and metadata are tombstoned.
    pub async fn delete_group(&self, group_id: &str) -> ErrorCode {
        let group = group_id.to_string();
        match self
            .runtime
            .write(move |s, _| delete_group_op(s, &group))
            .await
        {
            Ok(code) => code,
            Err(e) => {
                tracing::error!("deleting group {group_id} failed: {e}");
                write_error_code(&e)
            }
        }
    }
}

fn delete_group_op(s: &GroupShard, group: &str) -> CoordinatorResult<GroupShard, ErrorCode> {
    let g = match s.group(group) {
        Some(g) if !g.is(GroupState::Dead) => g,
        _ => return CoordinatorResult::answer(ErrorCode::GroupIdNotFound),
    };
    if !g.is(GroupState::Empty) || !g.has_no_members() {
        return CoordinatorResult::answer(ErrorCode::NonEmptyGroup);
    }
    CoordinatorResult::new(tombstones(s, g), ErrorCode::None)
}

/// Records that delete a group: a tombstone per committed offset and per partition only an
/// open transaction holds an offset of (as Kafka's `deleteAllOffsets`), then one for the
/// group.
pub(super) fn tombstones(s: &GroupShard, g: &super::state::Group) -> Vec<GroupRecord> {
    let pending = s.txn.pending_partitions(&g.id);
    let only_pending = pending.iter().filter(|k| !g.offsets.contains_key(*k));
    let mut records: Vec<GroupRecord> = g
        .offsets
        .keys()
        .chain(only_pending)
        .map(|(t, p)| GroupRecord::Offset {
            group: g.id.clone(),
            topic: t.clone(),
            partition: *p,
            value: None,
        })
        .collect();
    if let Some(c) = &g.consumer {
        let gone = c.delete_records(&g.id);
        records.extend(gone.into_iter().map(GroupRecord::Consumer));
    }
    records.push(GroupRecord::Group {
        group: g.id.clone(),
        value: None,
    });
    records
}
