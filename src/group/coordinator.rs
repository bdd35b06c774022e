//! The group coordinator: consumer groups (the classic protocol) and their committed offsets.
//!
//! Shape, as Kafka's: every operation checks the request against the group's in-memory
//! state; anything that must survive a restart is first appended to the coordinator's log as
//! [`GroupRecord`]s and only then applied, and [`GroupCoordinator::open`] rebuilds the same
//! state by replaying that log.
//!
//! Thread-safety: each group sits behind its own mutex, held only for short synchronous
//! sections and never across an await; JoinGroup and SyncGroup wait on oneshot channels after
//! releasing it. Timers (session expiry, rebalance deadlines, initial delays, offset retention)
//! are driven by [`GroupCoordinator::tick`] from one background task, so a slow member never
//! stalls another group or a connection.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::records::{GroupRecord, OffsetValue};
use super::state::{Group, GroupState, JoinResult, Member, SyncResult};
use super::store::GroupStore;
use crate::config::BrokerConfig;
use crate::error::ErrorCode;
use crate::log::partition::now_ms;
use crate::log::{LogManager, Partition};

/// Coordinator settings (Kafka's `group.*` and `offsets.*` broker keys).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub initial_rebalance_delay: Duration,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval: Duration,
    pub offset_metadata_max_bytes: usize,
}

impl GroupConfig {
    pub fn from_broker(c: &BrokerConfig) -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay: Duration::from_millis(c.group_initial_rebalance_delay_ms),
            min_session_timeout_ms: c.group_min_session_timeout_ms,
            max_session_timeout_ms: c.group_max_session_timeout_ms,
            offsets_retention_ms: c.offsets_retention_minutes.saturating_mul(60_000),
            offsets_retention_check_interval: Duration::from_millis(
                c.offsets_retention_check_interval_ms,
            ),
            offset_metadata_max_bytes: c.offset_metadata_max_bytes,
        }
    }
}

/// A JoinGroup request, as the coordinator needs it.
pub struct JoinParams {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a member must first be given an id (KIP-394).
    pub require_known_member_id: bool,
}

/// A SyncGroup request.
pub struct SyncParams {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// What DescribeGroups reports of a member.
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// What DescribeGroups reports of a group.
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

type GroupRef = Arc<Mutex<Group>>;

/// Committed offsets of one topic: `(partition, offset if any)`.
pub type TopicOffsets = (String, Vec<(i32, Option<OffsetValue>)>);

/// The coordinator (see the module doc).
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: Mutex<HashMap<String, GroupRef>>,
    store: GroupStore,
    last_retention_check: Mutex<Instant>,
}

fn lock(g: &GroupRef) -> MutexGuard<'_, Group> {
    g.lock().unwrap_or_else(|p| p.into_inner())
}

fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

fn sync_error(error: ErrorCode) -> SyncResult {
    SyncResult {
        error,
        protocol_type: None,
        protocol: None,
        assignment: Bytes::new(),
    }
}

/// The answer for a member joining a group whose generation is already settled.
fn current_generation(g: &Group, member_id: &str) -> JoinResult {
    let protocol = g.protocol.clone().unwrap_or_default();
    let leader = g.leader.clone().unwrap_or_default();
    let members = if leader == member_id {
        g.members
            .values()
            .map(|m| {
                (
                    m.id.clone(),
                    m.instance_id.clone(),
                    m.protocols
                        .iter()
                        .find(|(n, _)| *n == protocol)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinResult {
        error: ErrorCode::None,
        generation: g.generation,
        protocol_type: g.protocol_type.clone(),
        protocol: g.protocol.clone(),
        leader,
        member_id: member_id.to_string(),
        members,
    }
}

impl GroupCoordinator {
    /// Opens the coordinator's log and rebuilds every group from it (blocking).
    pub fn open(logs: &LogManager, broker: &BrokerConfig) -> io::Result<GroupCoordinator> {
        let (store, records) = GroupStore::open(logs, broker)?;
        let now = Instant::now();
        let now_ms = now_ms();
        let mut groups: HashMap<String, Group> = HashMap::new();
        let count = records.len();
        for r in records {
            match r {
                GroupRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                } => {
                    let g = groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now_ms));
                    match value {
                        Some(v) => {
                            g.offsets.insert((topic, partition), v);
                        }
                        None => {
                            g.offsets.remove(&(topic, partition));
                        }
                    }
                }
                GroupRecord::Group {
                    group,
                    value: Some(v),
                } => {
                    groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now_ms))
                        .restore(&v, now);
                }
                GroupRecord::Group { group, value: None } => {
                    groups.remove(&group);
                }
            }
        }
        if count > 0 {
            tracing::info!(
                "group coordinator: replayed {count} records into {} group(s)",
                groups.len()
            );
        }
        let coordinator = GroupCoordinator {
            config: GroupConfig::from_broker(broker),
            groups: Mutex::new(
                groups
                    .into_iter()
                    .map(|(k, g)| (k, Arc::new(Mutex::new(g))))
                    .collect(),
            ),
            store,
            last_retention_check: Mutex::new(now),
        };
        coordinator
            .store
            .compact_if_large(&coordinator.state_records())
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(coordinator)
    }

    /// The internal log's partition (closed, flushed and checkpointed with the others).
    pub fn log(&self) -> &Arc<Partition> {
        self.store.partition()
    }

    /// Every record needed to rebuild the current state.
    fn state_records(&self) -> Vec<GroupRecord> {
        let now = now_ms();
        let mut out = Vec::new();
        for g in self.all() {
            let g = lock(&g);
            if g.generation > 0 || !g.members.is_empty() {
                out.push(GroupRecord::Group {
                    group: g.id.clone(),
                    value: Some(g.to_value(now)),
                });
            }
            for ((topic, partition), v) in &g.offsets {
                out.push(GroupRecord::Offset {
                    group: g.id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                    value: Some(v.clone()),
                });
            }
        }
        out
    }

    fn groups(&self) -> MutexGuard<'_, HashMap<String, GroupRef>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn all(&self) -> Vec<GroupRef> {
        self.groups().values().cloned().collect()
    }

    fn group(&self, id: &str) -> Option<GroupRef> {
        self.groups().get(id).cloned()
    }

    fn group_or_create(&self, id: &str) -> GroupRef {
        self.groups()
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(Group::new(id, now_ms()))))
            .clone()
    }

    async fn persist(&self, records: Vec<GroupRecord>) {
        if let Err(e) = self.store.append(&records).await {
            tracing::error!("writing group state failed: {e}");
        }
    }

    fn empty_group_record(g: &Group) -> GroupRecord {
        GroupRecord::Group {
            group: g.id.clone(),
            value: Some(g.to_value(now_ms())),
        }
    }

    /// JoinGroup: returns when the join phase completes (or at once for errors and for
    /// members rejoining a settled generation).
    pub async fn join(&self, p: JoinParams) -> JoinResult {
        if p.group_id.is_empty() {
            return JoinResult::error(ErrorCode::InvalidGroupId, &p.member_id);
        }
        if p.session_timeout_ms < self.config.min_session_timeout_ms
            || p.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return JoinResult::error(ErrorCode::InvalidSessionTimeout, &p.member_id);
        }
        let now = Instant::now();
        let delay = self.config.initial_rebalance_delay;
        let (tx, rx) = oneshot::channel();
        let mut emptied = None;
        {
            let gref = if p.member_id.is_empty() {
                self.group_or_create(&p.group_id)
            } else {
                match self.group(&p.group_id) {
                    Some(g) => g,
                    None => return JoinResult::error(ErrorCode::UnknownMemberId, &p.member_id),
                }
            };
            let mut g = lock(&gref);
            if g.is(GroupState::Dead) {
                return JoinResult::error(ErrorCode::CoordinatorNotAvailable, &p.member_id);
            }
            let new_member = |id: String, waiter| Member {
                id,
                instance_id: p.instance_id.clone(),
                client_id: p.client_id.clone(),
                client_host: p.client_host.clone(),
                session_timeout: Duration::from_millis(p.session_timeout_ms as u64),
                rebalance_timeout: Duration::from_millis(p.rebalance_timeout_ms.max(0) as u64),
                protocols: p.protocols.clone(),
                assignment: Bytes::new(),
                last_heartbeat: now,
                join_waiter: Some(waiter),
                sync_waiter: None,
            };
            let known_static = p
                .instance_id
                .as_ref()
                .and_then(|i| g.static_members.get(i).cloned());
            if !p.member_id.is_empty()
                && known_static.as_deref().is_some_and(|id| id != p.member_id)
            {
                return JoinResult::error(ErrorCode::FencedInstanceId, &p.member_id);
            }
            if !g.supports(&p.protocol_type, &p.protocols) {
                return JoinResult::error(ErrorCode::InconsistentGroupProtocol, &p.member_id);
            }
            if g.members.is_empty() {
                g.protocol_type = Some(p.protocol_type.clone());
            }
            if p.member_id.is_empty() {
                match (known_static, &p.instance_id) {
                    (Some(old_id), Some(instance)) => {
                        // KIP-345: a restarted static member replaces its old incarnation and
                        // keeps its assignment; no rebalance unless its protocols changed.
                        let new_id = new_member_id(&p.client_id);
                        let Some(mut old) = g.members.shift_remove(&old_id) else {
                            return JoinResult::error(ErrorCode::UnknownMemberId, "");
                        };
                        if let Some(w) = old.join_waiter.take() {
                            let _ = w.send(JoinResult::error(ErrorCode::FencedInstanceId, &old_id));
                        }
                        if let Some(w) = old.sync_waiter.take() {
                            let _ = w.send(sync_error(ErrorCode::FencedInstanceId));
                        }
                        let same_protocols = old
                            .protocols
                            .iter()
                            .map(|(n, _)| n)
                            .eq(p.protocols.iter().map(|(n, _)| n));
                        let mut m = new_member(new_id.clone(), tx);
                        m.assignment = old.assignment;
                        g.static_members.insert(instance.clone(), new_id.clone());
                        if g.leader.as_deref() == Some(old_id.as_str()) {
                            g.leader = Some(new_id.clone());
                        }
                        let settled = matches!(
                            g.state,
                            GroupState::Stable | GroupState::CompletingRebalance
                        );
                        if settled && same_protocols {
                            m.join_waiter = None;
                            g.members.insert(new_id.clone(), m);
                            return current_generation(&g, &new_id);
                        }
                        g.members.insert(new_id, m);
                        if g.membership_changed(now, now_ms(), delay) {
                            emptied = Some(Self::empty_group_record(&g));
                        }
                    }
                    (None, Some(instance)) => {
                        let id = new_member_id(&p.client_id);
                        g.static_members.insert(instance.clone(), id.clone());
                        g.members.insert(id.clone(), new_member(id, tx));
                        Self::start_or_join_rebalance(&mut g, now, delay);
                    }
                    _ if p.require_known_member_id => {
                        let id = new_member_id(&p.client_id);
                        g.pending.insert(
                            id.clone(),
                            now + Duration::from_millis(p.session_timeout_ms as u64),
                        );
                        return JoinResult::error(ErrorCode::MemberIdRequired, &id);
                    }
                    _ => {
                        let id = new_member_id(&p.client_id);
                        g.members.insert(id.clone(), new_member(id, tx));
                        Self::start_or_join_rebalance(&mut g, now, delay);
                    }
                }
            } else if g.pending.remove(&p.member_id).is_some() {
                g.members
                    .insert(p.member_id.clone(), new_member(p.member_id.clone(), tx));
                if let Some(i) = &p.instance_id {
                    g.static_members.insert(i.clone(), p.member_id.clone());
                }
                Self::start_or_join_rebalance(&mut g, now, delay);
            } else {
                let state = g.state;
                let is_leader = g.leader.as_deref() == Some(p.member_id.as_str());
                let Some(m) = g.members.get_mut(&p.member_id) else {
                    return JoinResult::error(ErrorCode::UnknownMemberId, &p.member_id);
                };
                let same = m.protocols == p.protocols;
                m.last_heartbeat = now;
                match state {
                    GroupState::Empty | GroupState::Dead => {
                        return JoinResult::error(ErrorCode::UnknownMemberId, &p.member_id)
                    }
                    GroupState::CompletingRebalance | GroupState::Stable
                        if same && !(state == GroupState::Stable && is_leader) =>
                    {
                        return current_generation(&g, &p.member_id);
                    }
                    _ => {
                        m.protocols = p.protocols.clone();
                        m.session_timeout = Duration::from_millis(p.session_timeout_ms as u64);
                        m.rebalance_timeout =
                            Duration::from_millis(p.rebalance_timeout_ms.max(0) as u64);
                        if let Some(old) = m.join_waiter.replace(tx) {
                            let _ = old.send(JoinResult::error(
                                ErrorCode::RebalanceInProgress,
                                &p.member_id,
                            ));
                        }
                        Self::start_or_join_rebalance(&mut g, now, delay);
                    }
                }
            }
        }
        if let Some(r) = emptied {
            self.persist(vec![r]).await;
        }
        let r = rx
            .await
            .unwrap_or_else(|_| JoinResult::error(ErrorCode::RebalanceInProgress, &p.member_id));
        tracing::debug!(
            "group {}: join of {:?} → {} generation {} leader {:?} ({} members listed)",
            p.group_id,
            r.member_id,
            r.error,
            r.generation,
            r.leader,
            r.members.len()
        );
        r
    }

    /// A member (re)joined: start a rebalance if none is under way, and finish the join phase
    /// if that was the last member it waited for.
    fn start_or_join_rebalance(g: &mut Group, now: Instant, delay: Duration) {
        g.prepare_rebalance(now, delay);
        g.try_complete_join(now, now_ms());
    }

    /// SyncGroup: the leader's assignments are stored, then every member gets its own.
    pub async fn sync(&self, p: SyncParams) -> SyncResult {
        tracing::debug!(
            "group {}: sync request from {:?} generation {}",
            p.group_id,
            p.member_id,
            p.generation
        );
        let Some(gref) = self.group(&p.group_id) else {
            return sync_error(ErrorCode::UnknownMemberId);
        };
        let (tx, rx) = oneshot::channel();
        let to_store = {
            let mut g = lock(&gref);
            if let Some(e) = Self::check_member(&g, &p.member_id, p.instance_id.as_deref()) {
                return sync_error(e);
            }
            if p.generation != g.generation {
                return sync_error(ErrorCode::IllegalGeneration);
            }
            if p.protocol_type
                .as_ref()
                .is_some_and(|t| Some(t) != g.protocol_type.as_ref())
                || p.protocol
                    .as_ref()
                    .is_some_and(|t| Some(t) != g.protocol.as_ref())
            {
                return sync_error(ErrorCode::InconsistentGroupProtocol);
            }
            match g.state {
                GroupState::Empty | GroupState::Dead => {
                    return sync_error(ErrorCode::UnknownMemberId)
                }
                GroupState::PreparingRebalance => {
                    return sync_error(ErrorCode::RebalanceInProgress)
                }
                GroupState::Stable => {
                    let m = &g.members[&p.member_id];
                    return SyncResult {
                        error: ErrorCode::None,
                        protocol_type: g.protocol_type.clone(),
                        protocol: g.protocol.clone(),
                        assignment: m.assignment.clone(),
                    };
                }
                GroupState::CompletingRebalance => {
                    if let Some(m) = g.members.get_mut(&p.member_id) {
                        m.sync_waiter = Some(tx);
                        m.last_heartbeat = Instant::now();
                    }
                    if g.leader.as_deref() == Some(p.member_id.as_str()) {
                        let map: HashMap<String, Bytes> = p.assignments.into_iter().collect();
                        let mut value = g.to_value(now_ms());
                        for m in value.members.iter_mut() {
                            m.assignment = map.get(&m.member_id).cloned().unwrap_or_default();
                        }
                        Some((g.generation, map, value))
                    } else {
                        None
                    }
                }
            }
        };
        if let Some((generation, map, value)) = to_store {
            let stored = self
                .store
                .append(&[GroupRecord::Group {
                    group: p.group_id.clone(),
                    value: Some(value),
                }])
                .await;
            let mut g = lock(&gref);
            if g.generation == generation && g.is(GroupState::CompletingRebalance) {
                match stored {
                    Ok(()) => g.complete_sync(&map),
                    Err(e) => {
                        tracing::error!("storing group {} failed: {e}", p.group_id);
                        for m in g.members.values_mut() {
                            if let Some(w) = m.sync_waiter.take() {
                                let _ = w.send(sync_error(ErrorCode::CoordinatorNotAvailable));
                            }
                        }
                        g.prepare_rebalance(Instant::now(), Duration::ZERO);
                    }
                }
            }
        }
        let r = rx
            .await
            .unwrap_or_else(|_| sync_error(ErrorCode::RebalanceInProgress));
        tracing::debug!(
            "group {}: sync of {:?} generation {} → {} ({} bytes)",
            p.group_id,
            p.member_id,
            p.generation,
            r.error,
            r.assignment.len()
        );
        r
    }

    fn check_member(g: &Group, member_id: &str, instance_id: Option<&str>) -> Option<ErrorCode> {
        if let Some(i) = instance_id {
            if let Some(id) = g.static_members.get(i) {
                if id != member_id {
                    return Some(ErrorCode::FencedInstanceId);
                }
            }
        }
        (!g.members.contains_key(member_id)).then_some(ErrorCode::UnknownMemberId)
    }

    /// Heartbeat: keeps a member alive and tells it when to rejoin.
    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> ErrorCode {
        let Some(gref) = self.group(group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        let mut g = lock(&gref);
        if let Some(e) = Self::check_member(&g, member_id, instance_id) {
            return e;
        }
        if g.is(GroupState::Empty) || g.is(GroupState::Dead) {
            return ErrorCode::UnknownMemberId;
        }
        if generation != g.generation {
            return ErrorCode::IllegalGeneration;
        }
        let state = g.state;
        if let Some(m) = g.members.get_mut(member_id) {
            m.last_heartbeat = Instant::now();
        }
        if state == GroupState::PreparingRebalance {
            ErrorCode::RebalanceInProgress
        } else {
            ErrorCode::None
        }
    }

    /// LeaveGroup for one or more members (by member id, or by instance id with an empty
    /// member id). Returns one error per member.
    pub async fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Vec<ErrorCode> {
        let Some(gref) = self.group(group_id) else {
            return vec![ErrorCode::UnknownMemberId; members.len()];
        };
        let mut emptied = None;
        let codes = {
            let mut g = lock(&gref);
            let mut changed = false;
            let codes = members
                .iter()
                .map(|(member_id, instance_id)| {
                    let id = match (member_id.is_empty(), instance_id) {
                        (true, Some(i)) => match g.static_members.get(i) {
                            Some(id) => id.clone(),
                            None => return ErrorCode::UnknownMemberId,
                        },
                        _ => member_id.clone(),
                    };
                    if g.pending.remove(&id).is_some() {
                        return ErrorCode::None;
                    }
                    if let Some(e) = Self::check_member(&g, &id, instance_id.as_deref()) {
                        return e;
                    }
                    g.remove_member(&id, ErrorCode::UnknownMemberId);
                    changed = true;
                    ErrorCode::None
                })
                .collect();
            if changed
                && g.membership_changed(
                    Instant::now(),
                    now_ms(),
                    self.config.initial_rebalance_delay,
                )
            {
                emptied = Some(Self::empty_group_record(&g));
            }
            codes
        };
        if let Some(r) = emptied {
            self.persist(vec![r]).await;
        }
        codes
    }

    /// OffsetCommit: checks the committer's membership and generation, stores the offsets,
    /// then applies them. Returns a group-level error for every partition, or NONE.
    pub async fn commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<(String, i32, OffsetValue)>,
    ) -> ErrorCode {
        if group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        let gref = match self.group(group_id) {
            Some(g) => g,
            None if generation < 0 => self.group_or_create(group_id),
            None => return ErrorCode::IllegalGeneration,
        };
        {
            let mut g = lock(&gref);
            let simple = generation < 0 && member_id.is_empty() && g.is(GroupState::Empty);
            if g.is(GroupState::Dead) {
                return ErrorCode::CoordinatorNotAvailable;
            }
            if !simple {
                if g.is(GroupState::CompletingRebalance) {
                    return ErrorCode::RebalanceInProgress;
                }
                if let Some(e) = Self::check_member(&g, member_id, instance_id) {
                    return e;
                }
                if generation != g.generation {
                    return ErrorCode::IllegalGeneration;
                }
                if let Some(m) = g.members.get_mut(member_id) {
                    m.last_heartbeat = Instant::now();
                }
            }
        }
        tracing::debug!(
            "group {group_id}: commit by {member_id:?} generation {generation}: {:?}",
            offsets
                .iter()
                .map(|(t, p, v)| format!("{t}-{p}@{}", v.offset))
                .collect::<Vec<_>>()
        );
        let records: Vec<GroupRecord> = offsets
            .into_iter()
            .map(|(topic, partition, value)| GroupRecord::Offset {
                group: group_id.to_string(),
                topic,
                partition,
                value: Some(value),
            })
            .collect();
        if let Err(e) = self.store.append(&records).await {
            tracing::error!("storing offsets of group {group_id} failed: {e}");
            return ErrorCode::CoordinatorNotAvailable;
        }
        let mut g = lock(&gref);
        for r in records {
            if let GroupRecord::Offset {
                topic,
                partition,
                value: Some(v),
                ..
            } = r
            {
                g.offsets.insert((topic, partition), v);
            }
        }
        ErrorCode::None
    }

    pub fn offset_metadata_max_bytes(&self) -> usize {
        self.config.offset_metadata_max_bytes
    }

    /// Committed offsets of the given partitions, or of every partition when `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<TopicOffsets> {
        let offsets = self
            .group(group_id)
            .map(|g| lock(&g).offsets.clone())
            .unwrap_or_default();
        match wanted {
            Some(topics) => topics
                .into_iter()
                .map(|(t, parts)| {
                    let ps = parts
                        .into_iter()
                        .map(|p| (p, offsets.get(&(t.clone(), p)).cloned()))
                        .collect();
                    (t, ps)
                })
                .collect(),
            None => {
                let mut by_topic: std::collections::BTreeMap<
                    String,
                    Vec<(i32, Option<OffsetValue>)>,
                > = Default::default();
                for ((t, p), v) in offsets {
                    by_topic.entry(t).or_default().push((p, Some(v)));
                }
                by_topic
                    .into_iter()
                    .map(|(t, mut ps)| {
                        ps.sort_by_key(|(p, _)| *p);
                        (t, ps)
                    })
                    .collect()
            }
        }
    }

    /// DescribeGroups: `None` for a group that does not exist.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let gref = self.group(group_id)?;
        let g = lock(&gref);
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
                        m.protocols
                            .iter()
                            .find(|(n, _)| *n == protocol)
                            .map(|(_, b)| b.clone())
                            .unwrap_or_default()
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
    }

    /// ListGroups: `(group id, protocol type, state)` of every group.
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let mut out: Vec<_> = self
            .all()
            .iter()
            .map(|g| {
                let g = lock(g);
                (
                    g.id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state,
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// DeleteGroups: only empty groups; their offsets and metadata are tombstoned.
    pub async fn delete_group(&self, group_id: &str) -> ErrorCode {
        let Some(gref) = self.group(group_id) else {
            return ErrorCode::GroupIdNotFound;
        };
        let records = {
            let g = lock(&gref);
            if g.is(GroupState::Dead) {
                return ErrorCode::GroupIdNotFound;
            }
            if !g.is(GroupState::Empty) {
                return ErrorCode::NonEmptyGroup;
            }
            let mut r: Vec<GroupRecord> = g
                .offsets
                .keys()
                .map(|(t, p)| GroupRecord::Offset {
                    group: g.id.clone(),
                    topic: t.clone(),
                    partition: *p,
                    value: None,
                })
                .collect();
            r.push(GroupRecord::Group {
                group: g.id.clone(),
                value: None,
            });
            r
        };
        if let Err(e) = self.store.append(&records).await {
            tracing::error!("deleting group {group_id} failed: {e}");
            return ErrorCode::CoordinatorNotAvailable;
        }
        let mut g = lock(&gref);
        if !g.is(GroupState::Empty) {
            return ErrorCode::NonEmptyGroup;
        }
        g.state = GroupState::Dead;
        g.offsets.clear();
        self.groups().remove(group_id);
        ErrorCode::None
    }

    /// OffsetDelete: removes committed offsets of partitions the group does not consume.
    /// `Err` is a group-level error; otherwise one code per partition.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let Some(gref) = self.group(group_id) else {
            return Err(ErrorCode::GroupIdNotFound);
        };
        let (codes, records) = {
            let g = lock(&gref);
            if g.is(GroupState::Dead) {
                return Err(ErrorCode::GroupIdNotFound);
            }
            let subscribed = if g.is(GroupState::Empty) {
                Default::default()
            } else {
                g.subscribed_topics()
            };
            let mut records = Vec::new();
            let codes = partitions
                .iter()
                .map(|(t, p)| {
                    if subscribed.contains(t) {
                        return ErrorCode::GroupSubscribedToTopic;
                    }
                    if g.offsets.contains_key(&(t.clone(), *p)) {
                        records.push(GroupRecord::Offset {
                            group: g.id.clone(),
                            topic: t.clone(),
                            partition: *p,
                            value: None,
                        });
                    }
                    ErrorCode::None
                })
                .collect();
            (codes, records)
        };
        if let Err(e) = self.store.append(&records).await {
            tracing::error!("deleting offsets of group {group_id} failed: {e}");
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        let mut g = lock(&gref);
        for r in records {
            if let GroupRecord::Offset {
                topic, partition, ..
            } = r
            {
                g.offsets.remove(&(topic, partition));
            }
        }
        Ok(codes)
    }

    /// One round of timers: expired sessions and pending member ids, rebalance deadlines and
    /// initial delays, and (every `offsets.retention.check.interval.ms`) offset retention.
    pub async fn tick(&self) {
        let now = Instant::now();
        let now_ms = now_ms();
        let retention_due = {
            let mut last = self
                .last_retention_check
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let due = now.duration_since(*last) >= self.config.offsets_retention_check_interval;
            if due {
                *last = now;
            }
            due
        };
        let mut records = Vec::new();
        let mut dead = Vec::new();
        for gref in self.all() {
            let mut g = lock(&gref);
            let expired: Vec<String> = g
                .members
                .values()
                .filter(|m| m.expired(now))
                .map(|m| m.id.clone())
                .collect();
            for id in &expired {
                tracing::info!(
                    "group {}: member {id} expired (no heartbeat within its session timeout)",
                    g.id
                );
                g.remove_member(id, ErrorCode::UnknownMemberId);
            }
            g.pending.retain(|_, until| *until > now);
            let emptied = if expired.is_empty() {
                g.try_complete_join(now, now_ms)
            } else {
                g.membership_changed(now, now_ms, self.config.initial_rebalance_delay)
            };
            if emptied {
                records.push(Self::empty_group_record(&g));
            }
            if retention_due
                && g.is(GroupState::Empty)
                && now_ms - g.empty_since_ms > self.config.offsets_retention_ms
            {
                for (t, p) in g.offsets.keys() {
                    records.push(GroupRecord::Offset {
                        group: g.id.clone(),
                        topic: t.clone(),
                        partition: *p,
                        value: None,
                    });
                }
                if !g.offsets.is_empty() {
                    tracing::info!(
                        "group {}: {} committed offset(s) expired (offsets.retention.minutes)",
                        g.id,
                        g.offsets.len()
                    );
                }
                g.offsets.clear();
                records.push(GroupRecord::Group {
                    group: g.id.clone(),
                    value: None,
                });
                g.state = GroupState::Dead;
                dead.push(g.id.clone());
            }
        }
        if !dead.is_empty() {
            let mut groups = self.groups();
            for id in dead {
                groups.remove(&id);
            }
        }
        if !records.is_empty() {
            self.persist(records).await;
        }
    }
}
