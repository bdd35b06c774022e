//! The server-side assignors of KIP-848 consumer groups (`group.consumer.assignors`): pure
//! functions from the members' subscriptions, the subscribed topics' metadata and the previous
//! target assignment to the next target assignment.
//!
//! - `uniform` (Kafka's UniformAssignor): every partition goes to a member subscribed to its
//!   topic, the counts are balanced (no member holds two more than another that could take
//!   one of its partitions), and partitions stay where the previous target put them whenever
//!   balance allows, so a member joining or leaving moves as few partitions as possible;
//! - `range` (Kafka's RangeAssignor): per topic, the subscribed members sorted by id take
//!   consecutive ranges, the first `partitions % members` one partition more.
//!
//! Both are deterministic: the same input gives the same assignment on every node.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::records::Assignment;

/// The assignor names gregor knows, in `group.consumer.assignors` spelling.
pub const ASSIGNORS: &[&str] = &["uniform", "range"];

/// What an assignor needs of one member.
#[derive(Debug, Clone)]
pub struct MemberSpec<'a> {
    pub id: &'a str,
    pub topics: &'a [String],
    /// The member's previous target assignment (stickiness).
    pub previous: Option<&'a Assignment>,
}

/// Subscribed topics that exist: name → (topic id, partition count).
pub type TopicsMeta = BTreeMap<String, (Uuid, i32)>;

/// Runs the named assignor (`uniform` when the name is unknown).
pub fn assign(
    name: &str,
    members: &[MemberSpec],
    topics: &TopicsMeta,
) -> BTreeMap<String, Assignment> {
    match name {
        "range" => range(members, topics),
        _ => uniform(members, topics),
    }
}

fn add(out: &mut BTreeMap<String, Assignment>, member: &str, topic: Uuid, p: i32) {
    out.entry(member.to_string())
        .or_default()
        .entry(topic)
        .or_default()
        .insert(p);
}

/// Kafka's RangeAssignor (see the module doc).
pub fn range(members: &[MemberSpec], topics: &TopicsMeta) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    for (name, (id, count)) in topics {
        let mut subs: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.iter().any(|t| t == name))
            .map(|m| m.id)
            .collect();
        if subs.is_empty() {
            continue;
        }
        subs.sort_unstable();
        let (n, m) = (*count as usize, subs.len());
        let (each, extra) = (n / m, n % m);
        let mut next = 0usize;
        for (i, member) in subs.iter().enumerate() {
            let take = each + usize::from(i < extra);
            for p in next..next + take {
                add(&mut out, member, *id, p as i32);
            }
            next += take;
        }
    }
    out
}

/// Kafka's UniformAssignor, sticky and balanced (see the module doc).
pub fn uniform(members: &[MemberSpec], topics: &TopicsMeta) -> BTreeMap<String, Assignment> {
    let by_id: BTreeMap<&str, BTreeSet<&str>> = members
        .iter()
        .map(|m| (m.id, m.topics.iter().map(String::as_str).collect()))
        .collect();
    let subscribed =
        |member: &str, topic: &str| by_id.get(member).is_some_and(|t| t.contains(topic));
    // Every partition to place: (topic name, id, partition).
    let all: Vec<(&str, Uuid, i32)> = topics
        .iter()
        .filter(|(name, _)| by_id.values().any(|t| t.contains(name.as_str())))
        .flat_map(|(name, (id, n))| (0..*n).map(move |p| (name.as_str(), *id, p)))
        .collect();
    let name_of: BTreeMap<Uuid, &str> = topics
        .iter()
        .map(|(n, (id, _))| (*id, n.as_str()))
        .collect();
    let mut owner: BTreeMap<(Uuid, i32), &str> = BTreeMap::new();
    let mut held: BTreeMap<&str, BTreeSet<(&str, Uuid, i32)>> =
        members.iter().map(|m| (m.id, BTreeSet::new())).collect();
    // 1. Stickiness: a partition stays with its previous member if still valid.
    for m in members {
        for (topic, parts) in m.previous.into_iter().flatten() {
            let (Some(name), Some((_, n))) = (
                name_of.get(topic),
                name_of.get(topic).and_then(|n| topics.get(*n)),
            ) else {
                continue;
            };
            if !subscribed(m.id, name) {
                continue;
            }
            for p in parts.iter().filter(|p| **p >= 0 && **p < *n) {
                if owner.insert((*topic, *p), m.id).is_none() {
                    held.entry(m.id).or_default().insert((name, *topic, *p));
                }
            }
        }
    }
    // 2. Unplaced partitions go to the least loaded subscribed member.
    for (name, id, p) in &all {
        if owner.contains_key(&(*id, *p)) {
            continue;
        }
        let best = held
            .iter()
            .filter(|(m, _)| subscribed(m, name))
            .min_by_key(|(m, h)| (h.len(), **m))
            .map(|(m, _)| *m);
        if let Some(m) = best {
            owner.insert((*id, *p), m);
            held.entry(m).or_default().insert((name, *id, *p));
        }
    }
    // 3. Balance: move a partition from the most to a less loaded member that can take it,
    //    while that narrows the gap.
    loop {
        let mut moved = false;
        let mut order: Vec<&str> = held.keys().copied().collect();
        order.sort_by_key(|m| (std::cmp::Reverse(held[m].len()), *m));
        'outer: for from in &order {
            let from_len = held[from].len();
            let candidates: Vec<(&str, Uuid, i32)> = held[from].iter().rev().copied().collect();
            for part in candidates {
                let to = held
                    .iter()
                    .filter(|(m, h)| *m != from && h.len() + 1 < from_len && subscribed(m, part.0))
                    .min_by_key(|(m, h)| (h.len(), **m))
                    .map(|(m, _)| *m);
                if let Some(to) = to {
                    if let Some(h) = held.get_mut(from) {
                        h.remove(&part);
                    }
                    held.entry(to).or_default().insert(part);
                    moved = true;
                    break 'outer;
                }
            }
        }
        if !moved {
            break;
        }
    }
    held.into_iter()
        .map(|(m, parts)| {
            let mut a = Assignment::new();
            for (_, id, p) in parts {
                a.entry(id).or_default().insert(p);
            }
            (m.to_string(), a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    fn topics(list: &[(&str, u128, i32)]) -> TopicsMeta {
        list.iter()
            .map(|(n, id, c)| (n.to_string(), (t(*id), *c)))
            .collect()
    }

    #[test]
    fn range_gives_consecutive_ranges_per_topic() {
        let subs = vec!["a".to_string()];
        let ms = [
            MemberSpec {
                id: "m2",
                topics: &subs,
                previous: None,
            },
            MemberSpec {
                id: "m1",
                topics: &subs,
                previous: None,
            },
        ];
        let out = range(&ms, &topics(&[("a", 1, 5)]));
        assert_eq!(out["m1"][&t(1)], [0, 1, 2].into());
        assert_eq!(out["m2"][&t(1)], [3, 4].into());
    }

    #[test]
    fn uniform_balances_six_partitions_over_three_and_is_sticky() {
        let subs = vec!["a".to_string()];
        let meta = topics(&[("a", 1, 6)]);
        let three: Vec<MemberSpec> = ["m1", "m2", "m3"]
            .iter()
            .map(|id| MemberSpec {
                id,
                topics: &subs,
                previous: None,
            })
            .collect();
        let first = uniform(&three, &meta);
        assert!(first.values().all(|a| count(a) == 2), "{first:?}");
        let all: BTreeSet<i32> = first
            .values()
            .flat_map(|a| a[&t(1)].iter().copied())
            .collect();
        assert_eq!(all.len(), 6);
        // m3 leaves: m1 and m2 keep theirs and split m3's.
        let two: Vec<MemberSpec> = ["m1", "m2"]
            .iter()
            .map(|id| MemberSpec {
                id,
                topics: &subs,
                previous: first.get(*id),
            })
            .collect();
        let second = uniform(&two, &meta);
        for m in ["m1", "m2"] {
            assert_eq!(count(&second[m]), 3);
            assert!(first[m][&t(1)].is_subset(&second[m][&t(1)]), "sticky: {m}");
        }
    }

    #[test]
    fn uniform_respects_heterogeneous_subscriptions() {
        let (ab, b) = (
            vec!["a".to_string(), "b".to_string()],
            vec!["b".to_string()],
        );
        let ms = [
            MemberSpec {
                id: "m1",
                topics: &ab,
                previous: None,
            },
            MemberSpec {
                id: "m2",
                topics: &b,
                previous: None,
            },
        ];
        let out = uniform(&ms, &topics(&[("a", 1, 2), ("b", 2, 2), ("c", 3, 4)]));
        assert_eq!(
            out["m2"].keys().collect::<Vec<_>>(),
            vec![&t(2)],
            "m2 only gets b"
        );
        assert_eq!(
            count(&out["m1"]) + count(&out["m2"]),
            4,
            "c has no subscriber"
        );
        assert_eq!(count(&out["m2"]), 2);
    }
}
