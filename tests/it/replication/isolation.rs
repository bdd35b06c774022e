//! A partition leader cut off from every other node (proxies on its fetch and controller
//! links) keeps taking acks=1 writes it can never replicate; the controller fences it and
//! elects a follower; on healing the old leader truncates its divergent tail by leader epoch
//! (KIP-101/279) and every replica holds the same records: the acks=all writes, never the
//! orphaned acks=1 ones.

use super::{state_on, state_where, values, Net, PATIENCE};
use crate::support::replicas::{self, index_of};
use crate::support::wait_for;

#[test]
fn an_isolated_leader_is_fenced_and_truncates_its_unreplicated_writes() {
    let net = Net::start(&[]);
    let c = &net.cluster;
    let topic = "iso";
    // The partition's leader is not the quorum leader, so the quorum keeps a majority.
    let quorum = wait_for("a quorum leader", PATIENCE, || {
        replicas::quorum_leader(&c.broker_addr(0))
    });
    let mut ids: Vec<i32> = (0..3).map(|i| c.id(i)).collect();
    ids.sort_by_key(|&id| id == quorum);
    let old = ids[0];
    wait_for("iso created", PATIENCE, || {
        let cfg = [("min.insync.replicas", "2")];
        matches!(
            replicas::create_assigned(&c.broker_addr(0), topic, &ids, &cfg),
            Some(0) | Some(36)
        )
        .then_some(())
    });
    // Asked of the leader itself: another node may have applied the topic before it.
    let li = index_of(c, old);
    let first = state_on(
        c,
        &[li],
        topic,
        0,
        "the chosen leader with a full ISR",
        |s| s.leader == old && s.isr.len() == 3,
    );
    let old_addr = c.broker_addr(li);
    let pre = values("pre", 10);
    assert_eq!(
        replicas::produce(&old_addr, topic, 0, replicas::batch(&pre), -1),
        Some((0, 0))
    );

    net.isolate(li, true);
    // Still leader in its own eyes: acks=1 lands in its log, acks=all is never acknowledged.
    let orphans = values("orphan", 5);
    assert_eq!(
        replicas::produce(&old_addr, topic, 0, replicas::batch(&orphans), 1),
        Some((0, 10))
    );
    let stuck = replicas::produce(
        &old_addr,
        topic,
        0,
        replicas::batch(&values("stuck", 2)),
        -1,
    );
    assert!(
        !matches!(stuck, Some((0, _))),
        "an isolated leader acknowledged acks=all: {stuck:?}"
    );

    // The others fence it and elect a follower, which takes acks=all writes.
    let new = state_where(c, topic, 0, "a new leader", |s| {
        s.leader >= 0 && s.leader != old
    });
    assert!(new.leader_epoch > first.leader_epoch, "{new:?}");
    let new_addr = c.broker_addr(index_of(c, new.leader));
    let post = values("post", 10);
    let acked = wait_for("acks=all on the new leader", PATIENCE, || {
        replicas::produce(&new_addr, topic, 0, replicas::batch(&post), -1).filter(|r| r.0 == 0)
    });
    assert_eq!(
        acked.1, 10,
        "the new leader's log ends with the replicated writes"
    );

    // Healed: the old leader follows, truncates by epoch and catches up.
    net.isolate(li, false);
    state_where(c, topic, 0, "the old leader back in the ISR", |s| {
        s.leader == new.leader && s.isr.len() == 3
    });
    let leader_dir = c.data_dir(index_of(c, new.leader)).to_path_buf();
    wait_for(
        "every replica's log to equal the new leader's",
        PATIENCE,
        || {
            let want = replicas::segments(&leader_dir, topic, 0);
            (0..3)
                .all(|i| replicas::segments(c.data_dir(i), topic, 0) == want)
                .then_some(())
        },
    );
    let (log, hw) = replicas::read_all(&new_addr, topic, 0).expect("fetch");
    let want: Vec<(i64, String)> = pre
        .iter()
        .chain(&post)
        .cloned()
        .enumerate()
        .map(|(i, v)| (i as i64, v))
        .collect();
    assert_eq!(log, want, "acks=all writes survive, the orphans are gone");
    assert_eq!(hw, 20);
    let epochs: Vec<i32> = replicas::batches(c.data_dir(li), topic, 0)
        .iter()
        .map(|b| b.2)
        .collect();
    assert_eq!(epochs, [first.leader_epoch, new.leader_epoch], "{epochs:?}");
}
