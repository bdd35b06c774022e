//! The Jepsen-style history checker: pure data in, violations out (no I/O, no clock), so the
//! workload, a replayed history file and hand-made unit histories are checked the same way.
//!
//! A [`History`] is the ordered list of what the clients saw ([`Op`]: sends invoked and their
//! outcome, consumer reads, consumer (re)assignments, `ListOffsets(latest)` observations), plus
//! the *final log*: every partition read in full from its start after the faults healed.
//! Values are unique per send (producer id + sequence), which is what makes the checks
//! possible. [`check`] reports, exactly issue 13's list:
//! - a lost acked write: a value acknowledged (send ok) but absent from the final log;
//! - two values at one offset (over acks, reads and the final log);
//! - one value at two offsets (the producers are idempotent, so a retry must not duplicate);
//! - a consumer skipping or going backwards without a reassignment: within one assignment of
//!   a partition, each read must be at the offset that follows the previous read in the final
//!   log (and the first one at the final log's first offset at or above the assignment's
//!   start, when the start is known);
//! - a definitely-failed send being read (by a consumer or in the final log);
//! - `ListOffsets(latest)` going backwards for a partition;
//! - a consumer's reads not forming a prefix of the final log: every read must find the same
//!   value at the same offset in the final log (with the no-skip rule, each assignment's reads
//!   are then one contiguous run of the final log).
//!
//! Outcomes that prove nothing are not violations: an unknown send (timeout, lost connection)
//! may or may not be in the log; an acked value must be there.
//!
//! Events must be in the order they happened for one observer (one consumer, the offsets
//! poller); between observers the order does not matter to any check.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// A partition of the workload's one topic.
pub type Partition = i32;

/// What a client did or saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A producer handed `value` to its client for `partition`.
    SendInvoke { value: String, partition: Partition },
    /// The send was acknowledged at this offset (acks=all); negative when the client
    /// acknowledged it without one (librdkafka's implicit acknowledgement).
    SendOk {
        value: String,
        partition: Partition,
        offset: i64,
    },
    /// The send certainly did not reach the log (an error that proves it).
    SendFailed { value: String, why: String },
    /// The send's outcome is unknown (timeout, ambiguous error): it may be in the log.
    SendUnknown { value: String, why: String },
    /// `consumer` read `value` at `partition`/`offset`.
    Poll {
        consumer: String,
        partition: Partition,
        offset: i64,
        value: String,
    },
    /// `consumer` now owns `partitions`; its position there is new. `from`: the offset it
    /// starts at, when known (an `assign()` from the beginning: `Some(0)`).
    Assign {
        consumer: String,
        partitions: Vec<Partition>,
        from: Option<i64>,
    },
    /// `consumer` no longer owns `partitions`.
    Revoke {
        consumer: String,
        partitions: Vec<Partition>,
    },
    /// `ListOffsets(latest)` answered `offset` for `partition`.
    Latest { partition: Partition, offset: i64 },
}

/// One timestamped observation (milliseconds since the run started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at_ms: u64,
    pub op: Op,
}

/// Everything the checker needs.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub events: Vec<Event>,
    /// Per partition, the full log read at the end: (offset, value) in offset order.
    pub final_log: BTreeMap<Partition, Vec<(i64, String)>>,
}

/// One broken guarantee, with what is needed to find it in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    LostAckedWrite {
        value: String,
        partition: Partition,
        offset: i64,
    },
    TwoValuesAtOffset {
        partition: Partition,
        offset: i64,
        values: Vec<String>,
    },
    ValueAtTwoOffsets {
        value: String,
        at: Vec<(Partition, i64)>,
    },
    Skip {
        consumer: String,
        partition: Partition,
        after: Option<i64>,
        expected: i64,
        got: i64,
        at_ms: u64,
    },
    Backwards {
        consumer: String,
        partition: Partition,
        after: i64,
        got: i64,
        at_ms: u64,
    },
    FailedSendRead {
        value: String,
        by: String,
    },
    LatestBackwards {
        partition: Partition,
        from: i64,
        to: i64,
        at_ms: u64,
    },
    NotInFinalLog {
        consumer: String,
        partition: Partition,
        offset: i64,
        value: String,
        final_value: Option<String>,
    },
}

impl Violation {
    /// The name of the check that found it (for counts by kind).
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::LostAckedWrite { .. } => "lost acked write",
            Violation::TwoValuesAtOffset { .. } => "two values at one offset",
            Violation::ValueAtTwoOffsets { .. } => "one value at two offsets",
            Violation::Skip { .. } => "consumer skipped",
            Violation::Backwards { .. } => "consumer went backwards",
            Violation::FailedSendRead { .. } => "failed send read",
            Violation::LatestBackwards { .. } => "ListOffsets(latest) backwards",
            Violation::NotInFinalLog { .. } => "read not in the final log",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::LostAckedWrite { value, partition, offset } => write!(
                f,
                "lost acked write: {value} acked at {partition}/{offset} is not in the final log"
            ),
            Violation::TwoValuesAtOffset { partition, offset, values } => {
                write!(f, "two values at {partition}/{offset}: {values:?}")
            }
            Violation::ValueAtTwoOffsets { value, at } => {
                write!(f, "one value at several offsets: {value} at {at:?}")
            }
            Violation::Skip { consumer, partition, after, expected, got, at_ms } => write!(
                f,
                "{consumer} skipped on partition {partition} at {at_ms} ms: after {after:?} read {got}, expected {expected}"
            ),
            Violation::Backwards { consumer, partition, after, got, at_ms } => write!(
                f,
                "{consumer} went backwards on partition {partition} at {at_ms} ms without a reassignment: {after} then {got}"
            ),
            Violation::FailedSendRead { value, by } => {
                write!(f, "definitely-failed send {value} was read by {by}")
            }
            Violation::LatestBackwards { partition, from, to, at_ms } => write!(
                f,
                "ListOffsets(latest) of partition {partition} went backwards at {at_ms} ms: {from} then {to}"
            ),
            Violation::NotInFinalLog { consumer, partition, offset, value, final_value } => write!(
                f,
                "{consumer} read {value} at {partition}/{offset}, the final log has {final_value:?} there"
            ),
        }
    }
}

/// Counts of what happened, and every violation found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub sends: usize,
    pub acked: usize,
    pub failed: usize,
    pub unknown: usize,
    /// Unknown sends found in the final log (they did land).
    pub unknown_landed: usize,
    pub polls: usize,
    pub assignments: usize,
    pub latest_observations: usize,
    pub final_records: usize,
    pub violations: Vec<Violation>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sends {} (acked {}, failed {}, unknown {} of which {} landed), polls {}, assignments {}, \
             ListOffsets {}, final log {} records, violations {}",
            self.sends,
            self.acked,
            self.failed,
            self.unknown,
            self.unknown_landed,
            self.polls,
            self.assignments,
            self.latest_observations,
            self.final_records,
            self.violations.len()
        )
    }
}

/// Checks `h` (see the module doc).
pub fn check(h: &History) -> Report {
    let mut r = Report::default();
    let final_at: HashMap<(Partition, i64), &str> = h
        .final_log
        .iter()
        .flat_map(|(p, recs)| recs.iter().map(move |(o, v)| ((*p, *o), v.as_str())))
        .collect();
    let final_values: HashMap<&str, (Partition, i64)> =
        final_at.iter().map(|(po, v)| (*v, *po)).collect();
    r.final_records = final_at.len();

    // Every (partition, offset) ↔ value pairing anyone observed.
    let mut at_offset: BTreeMap<(Partition, i64), BTreeSet<&str>> = BTreeMap::new();
    let mut offsets_of: BTreeMap<&str, BTreeSet<(Partition, i64)>> = BTreeMap::new();
    let mut pairs: Vec<(Partition, i64, &str)> =
        final_at.iter().map(|((p, o), v)| (*p, *o, *v)).collect();
    let mut failed: BTreeSet<&str> = BTreeSet::new();
    let mut unknown: BTreeSet<&str> = BTreeSet::new();
    let mut acked: Vec<(&str, Partition, i64)> = Vec::new();
    for e in &h.events {
        match &e.op {
            Op::SendInvoke { .. } => r.sends += 1,
            Op::SendOk {
                value,
                partition,
                offset,
            } => {
                r.acked += 1;
                acked.push((value, *partition, *offset));
                // librdkafka acknowledges implicitly, without an offset (−1001), the
                // messages of a request whose outcome it lost once a later request of the
                // same producer succeeded: acknowledged, but at no known offset.
                if *offset >= 0 {
                    pairs.push((*partition, *offset, value));
                }
            }
            Op::SendFailed { value, .. } => {
                r.failed += 1;
                failed.insert(value);
            }
            Op::SendUnknown { value, .. } => {
                r.unknown += 1;
                unknown.insert(value);
            }
            Op::Poll {
                partition,
                offset,
                value,
                ..
            } => {
                r.polls += 1;
                pairs.push((*partition, *offset, value));
            }
            Op::Assign { .. } => r.assignments += 1,
            Op::Revoke { .. } => {}
            Op::Latest { .. } => r.latest_observations += 1,
        }
    }
    for (p, o, v) in pairs {
        at_offset.entry((p, o)).or_default().insert(v);
        offsets_of.entry(v).or_default().insert((p, o));
    }
    r.unknown_landed = unknown
        .iter()
        .filter(|v| final_values.contains_key(*v))
        .count();

    for (value, partition, offset) in acked {
        if !final_values.contains_key(value) {
            r.violations.push(Violation::LostAckedWrite {
                value: value.to_string(),
                partition,
                offset,
            });
        }
    }
    for ((partition, offset), values) in &at_offset {
        if values.len() > 1 {
            r.violations.push(Violation::TwoValuesAtOffset {
                partition: *partition,
                offset: *offset,
                values: values.iter().map(|v| v.to_string()).collect(),
            });
        }
    }
    for (value, at) in &offsets_of {
        if at.len() > 1 {
            r.violations.push(Violation::ValueAtTwoOffsets {
                value: value.to_string(),
                at: at.iter().copied().collect(),
            });
        }
    }
    for v in &failed {
        if final_values.contains_key(v) {
            r.violations.push(Violation::FailedSendRead {
                value: v.to_string(),
                by: "the final read".into(),
            });
        }
    }
    check_consumers(h, &final_at, &failed, &mut r.violations);
    check_latest(h, &mut r.violations);
    r
}

/// Where one consumer stands on one partition within its current assignment.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// The last offset read in this assignment, if any.
    last: Option<i64>,
    /// The known start of this assignment (before any read).
    from: Option<i64>,
}

/// The offset the final log holds after `o` (or `o + 1` if it has nothing beyond).
fn successor(final_log: Option<&Vec<(i64, String)>>, o: i64) -> i64 {
    let Some(log) = final_log else { return o + 1 };
    let i = log.partition_point(|(off, _)| *off <= o);
    log.get(i).map_or(o + 1, |(off, _)| *off)
}

/// The final log's first offset at or above `o` (or `o` itself if it has none).
fn first_at_or_after(final_log: Option<&Vec<(i64, String)>>, o: i64) -> i64 {
    let Some(log) = final_log else { return o };
    let i = log.partition_point(|(off, _)| *off < o);
    log.get(i).map_or(o, |(off, _)| *off)
}

fn check_consumers(
    h: &History,
    final_at: &HashMap<(Partition, i64), &str>,
    failed: &BTreeSet<&str>,
    out: &mut Vec<Violation>,
) {
    let mut pos: HashMap<(&str, Partition), Position> = HashMap::new();
    for e in &h.events {
        match &e.op {
            Op::Assign {
                consumer,
                partitions,
                from,
            } => {
                for p in partitions {
                    pos.insert(
                        (consumer, *p),
                        Position {
                            last: None,
                            from: *from,
                        },
                    );
                }
            }
            Op::Revoke {
                consumer,
                partitions,
            } => {
                for p in partitions {
                    pos.remove(&(consumer.as_str(), *p));
                }
            }
            Op::Poll {
                consumer,
                partition,
                offset,
                value,
            } => {
                let p = *partition;
                if failed.contains(value.as_str()) {
                    out.push(Violation::FailedSendRead {
                        value: value.clone(),
                        by: consumer.clone(),
                    });
                }
                let in_final = final_at.get(&(p, *offset)).copied();
                if in_final != Some(value.as_str()) {
                    out.push(Violation::NotInFinalLog {
                        consumer: consumer.clone(),
                        partition: p,
                        offset: *offset,
                        value: value.clone(),
                        final_value: in_final.map(str::to_string),
                    });
                }
                let log = h.final_log.get(&p);
                let here = pos.entry((consumer, p)).or_insert(Position {
                    last: None,
                    from: None,
                });
                match (here.last, here.from) {
                    (Some(last), _) if *offset <= last => out.push(Violation::Backwards {
                        consumer: consumer.clone(),
                        partition: p,
                        after: last,
                        got: *offset,
                        at_ms: e.at_ms,
                    }),
                    (Some(last), _) => {
                        let expected = successor(log, last);
                        if *offset != expected {
                            out.push(Violation::Skip {
                                consumer: consumer.clone(),
                                partition: p,
                                after: Some(last),
                                expected,
                                got: *offset,
                                at_ms: e.at_ms,
                            });
                        }
                    }
                    (None, Some(from)) => {
                        let expected = first_at_or_after(log, from);
                        if *offset != expected {
                            out.push(Violation::Skip {
                                consumer: consumer.clone(),
                                partition: p,
                                after: None,
                                expected,
                                got: *offset,
                                at_ms: e.at_ms,
                            });
                        }
                    }
                    (None, None) => {}
                }
                // A consumer that went backwards is followed from where it now is.
                here.last = Some(*offset);
            }
            _ => {}
        }
    }
}

fn check_latest(h: &History, out: &mut Vec<Violation>) {
    let mut latest: HashMap<Partition, i64> = HashMap::new();
    for e in &h.events {
        if let Op::Latest { partition, offset } = &e.op {
            let seen = latest.entry(*partition).or_insert(*offset);
            if *offset < *seen {
                out.push(Violation::LatestBackwards {
                    partition: *partition,
                    from: *seen,
                    to: *offset,
                    at_ms: e.at_ms,
                });
            }
            *seen = (*seen).max(*offset);
        }
    }
}

/// One line per event, tab-separated, for the run's history file (and a human reading it).
pub fn render(e: &Event) -> String {
    let body = match &e.op {
        Op::SendInvoke { value, partition } => format!("invoke\t{value}\t{partition}"),
        Op::SendOk {
            value,
            partition,
            offset,
        } => format!("ok\t{value}\t{partition}\t{offset}"),
        Op::SendFailed { value, why } => format!("failed\t{value}\t{why}"),
        Op::SendUnknown { value, why } => format!("unknown\t{value}\t{why}"),
        Op::Poll {
            consumer,
            partition,
            offset,
            value,
        } => {
            format!("poll\t{consumer}\t{partition}\t{offset}\t{value}")
        }
        Op::Assign {
            consumer,
            partitions,
            from,
        } => {
            format!("assign\t{consumer}\t{partitions:?}\t{from:?}")
        }
        Op::Revoke {
            consumer,
            partitions,
        } => format!("revoke\t{consumer}\t{partitions:?}"),
        Op::Latest { partition, offset } => format!("latest\t{partition}\t{offset}"),
    };
    format!("{}\t{body}", e.at_ms)
}
