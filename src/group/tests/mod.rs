//! Unit tests of the group coordinator on the coordinator runtime: no sockets, an in-memory
//! log that can be told to fail, and a fake clock moved by hand.

mod failures;
mod membership;
mod offsets;
mod txn_offsets;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::api::{GroupConfig, JoinParams, SyncParams};
use super::coordinator::GroupCoordinator;
use super::state::{GroupState, JoinResult, SyncResult};
use crate::coordinator::clock::FakeClock;
use crate::coordinator::log::MemoryLog;
use crate::error::ErrorCode;

const GROUP: &str = "g";
/// Session timeout of every test member.
const SESSION: Duration = Duration::from_secs(10);

/// A coordinator with its log and clock.
struct Harness {
    coord: Arc<GroupCoordinator>,
    log: Arc<MemoryLog>,
    clock: Arc<FakeClock>,
}

fn config() -> GroupConfig {
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

impl Harness {
    fn new() -> Harness {
        let log = Arc::new(MemoryLog::new());
        let clock = Arc::new(FakeClock::new());
        let coord = GroupCoordinator::new(config(), log.clone(), clock.clone()).unwrap();
        Harness {
            coord: Arc::new(coord),
            log,
            clock,
        }
    }

    /// A second coordinator rebuilt from this one's log, as after a restart.
    fn replayed(&self) -> GroupCoordinator {
        GroupCoordinator::new(config(), self.log.clone(), self.clock.clone()).unwrap()
    }

    fn state(&self) -> GroupState {
        self.coord
            .describe(GROUP)
            .map(|d| d.state)
            .unwrap_or(GroupState::Dead)
    }

    fn generation(&self) -> i32 {
        self.coord
            .runtime
            .read(|s| s.group(GROUP).map(|g| g.generation).unwrap_or(-1))
    }

    fn members(&self) -> Vec<String> {
        self.coord
            .describe(GROUP)
            .map(|d| d.members.into_iter().map(|m| m.member_id).collect())
            .unwrap_or_default()
    }

    fn is_waiting_on_sync(&self, member: &str) -> bool {
        self.coord.runtime.read(|s| {
            s.group(GROUP)
                .and_then(|g| g.members.get(member))
                .is_some_and(|m| m.sync_waiter.is_some())
        })
    }

    async fn join(&self, member: &str, instance: Option<&str>) -> JoinResult {
        self.coord.join(join_params(member, instance, false)).await
    }

    /// JoinGroup in the background (it waits for the rest of the group).
    fn join_later(&self, member: &str) -> tokio::task::JoinHandle<JoinResult> {
        let (coord, p) = (self.coord.clone(), join_params(member, None, false));
        tokio::spawn(async move { coord.join(p).await })
    }

    async fn sync(
        &self,
        member: &str,
        generation: i32,
        assignments: &[(&str, &str)],
    ) -> SyncResult {
        self.coord
            .sync(sync_params(member, generation, assignments))
            .await
    }

    fn sync_later(&self, member: &str, generation: i32) -> tokio::task::JoinHandle<SyncResult> {
        let (coord, p) = (self.coord.clone(), sync_params(member, generation, &[]));
        tokio::spawn(async move { coord.sync(p).await })
    }

    async fn heartbeat(&self, member: &str, generation: i32) -> ErrorCode {
        self.coord.heartbeat(GROUP, member, None, generation).await
    }

    /// One member joined and synced: returns its id (generation 1, Stable).
    async fn single_member_group(&self, instance: Option<&str>) -> String {
        let r = self.join("", instance).await;
        assert_eq!(r.error, ErrorCode::None);
        let a = r.member_id;
        let s = self.sync(&a, 1, &[(&a, "asg-a")]).await;
        assert_eq!(s.error, ErrorCode::None);
        a
    }

    /// Two members, A the leader, after the rebalance B's arrival caused: `(a, b)`, Stable
    /// in generation 2 with assignments "a2" and "b2".
    async fn two_member_group(&self) -> (String, String) {
        let a = self.single_member_group(None).await;
        let b_join = self.join_later("");
        until(|| self.state() == GroupState::PreparingRebalance).await;
        assert_eq!(self.heartbeat(&a, 1).await, ErrorCode::RebalanceInProgress);
        let ra = self.join(&a, None).await;
        let rb = b_join.await.unwrap();
        assert_eq!((ra.error, rb.error), (ErrorCode::None, ErrorCode::None));
        assert_eq!((ra.generation, rb.generation), (2, 2));
        let b = rb.member_id;
        let b_sync = self.sync_later(&b, 2);
        until(|| self.is_waiting_on_sync(&b)).await;
        let sa = self.sync(&a, 2, &[(&a, "a2"), (&b, "b2")]).await;
        assert_eq!(sa.assignment, Bytes::from_static(b"a2"));
        assert_eq!(b_sync.await.unwrap().assignment, Bytes::from_static(b"b2"));
        (a, b)
    }
}

fn join_params(member: &str, instance: Option<&str>, v4: bool) -> JoinParams {
    JoinParams {
        group_id: GROUP.into(),
        member_id: member.into(),
        instance_id: instance.map(str::to_string),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION.as_millis() as i32,
        rebalance_timeout_ms: 5_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"subscription"))],
        require_known_member_id: v4,
    }
}

fn sync_params(member: &str, generation: i32, assignments: &[(&str, &str)]) -> SyncParams {
    SyncParams {
        group_id: GROUP.into(),
        member_id: member.into(),
        instance_id: None,
        generation,
        protocol_type: None,
        protocol: None,
        assignments: assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::copy_from_slice(a.as_bytes())))
            .collect(),
    }
}

/// Lets background tasks run until `cond` holds (panics after many rounds instead of hanging).
async fn until(cond: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}
