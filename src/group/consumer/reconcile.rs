//! Moves a member's current assignment towards its target (Kafka's `CurrentAssignmentBuilder`).
//!
//! The rule that makes KIP-848 rebalances incremental and safe: a member first *revokes* the
//! partitions it holds that its target no longer gives it (it keeps its epoch and waits in
//! UNREVOKED_PARTITIONS until its heartbeat's owned partitions no longer list them); only then
//! does it move to the target epoch and get *new* partitions, and of those only the ones no
//! other member still holds or revokes (the rest wait, UNRELEASED_PARTITIONS, until their
//! previous owner has let them go). So no partition is ever owned by two members at once.

use super::group::{
    ConsumerGroup, ConsumerMember, STABLE, UNRELEASED_PARTITIONS, UNREVOKED_PARTITIONS,
};
use super::records::{Assignment, CurrentAssignment};

/// Partitions a heartbeat says the member owns (`None`: not sent in this heartbeat).
pub type Owned = Option<Assignment>;

fn owns_any(owned: &Owned, of: &Assignment) -> bool {
    let Some(owned) = owned else {
        return true;
    };
    owned
        .iter()
        .any(|(t, ps)| of.get(t).is_some_and(|r| ps.iter().any(|p| r.contains(p))))
}

/// The member's next current assignment (equal to `m.current` when nothing moves).
pub fn next(
    group: &ConsumerGroup,
    m: &ConsumerMember,
    target_epoch: i32,
    target: &Assignment,
    owned: &Owned,
) -> CurrentAssignment {
    let c = &m.current;
    match c.state {
        STABLE if c.member_epoch == target_epoch => c.clone(),
        UNREVOKED_PARTITIONS if owns_any(owned, &c.pending_revocation) => c.clone(),
        UNREVOKED_PARTITIONS => compute(group, m, c.member_epoch + 1, target_epoch, target, owned),
        _ => compute(group, m, c.member_epoch, target_epoch, target, owned),
    }
}

fn compute(
    group: &ConsumerGroup,
    m: &ConsumerMember,
    member_epoch: i32,
    target_epoch: i32,
    target: &Assignment,
    owned: &Owned,
) -> CurrentAssignment {
    let current = &m.current.assigned;
    let mut assigned = Assignment::new();
    let mut revoke = Assignment::new();
    let mut to_assign = Assignment::new();
    let mut unreleased = false;
    let topics: std::collections::BTreeSet<_> = target.keys().chain(current.keys()).collect();
    for topic in topics {
        let empty = Default::default();
        let tgt = target.get(topic).unwrap_or(&empty);
        let cur = current.get(topic).unwrap_or(&empty);
        let keep: std::collections::BTreeSet<i32> = cur.intersection(tgt).copied().collect();
        let gone: std::collections::BTreeSet<i32> = cur.difference(&keep).copied().collect();
        let mut new: std::collections::BTreeSet<i32> = tgt.difference(&keep).copied().collect();
        let before = new.len();
        new.retain(|p| group.owner_epoch(&m.id, topic, *p).is_none());
        unreleased |= new.len() != before;
        if !keep.is_empty() {
            assigned.insert(*topic, keep);
        }
        if !gone.is_empty() {
            revoke.insert(*topic, gone);
        }
        if !new.is_empty() {
            to_assign.insert(*topic, new);
        }
    }
    if !revoke.is_empty() && owns_any(owned, &revoke) {
        return CurrentAssignment {
            member_epoch,
            previous_member_epoch: previous(m, member_epoch),
            state: UNREVOKED_PARTITIONS,
            assigned,
            pending_revocation: revoke,
        };
    }
    for (t, ps) in to_assign {
        assigned.entry(t).or_default().extend(ps);
    }
    CurrentAssignment {
        member_epoch: target_epoch,
        previous_member_epoch: previous(m, target_epoch),
        state: if unreleased {
            UNRELEASED_PARTITIONS
        } else {
            STABLE
        },
        assigned,
        pending_revocation: Assignment::new(),
    }
}

/// Kafka's `updateMemberEpoch`: the previous epoch moves only when the epoch does.
fn previous(m: &ConsumerMember, new_epoch: i32) -> i32 {
    if new_epoch != m.current.member_epoch {
        m.current.member_epoch
    } else {
        m.current.previous_member_epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use uuid::Uuid;

    fn member(id: &str, epoch: i32, assigned: Assignment) -> ConsumerMember {
        ConsumerMember {
            id: id.into(),
            meta: Default::default(),
            current: CurrentAssignment {
                member_epoch: epoch,
                previous_member_epoch: epoch - 1,
                state: STABLE,
                assigned,
                pending_revocation: Default::default(),
            },
            last_heartbeat: Instant::now(),
            revocation_deadline: None,
            assignment_epochs: Default::default(),
        }
    }

    #[test]
    fn revoke_first_then_take_released_partitions() {
        let t = Uuid::from_u128(1);
        let mut g = ConsumerGroup::default();
        let a = member("a", 1, [(t, [0, 1].into())].into());
        let b = member("b", 1, Default::default());
        g.members.insert("a".into(), a.clone());
        g.members.insert("b".into(), b.clone());
        // Target epoch 2: a keeps 0, b gets 1.
        let ta: Assignment = [(t, [0].into())].into();
        let tb: Assignment = [(t, [1].into())].into();
        // b cannot take 1 while a holds it.
        let nb = next(&g, &b, 2, &tb, &Some(Default::default()));
        assert_eq!((nb.member_epoch, nb.state), (2, UNRELEASED_PARTITIONS));
        assert!(nb.assigned.is_empty());
        // a must revoke 1 first, at its old epoch.
        let owned_a = Some([(t, [0, 1].into())].into());
        let na = next(&g, &a, 2, &ta, &owned_a);
        assert_eq!((na.member_epoch, na.state), (1, UNREVOKED_PARTITIONS));
        assert_eq!(na.pending_revocation, tb);
        let mut a2 = a.clone();
        a2.current = na;
        g.members.insert("a".into(), a2.clone());
        // Still owned in the next heartbeat: no progress.
        assert_eq!(next(&g, &a2, 2, &ta, &owned_a).state, UNREVOKED_PARTITIONS);
        // Revoked: a moves to epoch 2, stable with 0.
        let na = next(&g, &a2, 2, &ta, &Some(ta.clone()));
        assert_eq!((na.member_epoch, na.state, &na.assigned), (2, STABLE, &ta));
        let mut a3 = a2.clone();
        a3.current = na;
        g.members.insert("a".into(), a3);
        // Now b gets partition 1.
        let mut b2 = b.clone();
        b2.current = nb;
        let nb = next(&g, &b2, 2, &tb, &Some(Default::default()));
        assert_eq!((nb.member_epoch, nb.state, &nb.assigned), (2, STABLE, &tb));
    }
}
