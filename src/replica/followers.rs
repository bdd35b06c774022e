//! What a partition leader knows about each follower replica, from its fetches — Kafka's
//! `Replica.ReplicaState`: the follower's log end offset (its fetch offset), its log start,
//! when it last fetched, and when it was last caught up with the leader.
//!
//! The caught-up rule (Kafka's `Replica.updateFetchStateOrThrow` and `isCaughtUp`):
//! - a fetch at or past the leader's log end (as it was when the fetch was served) makes the
//!   follower caught up at the fetch time;
//! - a fetch at or past the leader log end seen at the *previous* fetch makes it caught up at
//!   the previous fetch time (it had everything the leader had back then);
//! - `lastCaughtUpTimeMs` never goes backwards;
//! - a follower is caught up when its log end equals the leader's or it was caught up within
//!   `replica.lag.time.max.ms`.
//!
//! On becoming leader every state is reset ([`Followers::reset`]): offsets unknown, and a
//! follower in the ISR counts as caught up now (so it is not dropped before its first fetch).
//!
//! This module only records; the ISR changes are decided from it by [`super::isr`], and the
//! high watermark reads the followers' log ends from here.
//!
//! Thread-safety: none of its own; the replica keeps it behind a mutex.

use std::collections::HashMap;

/// Kafka's `UnifiedLog.UnknownOffset`.
pub const UNKNOWN_OFFSET: i64 = -1;

/// One follower as its fetches show it (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerState {
    /// The follower's log end offset: the offset of its latest fetch.
    pub log_end_offset: i64,
    /// The log start offset the follower reported.
    pub log_start_offset: i64,
    /// The leader's log end offset when the latest fetch was served.
    pub last_fetch_leader_end: i64,
    pub last_fetch_ms: i64,
    pub last_caught_up_ms: i64,
}

impl FollowerState {
    fn unknown(last_caught_up_ms: i64) -> FollowerState {
        FollowerState {
            log_end_offset: UNKNOWN_OFFSET,
            log_start_offset: UNKNOWN_OFFSET,
            last_fetch_leader_end: UNKNOWN_OFFSET,
            last_fetch_ms: 0,
            last_caught_up_ms,
        }
    }

    /// Whether the follower is caught up with a leader whose log ends at `leader_end`.
    pub fn is_caught_up(&self, leader_end: i64, now_ms: i64, max_lag_ms: i64) -> bool {
        self.log_end_offset == leader_end || now_ms - self.last_caught_up_ms <= max_lag_ms
    }
}

/// The states of a leader's followers, by broker id (see the module doc).
#[derive(Debug, Clone, Default)]
pub struct Followers {
    states: HashMap<i32, FollowerState>,
}

impl Followers {
    /// A new leadership: one unknown state per follower; those in `isr` caught up at `now_ms`,
    /// the others never.
    pub fn reset(&mut self, followers: &[i32], isr: &[i32], now_ms: i64) {
        self.states = followers
            .iter()
            .map(|&id| {
                let caught_up = if isr.contains(&id) { now_ms } else { 0 };
                (id, FollowerState::unknown(caught_up))
            })
            .collect();
    }

    /// The assignment changed without a new leadership: new followers start unknown, removed
    /// ones are forgotten, the others keep their state.
    pub fn retain_assigned(&mut self, followers: &[i32]) {
        self.states.retain(|id, _| followers.contains(id));
        for &id in followers {
            self.states
                .entry(id)
                .or_insert_with(|| FollowerState::unknown(0));
        }
    }

    /// Records a fetch from `id` at `fetch_offset`, served when the leader's log ended at
    /// `leader_end`. Returns false when `id` is not a follower of this partition.
    pub fn record_fetch(
        &mut self,
        id: i32,
        fetch_offset: i64,
        follower_start: i64,
        leader_end: i64,
        now_ms: i64,
    ) -> bool {
        let Some(s) = self.states.get_mut(&id) else {
            return false;
        };
        if fetch_offset >= leader_end {
            s.last_caught_up_ms = s.last_caught_up_ms.max(now_ms);
        } else if s.last_fetch_leader_end != UNKNOWN_OFFSET
            && fetch_offset >= s.last_fetch_leader_end
        {
            s.last_caught_up_ms = s.last_caught_up_ms.max(s.last_fetch_ms);
        }
        s.log_end_offset = fetch_offset;
        s.log_start_offset = follower_start;
        s.last_fetch_leader_end = leader_end;
        s.last_fetch_ms = now_ms;
        true
    }

    pub fn get(&self, id: i32) -> Option<FollowerState> {
        self.states.get(&id).copied()
    }

    /// Every follower's state, by broker id.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &FollowerState)> {
        self.states.iter().map(|(id, s)| (*id, s))
    }

    pub fn contains(&self, id: i32) -> bool {
        self.states.contains_key(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_follows_kafkas_rule() {
        let mut f = Followers::default();
        f.reset(&[2, 3], &[2], 1_000);
        assert_eq!(f.get(2).unwrap().last_caught_up_ms, 1_000, "in the ISR");
        assert_eq!(f.get(3).unwrap().last_caught_up_ms, 0, "not in the ISR");
        assert_eq!(f.get(2).unwrap().log_end_offset, UNKNOWN_OFFSET);
        assert!(!f.record_fetch(7, 0, 0, 10, 1_100), "not a follower");

        // Behind the leader's end of 10: not caught up by this fetch.
        assert!(f.record_fetch(3, 4, 0, 10, 2_000));
        let s = f.get(3).unwrap();
        assert_eq!((s.log_end_offset, s.last_caught_up_ms), (4, 0));
        assert!(!s.is_caught_up(10, 2_000, 500));
        // It reaches what the leader had at the previous fetch (10) while the leader moved on
        // to 15: caught up as of the previous fetch time.
        assert!(f.record_fetch(3, 10, 0, 15, 3_000));
        assert_eq!(f.get(3).unwrap().last_caught_up_ms, 2_000);
        assert!(f.get(3).unwrap().is_caught_up(15, 2_400, 500));
        assert!(!f.get(3).unwrap().is_caught_up(15, 3_000, 500));
        // At the leader's end: caught up now, and by log end whatever the time.
        assert!(f.record_fetch(3, 15, 0, 15, 4_000));
        let s = f.get(3).unwrap();
        assert_eq!((s.log_end_offset, s.last_caught_up_ms), (15, 4_000));
        assert!(s.is_caught_up(15, 100_000, 500));
        // lastCaughtUp never goes back.
        assert!(f.record_fetch(3, 15, 0, 15, 3_500));
        assert_eq!(f.get(3).unwrap().last_caught_up_ms, 4_000);
    }

    #[test]
    fn assignment_changes_keep_known_states() {
        let mut f = Followers::default();
        f.reset(&[2], &[2], 10);
        f.record_fetch(2, 5, 0, 5, 20);
        f.retain_assigned(&[2, 4]);
        assert_eq!(f.get(2).unwrap().log_end_offset, 5);
        assert_eq!(f.get(4).unwrap().log_end_offset, UNKNOWN_OFFSET);
        f.retain_assigned(&[4]);
        assert!(!f.contains(2));
    }
}
