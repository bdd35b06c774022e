//! The checker on hand-made histories: a clean one passes, and each violation of issue 13's
//! list is found (and only that one).

use super::history::{check, Event, History, Op, Violation};

/// A small history under construction: events get increasing timestamps.
#[derive(Default)]
struct H(History);

impl H {
    fn push(mut self, op: Op) -> Self {
        let at_ms = self.0.events.len() as u64;
        self.0.events.push(Event { at_ms, op });
        self
    }
    fn send(self, v: &str, p: i32) -> Self {
        self.push(Op::SendInvoke {
            value: v.into(),
            partition: p,
        })
    }
    fn ok(self, v: &str, p: i32, o: i64) -> Self {
        self.push(Op::SendOk {
            value: v.into(),
            partition: p,
            offset: o,
        })
    }
    fn sent(self, v: &str, p: i32, o: i64) -> Self {
        self.send(v, p).ok(v, p, o)
    }
    fn poll(self, c: &str, p: i32, o: i64, v: &str) -> Self {
        self.push(Op::Poll {
            consumer: c.into(),
            partition: p,
            offset: o,
            value: v.into(),
        })
    }
    fn assign(self, c: &str, ps: &[i32], from: Option<i64>) -> Self {
        self.push(Op::Assign {
            consumer: c.into(),
            partitions: ps.to_vec(),
            from,
        })
    }
    fn latest(self, p: i32, o: i64) -> Self {
        self.push(Op::Latest {
            partition: p,
            offset: o,
        })
    }
    fn final_log(mut self, p: i32, values: &[&str]) -> Self {
        let log = values
            .iter()
            .enumerate()
            .map(|(o, v)| (o as i64, v.to_string()))
            .collect();
        self.0.final_log.insert(p, log);
        self
    }
    fn violations(self) -> Vec<Violation> {
        check(&self.0).violations
    }
}

/// Three acked sends on two partitions, a group consumer reassigned once (it re-reads from its
/// committed offset, allowed), a reader from the beginning, an unknown send that landed and
/// one that did not, a failed send nobody saw, ListOffsets never going back.
fn clean() -> H {
    H::default()
        .assign("reader", &[0, 1], Some(0))
        .assign("g0", &[0], None)
        .sent("a", 0, 0)
        .latest(0, 1)
        .poll("reader", 0, 0, "a")
        .poll("g0", 0, 0, "a")
        .sent("b", 0, 1)
        .send("u1", 0)
        .push(Op::SendUnknown {
            value: "u1".into(),
            why: "timed out".into(),
        })
        .send("u2", 1)
        .push(Op::SendUnknown {
            value: "u2".into(),
            why: "timed out".into(),
        })
        .send("f", 1)
        .push(Op::SendFailed {
            value: "f".into(),
            why: "too large".into(),
        })
        .sent("c", 1, 0)
        .latest(0, 3)
        .latest(0, 3)
        .latest(1, 1)
        .poll("g0", 0, 1, "b")
        .assign("g0", &[0], None)
        .poll("g0", 0, 1, "b")
        .poll("g0", 0, 2, "u1")
        .poll("reader", 1, 0, "c")
        .final_log(0, &["a", "b", "u1"])
        .final_log(1, &["c"])
}

#[test]
fn a_clean_history_passes() {
    let h = clean();
    let r = check(&h.0);
    assert_eq!(r.violations, vec![]);
    assert_eq!(
        (r.sends, r.acked, r.failed, r.unknown, r.unknown_landed),
        (6, 3, 1, 2, 1)
    );
    assert_eq!((r.polls, r.assignments, r.final_records), (6, 3, 4));
}

#[test]
fn a_lost_acked_write_is_found() {
    let v = H::default()
        .sent("a", 0, 0)
        .sent("b", 0, 1)
        .final_log(0, &["a"])
        .violations();
    assert_eq!(
        v,
        vec![Violation::LostAckedWrite {
            value: "b".into(),
            partition: 0,
            offset: 1
        }]
    );
}

#[test]
fn acknowledgements_without_an_offset_pair_with_nothing_but_must_not_be_lost() {
    // librdkafka's implicit acknowledgement: offset −1001, twice on one partition.
    let clean = H::default()
        .sent("a", 0, -1001)
        .sent("b", 0, -1001)
        .sent("c", 0, 2)
        .final_log(0, &["a", "b", "c"])
        .violations();
    assert_eq!(clean, vec![]);
    let lost = H::default()
        .sent("a", 0, -1001)
        .sent("b", 0, 1)
        .final_log(0, &["x", "b"])
        .violations();
    assert_eq!(
        lost,
        vec![Violation::LostAckedWrite {
            value: "a".into(),
            partition: 0,
            offset: -1001
        }]
    );
}

#[test]
fn two_values_at_one_offset_are_found() {
    // Acked at 0 twice (a truncated-and-rewritten offset); the final log kept the second.
    let v = H::default()
        .sent("a", 0, 0)
        .sent("b", 0, 0)
        .final_log(0, &["b", "a"])
        .violations();
    assert!(v.contains(&Violation::TwoValuesAtOffset {
        partition: 0,
        offset: 0,
        values: vec!["a".into(), "b".into()],
    }));
}

#[test]
fn one_value_at_two_offsets_is_found() {
    // A retried send appended twice: idempotence broken.
    let v = H::default()
        .sent("a", 0, 0)
        .final_log(0, &["a", "a"])
        .violations();
    assert!(v.contains(&Violation::ValueAtTwoOffsets {
        value: "a".into(),
        at: vec![(0, 0), (0, 1)],
    }));
}

#[test]
fn a_consumer_skipping_is_found() {
    let v = H::default()
        .assign("g0", &[0], None)
        .poll("g0", 0, 0, "a")
        .poll("g0", 0, 2, "c")
        .final_log(0, &["a", "b", "c"])
        .violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(matches!(
        &v[0],
        Violation::Skip {
            after: Some(0),
            expected: 1,
            got: 2,
            ..
        }
    ));
}

#[test]
fn a_reader_from_the_beginning_must_start_at_the_first_offset() {
    let v = H::default()
        .assign("reader", &[0], Some(0))
        .poll("reader", 0, 1, "b")
        .final_log(0, &["a", "b"])
        .violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(matches!(
        &v[0],
        Violation::Skip {
            after: None,
            expected: 0,
            got: 1,
            ..
        }
    ));
}

#[test]
fn a_consumer_going_backwards_without_a_reassignment_is_found() {
    let h = H::default()
        .assign("g0", &[0], None)
        .poll("g0", 0, 0, "a")
        .poll("g0", 0, 1, "b")
        .poll("g0", 0, 0, "a")
        .final_log(0, &["a", "b"]);
    let v = h.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(matches!(
        &v[0],
        Violation::Backwards {
            after: 1,
            got: 0,
            ..
        }
    ));
    // The same re-read after a reassignment is allowed.
    let v = H::default()
        .assign("g0", &[0], None)
        .poll("g0", 0, 0, "a")
        .poll("g0", 0, 1, "b")
        .assign("g0", &[0], None)
        .poll("g0", 0, 0, "a")
        .final_log(0, &["a", "b"])
        .violations();
    assert_eq!(v, vec![]);
}

#[test]
fn a_definitely_failed_send_being_read_is_found() {
    let v = H::default()
        .send("f", 0)
        .push(Op::SendFailed {
            value: "f".into(),
            why: "refused".into(),
        })
        .assign("g0", &[0], Some(0))
        .poll("g0", 0, 0, "f")
        .final_log(0, &["f"])
        .violations();
    assert!(v.contains(&Violation::FailedSendRead {
        value: "f".into(),
        by: "g0".into()
    }));
    assert!(v.contains(&Violation::FailedSendRead {
        value: "f".into(),
        by: "the final read".into()
    }));
    assert_eq!(v.len(), 2, "{v:?}");
}

#[test]
fn list_offsets_latest_going_backwards_is_found() {
    let v = H::default()
        .latest(0, 5)
        .latest(1, 2)
        .latest(0, 4)
        .latest(0, 6)
        .violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(matches!(
        &v[0],
        Violation::LatestBackwards {
            partition: 0,
            from: 5,
            to: 4,
            ..
        }
    ));
}

#[test]
fn reads_that_are_not_a_prefix_of_the_final_log_are_found() {
    // Read a value the final log holds elsewhere (a divergent tail that was truncated and
    // rewritten), and one past its end (read, then lost).
    let v = H::default()
        .assign("g0", &[0], Some(0))
        .poll("g0", 0, 0, "a")
        .poll("g0", 0, 1, "x")
        .poll("g0", 0, 2, "y")
        .final_log(0, &["a", "b"])
        .violations();
    let not_final: Vec<_> = v
        .iter()
        .filter_map(|x| match x {
            Violation::NotInFinalLog {
                offset,
                final_value,
                ..
            } => Some((*offset, final_value.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(not_final, vec![(1, Some("b".to_string())), (2, None)]);
}

#[test]
fn an_unacknowledged_value_missing_from_the_final_log_is_fine() {
    let v = H::default()
        .send("u", 0)
        .push(Op::SendUnknown {
            value: "u".into(),
            why: "timed out".into(),
        })
        .send("pending", 0)
        .final_log(0, &[])
        .violations();
    assert_eq!(v, vec![]);
}
