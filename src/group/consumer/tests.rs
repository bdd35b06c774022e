//! Fake-clock tests of the consumer group state machine on the coordinator runtime: an
//! in-memory log, simulated members that heartbeat and obey their assignments, and
//! assertions on the records written and on the state a replay rebuilds.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::heartbeat::{HeartbeatParams, HeartbeatResult};
use super::records::Assignment;
use super::subscription::Topics;
use crate::coordinator::clock::FakeClock;
use crate::coordinator::log::{CoordinatorLog, LogEntry, MemoryLog};
use crate::error::ErrorCode;
use crate::group::api::{GroupConfig, JoinParams};
use crate::group::coordinator::GroupCoordinator;
use crate::group::OffsetValue;

pub(super) const GROUP: &str = "cg";
pub(super) const TOPIC: Uuid = Uuid::from_u128(0xabc);

pub(super) fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay: Duration::ZERO,
        min_session_timeout_ms: 1_000,
        max_session_timeout_ms: 300_000,
        offsets_retention_ms: 60_000,
        offsets_retention_check_interval: Duration::from_secs(1),
        offset_metadata_max_bytes: 4096,
        consumer_session_timeout_ms: 45_000,
        consumer_heartbeat_interval_ms: 5_000,
        consumer_assignors: vec!["uniform".into(), "range".into()],
        consumer_max_size: 3,
    }
}

/// One topic `t` of six partitions.
pub(super) struct OneTopic;

impl Topics for OneTopic {
    fn get(&self, name: &str) -> Option<(Uuid, i32)> {
        (name == "t").then_some((TOPIC, 6))
    }
    fn names(&self) -> Vec<String> {
        vec!["t".into()]
    }
}

#[allow(non_upper_case_globals)]
pub(super) const topics: OneTopic = OneTopic;

/// A simulated KIP-848 consumer: it owns exactly what its last assignment said.
pub(super) struct Client {
    pub(super) id: String,
    pub(super) epoch: i32,
    pub(super) owned: Assignment,
}

impl Client {
    pub(super) fn new(id: &str) -> Client {
        Client {
            id: id.into(),
            epoch: 0,
            owned: Assignment::new(),
        }
    }

    fn params(&self) -> HeartbeatParams {
        HeartbeatParams {
            version: 1,
            group_id: GROUP.into(),
            member_id: self.id.clone(),
            member_epoch: self.epoch,
            rebalance_timeout_ms: if self.epoch == 0 { 30_000 } else { -1 },
            subscribed_topic_names: (self.epoch == 0).then(|| vec!["t".to_string()]),
            owned: Some(self.owned.clone()),
            client_id: "test".into(),
            client_host: "/127.0.0.1".into(),
            ..Default::default()
        }
    }

    pub(super) async fn heartbeat(&mut self, c: &GroupCoordinator) -> HeartbeatResult {
        let r = c.consumer_heartbeat(self.params(), &topics).await;
        if r.error == ErrorCode::None {
            self.epoch = r.member_epoch;
            if let Some(a) = &r.assignment {
                self.owned = a.clone();
            }
        }
        r
    }

    fn count(&self) -> usize {
        self.owned.values().map(BTreeSet::len).sum()
    }
}

/// A commit of `offset` for partition `partition` of topic `t`.
pub(super) fn commit_of(partition: i32, offset: i64) -> Vec<(String, i32, OffsetValue)> {
    let value = OffsetValue {
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: 0,
    };
    vec![("t".to_string(), partition, value)]
}

/// A classic consumer's JoinGroup for [`GROUP`] (`member_id` empty: a new member).
pub(super) fn classic_join(member_id: &str) -> JoinParams {
    JoinParams {
        group_id: GROUP.into(),
        member_id: member_id.into(),
        instance_id: None,
        client_id: "classic".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Default::default())],
        require_known_member_id: false,
    }
}

/// `(key version, is a tombstone)` of the records written since entry `from`.
pub(super) fn written_since(log: &MemoryLog, from: usize) -> Vec<(i16, bool)> {
    log.read_all()
        .unwrap()
        .into_iter()
        .skip(from)
        .filter_map(|e| match e {
            LogEntry::Record { record: (k, v), .. } => {
                Some((i16::from_be_bytes([k[0], k[1]]), v.is_none()))
            }
            _ => None,
        })
        .collect()
}

pub(super) fn harness() -> (Arc<GroupCoordinator>, Arc<MemoryLog>, Arc<FakeClock>) {
    let log = Arc::new(MemoryLog::new());
    let clock = Arc::new(FakeClock::new());
    let coord = GroupCoordinator::new(config(), log.clone(), clock.clone()).unwrap();
    (Arc::new(coord), log, clock)
}

/// Heartbeats every client in turn until none of them changes (at most 10 rounds).
pub(super) async fn settle(c: &GroupCoordinator, clients: &mut [Client]) {
    for _ in 0..10 {
        let before: Vec<(i32, Assignment)> =
            clients.iter().map(|c| (c.epoch, c.owned.clone())).collect();
        for cl in clients.iter_mut() {
            assert_eq!(cl.heartbeat(c).await.error, ErrorCode::None);
        }
        let after: Vec<(i32, Assignment)> =
            clients.iter().map(|c| (c.epoch, c.owned.clone())).collect();
        if before == after {
            return;
        }
    }
    panic!("the group did not settle");
}

/// No partition is owned by two clients at once, and together they own `n`.
fn check_exclusive(clients: &[Client], n: usize) {
    let mut seen = BTreeSet::new();
    for cl in clients {
        for p in cl.owned.get(&TOPIC).into_iter().flatten() {
            assert!(seen.insert(*p), "partition {p} owned twice");
        }
    }
    assert_eq!(seen.len(), n);
}

fn key_versions(log: &MemoryLog) -> Vec<i16> {
    log.read_all()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Record { record: (k, _), .. } => Some(i16::from_be_bytes([k[0], k[1]])),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn three_members_split_six_partitions_then_one_leaves() {
    let (c, log, clock) = harness();
    let mut clients = vec![Client::new("a"), Client::new("b"), Client::new("c")];
    let first = clients[0].heartbeat(&c).await;
    assert_eq!(
        (first.error, first.member_epoch, first.heartbeat_interval_ms),
        (ErrorCode::None, 1, 5_000)
    );
    assert_eq!(clients[0].count(), 6, "a lone member gets everything");
    // The join wrote the subscription (5), group epoch (3), target (7, 6) and current (8).
    assert_eq!(key_versions(&log), vec![5, 3, 7, 6, 8]);
    settle(&c, &mut clients).await;
    check_exclusive(&clients, 6);
    assert!(clients.iter().all(|cl| cl.count() == 2), "balanced");
    let epoch = clients[0].epoch;
    assert!(clients.iter().all(|cl| cl.epoch == epoch));
    let described = c.describe_consumer_group(GROUP).unwrap();
    assert_eq!(described.state.name(), "Stable");
    assert_eq!(
        (described.epoch, described.assignment_epoch),
        (epoch, epoch)
    );

    // A restart rebuilds the same members, epochs and assignments from the records.
    let again = GroupCoordinator::new(config(), log.clone(), clock.clone()).unwrap();
    let replayed = again.describe_consumer_group(GROUP).unwrap();
    for (m, cl) in replayed.members.iter().zip(&clients) {
        assert_eq!(
            (&m.member_id, m.member_epoch, &m.assignment),
            (&cl.id, cl.epoch, &cl.owned)
        );
    }

    // c leaves: tombstones for 8, 7, 5 and a group epoch bump; a and b split its partitions.
    let mut gone = clients.pop().unwrap();
    gone.epoch = -1;
    let n = log.len();
    let r = gone.heartbeat(&c).await;
    assert_eq!((r.error, r.member_epoch), (ErrorCode::None, -1));
    let tail: Vec<_> = log.read_all().unwrap().into_iter().skip(n).collect();
    let tombstones: Vec<(i16, bool)> = tail
        .iter()
        .map(|e| match e {
            LogEntry::Record { record: (k, v), .. } => {
                (i16::from_be_bytes([k[0], k[1]]), v.is_none())
            }
            _ => (0, false),
        })
        .collect();
    assert_eq!(
        tombstones,
        vec![(8, true), (7, true), (5, true), (3, false)]
    );
    settle(&c, &mut clients).await;
    check_exclusive(&clients, 6);
    assert!(clients.iter().all(|cl| cl.count() == 3));
}

#[tokio::test]
async fn a_partition_moves_only_after_its_owner_revoked_it() {
    let (c, _log, _clock) = harness();
    let mut a = Client::new("a");
    a.heartbeat(&c).await;
    assert_eq!(a.count(), 6);
    // b joins: the target gives it half, but a still owns them, so b gets nothing yet.
    let mut b = Client::new("b");
    let r = b.heartbeat(&c).await;
    assert_eq!(r.member_epoch, 2);
    assert_eq!(b.count(), 0, "unreleased partitions are not handed out");
    // a is asked to revoke (its epoch stays 1, its assignment shrinks to 3).
    let r = a.heartbeat(&c).await;
    assert_eq!((r.member_epoch, a.count()), (1, 3));
    // a's next heartbeat reports the revocation done: epoch 2.
    assert_eq!(a.heartbeat(&c).await.member_epoch, 2);
    // Now b gets the released partitions.
    b.heartbeat(&c).await;
    assert_eq!(b.count(), 3);
    check_exclusive(&[a, b], 6);
}

#[tokio::test]
async fn epochs_and_requests_are_checked_as_kafka_does() {
    let (c, _log, _clock) = harness();
    let mut a = Client::new("a");
    a.heartbeat(&c).await;
    let mut p = a.params();
    p.member_epoch = 7;
    assert_eq!(
        c.consumer_heartbeat(p.clone(), &topics).await.error,
        ErrorCode::FencedMemberEpoch
    );
    p.member_id = "nobody".into();
    p.member_epoch = 1;
    assert_eq!(
        c.consumer_heartbeat(p.clone(), &topics).await.error,
        ErrorCode::UnknownMemberId
    );
    let mut bad = Client::new("x").params();
    bad.server_assignor = Some("sticky".into());
    assert_eq!(
        c.consumer_heartbeat(bad.clone(), &topics).await.error,
        ErrorCode::UnsupportedAssignor
    );
    bad.server_assignor = None;
    bad.subscribed_topic_names = None;
    assert_eq!(
        c.consumer_heartbeat(bad.clone(), &topics).await.error,
        ErrorCode::InvalidRequest
    );
    // An empty list joins, subscribed to nothing (Kafka 4): no assignment yet.
    let mut empty = Client::new("e").params();
    empty.subscribed_topic_names = Some(vec![]);
    let joined = c.consumer_heartbeat(empty, &topics).await;
    assert_eq!(joined.error, ErrorCode::None);
    let nothing = |a: &Assignment| a.values().all(BTreeSet::is_empty);
    assert!(joined.assignment.as_ref().is_none_or(nothing), "{joined:?}");
    let mut gone = Client::new("e").params();
    gone.member_epoch = -1;
    gone.subscribed_topic_names = None;
    assert_eq!(
        c.consumer_heartbeat(gone, &topics).await.error,
        ErrorCode::None
    );
    bad.member_id = String::new();
    bad.subscribed_topic_names = Some(vec!["t".into()]);
    assert_eq!(
        c.consumer_heartbeat(bad, &topics).await.error,
        ErrorCode::InvalidRequest,
        "v1 needs a member id"
    );
    // group.consumer.max.size is 3 here.
    for id in ["b", "c"] {
        Client::new(id).heartbeat(&c).await;
    }
    assert_eq!(
        Client::new("d").heartbeat(&c).await.error,
        ErrorCode::GroupMaxSizeReached
    );
    // A heartbeat for a group that does not exist.
    let mut other = a.params();
    other.group_id = "nope".into();
    assert_eq!(
        c.consumer_heartbeat(other, &topics).await.error,
        ErrorCode::GroupIdNotFound
    );
}

#[tokio::test]
async fn classic_and_consumer_groups_do_not_mix() {
    let (c, _log, _clock) = harness();
    Client::new("a").heartbeat(&c).await;
    let join = classic_join("");
    assert_eq!(
        c.join(join.clone()).await.error,
        ErrorCode::InconsistentGroupProtocol
    );
    // A non-empty classic group refuses a KIP-848 member.
    let classic = JoinParams {
        group_id: "classic".into(),
        ..join
    };
    let joined = c.join(classic).await;
    assert_eq!(joined.error, ErrorCode::None);
    let mut p = Client::new("z").params();
    p.group_id = "classic".into();
    assert_eq!(
        c.consumer_heartbeat(p, &topics).await.error,
        ErrorCode::GroupIdNotFound
    );
    let kinds: Vec<(String, &str)> = c
        .list_typed()
        .into_iter()
        .map(|(id, _, _, k)| (id, k))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("cg".to_string(), "consumer"),
            ("classic".to_string(), "classic")
        ]
    );
}

#[tokio::test]
async fn offset_commits_carry_the_member_epoch() {
    let (c, _log, _clock) = harness();
    let mut a = Client::new("a");
    a.heartbeat(&c).await;
    let offset = |n| commit_of(0, n);
    assert_eq!(
        c.commit_at_version(GROUP, a.epoch, "a", None, offset(5), 9)
            .await,
        ErrorCode::None
    );
    assert_eq!(
        c.commit_at_version(GROUP, a.epoch + 1, "a", None, offset(6), 9)
            .await,
        ErrorCode::StaleMemberEpoch
    );
    assert_eq!(
        c.commit_at_version(GROUP, a.epoch, "a", None, offset(6), 8)
            .await,
        ErrorCode::UnsupportedVersion
    );
    assert_eq!(
        c.commit_at_version(GROUP, a.epoch, "b", None, offset(6), 9)
            .await,
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        c.commit_at_version(GROUP, -1, "", None, offset(6), 9).await,
        ErrorCode::UnknownMemberId,
        "not while it has members"
    );
    assert_eq!(c.check_offset_fetch(GROUP, Some("a"), a.epoch), None);
    assert_eq!(
        c.check_offset_fetch(GROUP, Some("a"), a.epoch - 1),
        Some(ErrorCode::StaleMemberEpoch)
    );
    assert_eq!(c.check_offset_fetch(GROUP, None, -1), None);
    let fetched = c.fetch_offsets(GROUP, Some(vec![("t".into(), vec![0])]));
    assert_eq!(fetched[0].1[0].1.as_ref().map(|v| v.offset), Some(5));
}

#[tokio::test]
async fn silent_members_are_fenced_after_the_session_timeout() {
    let (c, log, clock) = harness();
    let mut a = Client::new("a");
    let mut b = Client::new("b");
    a.heartbeat(&c).await;
    b.heartbeat(&c).await;
    clock.advance(Duration::from_secs(30));
    a.heartbeat(&c).await;
    c.tick().await;
    assert_eq!(
        c.describe_consumer_group(GROUP).unwrap().members.len(),
        2,
        "b is within its session"
    );
    clock.advance(Duration::from_secs(20));
    a.heartbeat(&c).await;
    c.tick().await;
    let d = c.describe_consumer_group(GROUP).unwrap();
    assert_eq!(
        d.members
            .iter()
            .map(|m| m.member_id.as_str())
            .collect::<Vec<_>>(),
        vec!["a"]
    );
    // b's heartbeat now fails; a gets all six partitions.
    assert_eq!(b.heartbeat(&c).await.error, ErrorCode::UnknownMemberId);
    settle(&c, std::slice::from_mut(&mut a)).await;
    assert_eq!(a.count(), 6);
    // The fencing is durable: a replay has a alone.
    let again = GroupCoordinator::new(config(), log, clock).unwrap();
    assert_eq!(
        again.describe_consumer_group(GROUP).unwrap().members.len(),
        1
    );
}

#[tokio::test]
async fn a_member_that_does_not_revoke_is_fenced_after_its_rebalance_timeout() {
    let (c, _log, clock) = harness();
    let mut a = Client::new("a");
    a.heartbeat(&c).await;
    let mut b = Client::new("b");
    b.heartbeat(&c).await;
    // a is told to revoke, but keeps reporting all six partitions.
    let mut p = a.params();
    p.owned = Some(a.owned.clone());
    c.consumer_heartbeat(p.clone(), &topics).await;
    clock.advance(Duration::from_secs(31));
    let r = c.consumer_heartbeat(p, &topics).await;
    assert_eq!(
        r.error,
        ErrorCode::None,
        "within its session it may still heartbeat"
    );
    c.tick().await;
    assert_eq!(
        c.describe_consumer_group(GROUP).unwrap().members.len(),
        1,
        "a was fenced"
    );
    settle(&c, std::slice::from_mut(&mut b)).await;
    assert_eq!(b.count(), 6);
}

#[tokio::test]
async fn a_static_member_comes_back_to_its_partitions_without_a_rebalance() {
    let (c, log, clock) = harness();
    let static_params = |cl: &Client| HeartbeatParams {
        instance_id: (cl.epoch == 0).then(|| "i1".to_string()),
        ..cl.params()
    };
    let mut a = Client::new("a1");
    let r = c.consumer_heartbeat(static_params(&a), &topics).await;
    a.epoch = r.member_epoch;
    a.owned = r.assignment.unwrap();
    let mut clients = vec![a, Client::new("b")];
    settle(&c, &mut clients).await;
    let before = c.describe_consumer_group(GROUP).unwrap();
    let a_parts = clients[0].owned.clone();
    assert_eq!(a_parts.values().map(BTreeSet::len).sum::<usize>(), 3);

    // a leaves for now (−2): it keeps its place and partitions.
    let mut leave = clients[0].params();
    leave.member_epoch = -2;
    leave.instance_id = Some("i1".into());
    let r = c.consumer_heartbeat(leave, &topics).await;
    assert_eq!((r.error, r.member_epoch), (ErrorCode::None, -2));
    settle(&c, &mut clients[1..]).await;
    assert_eq!(clients[1].count(), 3, "b is not given a's partitions");

    // Its next incarnation takes over: same partitions, same group epoch.
    let mut a2 = Client::new("a2");
    let r = c.consumer_heartbeat(static_params(&a2), &topics).await;
    assert_eq!(r.error, ErrorCode::None);
    a2.epoch = r.member_epoch;
    a2.owned = r.assignment.unwrap();
    assert_eq!(a2.owned, a_parts);
    let after = c.describe_consumer_group(GROUP).unwrap();
    assert_eq!(after.epoch, before.epoch, "no rebalance");
    assert_eq!(
        after
            .members
            .iter()
            .map(|m| m.member_id.as_str())
            .collect::<Vec<_>>(),
        vec!["a2", "b"]
    );

    // While a2 holds i1, another incarnation is refused; a1 is fenced by instance id.
    let a3 = Client::new("a3");
    let r = c.consumer_heartbeat(static_params(&a3), &topics).await;
    assert_eq!(r.error, ErrorCode::UnreleasedInstanceId);
    let mut stale = clients[0].params();
    stale.instance_id = Some("i1".into());
    stale.member_epoch = a2.epoch;
    assert_eq!(
        c.consumer_heartbeat(stale, &topics).await.error,
        ErrorCode::FencedInstanceId
    );

    // The replacement is durable.
    let again = GroupCoordinator::new(config(), log, clock).unwrap();
    let replayed = again.describe_consumer_group(GROUP).unwrap();
    assert_eq!(replayed.members[0].member_id, "a2");
    assert_eq!(replayed.members[0].assignment, a_parts);
}
