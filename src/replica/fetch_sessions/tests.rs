//! The cache's eviction rules and the incremental response rules, without sockets.

use super::*;

fn params(offset: i64) -> FetchParams {
    FetchParams {
        fetch_offset: offset,
        max_bytes: 1024,
        current_leader_epoch: -1,
        last_fetched_epoch: -1,
        log_start_offset: -1,
    }
}

fn key(p: i32) -> PartitionKey {
    ("t".to_string(), p)
}

fn sent(hw: i64) -> PartitionOutcome {
    PartitionOutcome {
        high_watermark: hw,
        log_start_offset: 0,
        ..Default::default()
    }
}

fn parts(n: i32) -> Vec<(PartitionKey, CachedPartition)> {
    (0..n)
        .map(|p| (key(p), CachedPartition::answered(params(0), &sent(0))))
        .collect()
}

fn incremental(
    cache: &FetchSessionCache,
    id: i32,
    epoch: i32,
    now: u64,
) -> (SharedSession, Vec<PartitionKey>) {
    match cache.begin(id, epoch, now, vec![], &[]) {
        Begin::Incremental {
            session,
            partitions,
            ..
        } => (session, partitions.into_iter().map(|(k, _)| k).collect()),
        _ => panic!("not incremental"),
    }
}

#[test]
fn errors_and_epochs() {
    let cache = FetchSessionCache::new(10);
    let id = cache.maybe_create(0, false, parts(2));
    assert!(id > 0);
    assert!(matches!(
        cache.begin(id + 1, 1, 0, vec![], &[]),
        Begin::Error(SESSION_ID_NOT_FOUND)
    ));
    assert!(matches!(
        cache.begin(id, 2, 0, vec![], &[]),
        Begin::Error(INVALID_SESSION_EPOCH)
    ));
    // A wrong epoch keeps the session: the right one still works, then the next.
    incremental(&cache, id, 1, 0);
    incremental(&cache, id, 2, 0);
    assert!(matches!(
        cache.begin(id, 2, 0, vec![], &[]),
        Begin::Error(INVALID_SESSION_EPOCH)
    ));
    // A full request naming the session closes it.
    assert!(matches!(
        cache.begin(id, -1, 0, vec![], &[]),
        Begin::Sessionless
    ));
    assert!(!cache.contains(id));
    assert_eq!(next_epoch(i32::MAX), 1);
}

#[test]
fn forgetting_every_partition_closes_the_session() {
    let cache = FetchSessionCache::new(10);
    let id = cache.maybe_create(0, false, parts(2));
    assert!(matches!(
        cache.begin(id, 1, 0, vec![], &[key(0), key(1)]),
        Begin::Sessionless
    ));
    assert!(cache.is_empty());
}

#[test]
fn updates_add_at_the_end_and_forget() {
    let cache = FetchSessionCache::new(10);
    let id = cache.maybe_create(0, false, parts(3));
    let fetch = vec![(key(7), params(5)), (key(1), params(9))];
    let Begin::Incremental { partitions, .. } = cache.begin(id, 1, 0, fetch, &[key(0)]) else {
        panic!()
    };
    let got: Vec<(i32, i64)> = partitions
        .iter()
        .map(|(k, p)| (k.1, p.fetch_offset))
        .collect();
    assert_eq!(got, vec![(1, 9), (2, 0), (7, 5)]);
}

#[test]
fn incremental_rules_and_rotation() {
    let cache = FetchSessionCache::new(10);
    let id = cache.maybe_create(0, false, parts(4));
    let (session, order) = incremental(&cache, id, 1, 0);
    assert_eq!(order, vec![key(0), key(1), key(2), key(3)]);
    let mut with_data = sent(0);
    with_data.record_bytes = 100;
    let mut err = sent(0);
    err.error_code = 6;
    let outcomes = vec![
        (key(0), sent(0)),   // nothing changed
        (key(1), with_data), // records
        (key(2), sent(3)),   // high watermark moved
        (key(3), err),       // error
    ];
    let keep = session.lock().unwrap().respond(&outcomes);
    assert_eq!(keep, vec![false, true, true, true]);
    let (session, order) = incremental(&cache, id, 2, 0);
    // Partition 1 returned records: it goes last.
    assert_eq!(order, vec![key(0), key(2), key(3), key(1)]);
    // The same answers again: only the errored partition (its cached HW was reset), and
    // partition 3 comes back once its error clears.
    let again = vec![
        (key(0), sent(0)),
        (key(2), sent(3)),
        (key(3), err),
        (key(1), sent(0)),
    ];
    assert_eq!(
        session.lock().unwrap().respond(&again),
        vec![false, false, true, false]
    );
    let cleared = vec![(key(3), sent(0))];
    assert_eq!(session.lock().unwrap().respond(&cleared), vec![true]);
    let mut diverging = sent(0);
    diverging.diverging = true;
    assert_eq!(
        session.lock().unwrap().respond(&[(key(0), diverging)]),
        vec![true]
    );
}

#[test]
fn full_cache_refuses_an_equal_consumer_session() {
    let cache = FetchSessionCache::new(1);
    let a = cache.maybe_create(0, false, parts(3));
    assert!(a > 0);
    // Not stale, and created too recently to be evictable by a consumer.
    assert_eq!(cache.maybe_create(1_000, false, parts(5)), 0);
    assert!(cache.contains(a));
}

#[test]
fn a_stale_session_is_evicted() {
    let cache = FetchSessionCache::new(1);
    let a = cache.maybe_create(0, false, parts(3));
    let b = cache.maybe_create(EVICTION_MS + 1, false, parts(1));
    assert!(b > 0);
    assert!(!cache.contains(a));
    assert!(cache.contains(b));
}

#[test]
fn a_follower_evicts_a_consumer_session() {
    let cache = FetchSessionCache::new(1);
    let a = cache.maybe_create(0, false, parts(30));
    let f = cache.maybe_create(10, true, parts(1));
    assert!(f > 0 && !cache.contains(a));
    // A consumer cannot evict the follower's session, however large.
    assert_eq!(cache.maybe_create(20, false, parts(100)), 0);
    // Nor can another follower with no more partitions.
    assert_eq!(cache.maybe_create(30, true, parts(1)), 0);
    assert!(cache.contains(f));
}

#[test]
fn an_old_session_is_evicted_by_a_larger_one_only() {
    let cache = FetchSessionCache::new(1);
    let a = cache.maybe_create(0, false, parts(3));
    // Used recently (not stale) but created long ago: evictable by value, once touched.
    incremental(&cache, a, 1, EVICTION_MS + 10);
    assert_eq!(cache.maybe_create(EVICTION_MS + 20, false, parts(3)), 0);
    let b = cache.maybe_create(EVICTION_MS + 30, false, parts(4));
    assert!(b > 0 && !cache.contains(a));
}

#[test]
fn zero_slots_caches_nothing() {
    let cache = FetchSessionCache::new(0);
    assert_eq!(cache.maybe_create(0, true, parts(3)), 0);
}
