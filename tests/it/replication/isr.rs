//! The ISR on a live cluster: a paused follower is shrunk out after `replica.lag.time.max.ms`
//! and expands back once it catches up; min.insync.replicas refuses acks=all while the ISR is
//! too small and holds the high watermark for acks=1 writes (Kafka ≥ 3.7, KAFKA-15583).

use super::{create, state_where, three_nodes, values, Net, PATIENCE};
use crate::support::replicas::{self, index_of};
use crate::support::{raw, wait_for, RawClient};

const NOT_ENOUGH_REPLICAS: i16 = 19;
const REQUEST_TIMED_OUT: i16 = 7;

#[test]
fn a_paused_follower_leaves_the_isr_and_comes_back_with_every_record() {
    // The session outlasts the lag, so the shrink is the leader's lag check, not fencing.
    let mut c = three_nodes(&[
        ("replica.lag.time.max.ms", "1500"),
        ("broker.session.timeout.ms", "8000"),
    ]);
    let topic = "lag";
    create(&c, topic, 1, 3, &[("min.insync.replicas", "2")]);
    let s = state_where(&c, topic, 0, "a leader", |s| s.leader >= 0);
    let addr = c.broker_addr(index_of(&c, s.leader));
    let follower = (0..3).find(|&i| c.id(i) != s.leader).expect("a follower");
    let fid = c.id(follower);
    let a = values("a", 10);
    assert_eq!(
        replicas::produce(&addr, topic, 0, replicas::batch(&a), -1),
        Some((0, 0))
    );

    c.pause(follower);
    // A follower at the leader's log end is never out of sync (Kafka's rule): a write it
    // cannot fetch makes it lag.
    assert_eq!(
        replicas::produce(&addr, topic, 0, replicas::batch(&values("a1", 1)), 1),
        Some((0, 10))
    );
    let shrunk = state_where(&c, topic, 0, "the paused follower out of the ISR", |s| {
        s.isr.len() == 2 && !s.isr.contains(&fid)
    });
    assert_eq!(
        shrunk.leader, s.leader,
        "an ISR change is not a leader change"
    );
    assert_eq!(
        shrunk.leader_epoch, s.leader_epoch,
        "nor a new leader epoch"
    );
    let b = values("b", 10);
    assert_eq!(
        replicas::produce(&addr, topic, 0, replicas::batch(&b), -1),
        Some((0, 11)),
        "acks=all with two of three in the ISR"
    );

    c.resume(follower);
    state_where(&c, topic, 0, "the follower back in the ISR", |s| {
        s.isr.len() == 3
    });
    let want = replicas::segments(c.data_dir(index_of(&c, s.leader)), topic, 0);
    wait_for("the follower's log to equal the leader's", PATIENCE, || {
        (replicas::segments(c.data_dir(follower), topic, 0) == want).then_some(())
    });
    let batches = replicas::batches(c.data_dir(follower), topic, 0);
    assert_eq!(
        batches.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(),
        [(0, 9), (10, 10), (11, 20)]
    );
}

#[test]
fn below_min_isr_acks_all_is_refused_and_acks_1_waits_below_the_high_watermark() {
    let net = Net::start(&[]);
    let c = &net.cluster;
    let topic = "minisr";
    wait_for("minisr created", PATIENCE, || {
        let cfg = [("min.insync.replicas", "2")];
        matches!(
            replicas::create_assigned(&c.broker_addr(0), topic, &[1, 2, 3], &cfg),
            Some(0) | Some(36)
        )
        .then_some(())
    });
    state_where(c, topic, 0, "leader 1 with a full ISR", |s| {
        s.leader == 1 && s.isr.len() == 3
    });
    let leader = index_of(c, 1);
    let addr = c.broker_addr(leader);
    assert_eq!(
        replicas::produce(&addr, topic, 0, replicas::batch(&values("a", 5)), -1),
        Some((0, 0))
    );
    let hw = |addr: &str| replicas::latest(addr, topic, 0);
    assert_eq!(hw(&addr), Some((0, 5)));

    // Neither follower can fetch: an acks=1 write is appended but the HW stays below it,
    // and the followers, lagging, are shrunk out of the ISR.
    net.cut_fetches_from(leader, true);
    assert_eq!(
        replicas::produce(&addr, topic, 0, replicas::batch(&values("b", 4)), 1),
        Some((0, 5))
    );
    state_where(c, topic, 0, "the ISR down to the leader", |s| s.isr == [1]);
    let refused = replicas::produce(&addr, topic, 0, replicas::batch(&values("x", 3)), -1);
    assert_eq!(refused.map(|r| r.0), Some(NOT_ENOUGH_REPLICAS));
    assert_eq!(
        hw(&addr),
        Some((0, 5)),
        "the HW does not pass an ISR below min.insync"
    );
    let (visible, fetch_hw) = replicas::read_all(&addr, topic, 0).expect("fetch");
    assert_eq!(fetch_hw, 5);
    assert_eq!(visible.len(), 5, "consumers see nothing above the HW");

    // The followers fetch again: they rejoin, the HW passes the acks=1 records.
    net.cut_fetches_from(leader, false);
    state_where(c, topic, 0, "the followers back in the ISR", |s| {
        s.isr.len() == 3
    });
    wait_for("the HW past the acks=1 records", PATIENCE, || {
        (hw(&addr) == Some((0, 9))).then_some(())
    });
    let (log, _) = replicas::read_all(&addr, topic, 0).expect("fetch");
    let want: Vec<String> = values("a", 5).into_iter().chain(values("b", 4)).collect();
    assert_eq!(log.into_iter().map(|r| r.1).collect::<Vec<_>>(), want);
    assert_eq!(
        replicas::produce(&addr, topic, 0, replicas::batch(&values("c", 1)), -1),
        Some((0, 9)),
        "acks=all accepted again"
    );
}

#[test]
fn a_retried_idempotent_batch_is_not_acknowledged_before_it_is_committed() {
    let net = Net::start(&[]);
    let c = &net.cluster;
    let topic = "dupwait";
    wait_for("dupwait created", PATIENCE, || {
        let cfg = [("min.insync.replicas", "2")];
        matches!(
            replicas::create_assigned(&c.broker_addr(0), topic, &[1, 2, 3], &cfg),
            Some(0) | Some(36)
        )
        .then_some(())
    });
    state_where(c, topic, 0, "leader 1 with a full ISR", |s| {
        s.leader == 1 && s.isr.len() == 3
    });
    let leader = index_of(c, 1);
    let addr = c.broker_addr(leader);
    let pid = raw::init_producer_id(&mut RawClient::connect(&addr), None);
    let b = raw::encode_batch(&[(None, "once")], Some((pid.0, pid.1, 0)), raw::now_ms());

    // The followers cannot fetch: the batch is appended but never committed.
    net.cut_fetches_from(leader, true);
    // Short request timeouts: both answers come while the ISR is still full (the followers
    // are shrunk out only after replica.lag.time.max.ms).
    let quick = || {
        let req = raw::produce_request(topic, 0, b.clone(), -1).with_timeout_ms(300);
        replicas::call(&addr, &req, 9).map(|r| r.responses[0].partition_responses[0].error_code)
    };
    assert_eq!(quick(), Some(REQUEST_TIMED_OUT));
    // The producer retries it: a duplicate of an uncommitted batch is not an
    // acknowledgement (Kafka waits for the duplicate's offsets to be committed too).
    let retry = quick();
    assert!(
        retry != Some(0),
        "an uncommitted duplicate was acknowledged: {retry:?}"
    );

    net.cut_fetches_from(leader, false);
    let acked = wait_for("the retry acknowledged once committed", PATIENCE, || {
        replicas::produce(&addr, topic, 0, b.clone(), -1).filter(|r| r.0 == 0)
    });
    assert_eq!(acked, (0, 0), "the original offset");
    let (log, hw) = replicas::read_all(&addr, topic, 0).expect("fetch");
    assert_eq!((log, hw), (vec![(0, "once".to_string())], 1));
}
