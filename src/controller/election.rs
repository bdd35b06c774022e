//! Partition leader election as Kafka's controller does it (`PartitionChangeBuilder`),
//! as pure functions over broker ids, so the rules are tested apart from any image.
//!
//! - [`elect`] (`electAnyLeader`): the current leader stays if it is still acceptable (in
//!   the target ISR and active); else the first replica, in assignment order, that is in the
//!   target ISR and active; else, only when unclean election is enabled, the first active
//!   replica (the ISR becomes that replica alone: KIP-704's RECOVERING leader); else no
//!   leader (−1), and the ISR is kept as given.
//! - [`elect_preferred`] (`electPreferredLeader`, ElectLeaders PREFERRED and the leader
//!   imbalance task): the preferred replica if acceptable; else the current leader if it
//!   still is (no change); else the first other replica in the ISR and active; else −1.
//! - [`without_broker`]: an ISR with a fenced or shut-down broker taken out; without eligible
//!   leader replicas (KIP-966, off by default) the ISR never becomes empty, so its last member
//!   stays even when it is the one leaving.
//!
//! "Active" is the caller's predicate (registered, not fenced, not shutting down), so
//! fencing, controlled shutdown and AlterPartition share one rule set.
//!
//! Thread-safety: pure functions.

/// Kafka's `LeaderConstants.NO_LEADER`.
pub const NO_LEADER: i32 = -1;

/// The outcome of [`elect`]: the leader (or [`NO_LEADER`]), the ISR that goes with it, and
/// whether the leader came from outside the ISR (unclean).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Election {
    pub leader: i32,
    pub isr: Vec<i32>,
    pub unclean: bool,
}

/// Kafka's `electAnyLeader` (see the module doc). `replicas` in assignment order,
/// `target_isr` the ISR the change leads to, `current` the leader now (−1 if none).
pub fn elect(
    replicas: &[i32],
    target_isr: &[i32],
    current: i32,
    is_active: impl Fn(i32) -> bool,
    unclean_enabled: bool,
) -> Election {
    let valid = |r: i32| target_isr.contains(&r) && is_active(r);
    let clean = |leader| Election {
        leader,
        isr: target_isr.to_vec(),
        unclean: false,
    };
    if current >= 0 && replicas.contains(&current) && valid(current) {
        return clean(current);
    }
    if let Some(&r) = replicas.iter().find(|r| valid(**r)) {
        return clean(r);
    }
    if unclean_enabled {
        if let Some(&r) = replicas.iter().find(|r| is_active(**r)) {
            return Election {
                leader: r,
                isr: vec![r],
                unclean: true,
            };
        }
    }
    clean(NO_LEADER)
}

/// Kafka's `electPreferredLeader` (see the module doc): the leader a PREFERRED election
/// gives; equal to `current` when nothing changes. Never unclean.
pub fn elect_preferred(
    replicas: &[i32],
    isr: &[i32],
    current: i32,
    is_active: impl Fn(i32) -> bool,
) -> i32 {
    let valid = |r: i32| isr.contains(&r) && is_active(r);
    match replicas.first() {
        Some(&first) if valid(first) => first,
        _ if current >= 0 && valid(current) => current,
        _ => replicas
            .iter()
            .skip(1)
            .copied()
            .find(|r| valid(*r))
            .unwrap_or(NO_LEADER),
    }
}

/// `isr` without `broker` — unless that would leave it empty (see the module doc).
pub fn without_broker(isr: &[i32], broker: i32) -> Vec<i32> {
    let rest: Vec<i32> = isr.iter().copied().filter(|r| *r != broker).collect();
    if rest.is_empty() {
        isr.to_vec()
    } else {
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(ids: &'static [i32]) -> impl Fn(i32) -> bool {
        move |r| ids.contains(&r)
    }

    #[test]
    fn an_acceptable_leader_stays() {
        let e = elect(&[1, 2, 3], &[1, 2, 3], 2, active(&[1, 2, 3]), false);
        assert_eq!(
            e,
            Election {
                leader: 2,
                isr: vec![1, 2, 3],
                unclean: false
            }
        );
    }

    #[test]
    fn else_the_first_replica_in_the_isr_and_active() {
        // 2 leads but was fenced and left the ISR: 3 is first in assignment order among the
        // ISR members that are active (1 is not active).
        let e = elect(&[1, 3, 2], &[1, 3], 2, active(&[2, 3]), false);
        assert_eq!((e.leader, e.unclean), (3, false));
        assert_eq!(e.isr, vec![1, 3]);
        // Not active any more, though still in the target ISR.
        let e = elect(&[1, 2], &[1, 2], 1, active(&[2]), false);
        assert_eq!(e.leader, 2);
    }

    #[test]
    fn no_clean_candidate_leaves_the_partition_leaderless_unless_unclean() {
        let e = elect(&[1, 2, 3], &[1], 1, active(&[2, 3]), false);
        assert_eq!(
            e,
            Election {
                leader: NO_LEADER,
                isr: vec![1],
                unclean: false
            }
        );
        let e = elect(&[1, 2, 3], &[1], 1, active(&[3, 2]), true);
        assert_eq!(
            e,
            Election {
                leader: 2,
                isr: vec![2],
                unclean: true
            }
        );
        let e = elect(&[1, 2], &[1], 1, active(&[]), true);
        assert_eq!(e.leader, NO_LEADER, "nobody active at all");
    }

    #[test]
    fn a_preferred_election_moves_to_the_first_replica_or_keeps_an_acceptable_leader() {
        assert_eq!(
            elect_preferred(&[1, 2, 3], &[1, 2, 3], 2, active(&[1, 2, 3])),
            1
        );
        // 1 not in the ISR: the current leader stays (no change).
        assert_eq!(
            elect_preferred(&[1, 2, 3], &[2, 3], 2, active(&[1, 2, 3])),
            2
        );
        // 1 fenced and no leader: the next acceptable replica.
        assert_eq!(elect_preferred(&[1, 2, 3], &[1, 3], -1, active(&[2, 3])), 3);
        assert_eq!(elect_preferred(&[1, 2], &[1], -1, active(&[2])), NO_LEADER);
    }

    #[test]
    fn the_isr_never_becomes_empty() {
        assert_eq!(without_broker(&[1, 2], 2), vec![1]);
        assert_eq!(without_broker(&[2], 2), vec![2]);
        assert_eq!(without_broker(&[1], 3), vec![1]);
    }
}
