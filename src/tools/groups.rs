//! `gregor groups`: consumer groups of a running broker or cluster — classic and KIP-848
//! (`type consumer`: members with their epochs and assignments from ConsumerGroupDescribe) —
//! state, members, assignments, and committed offset, log end and lag per partition.
//!
//! As Kafka's admin client does on a cluster: groups are listed on every broker (each lists
//! the groups it coordinates), a group is described and its offsets fetched at its
//! coordinator (FindCoordinator), and log ends are asked of each partition's leader (from
//! Metadata). On one node all of these are the bootstrap broker.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::client::Client;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// `topic → partitions` of a consumer-protocol assignment, or a note when it is not one.
fn assignment(bytes: &bytes::Bytes) -> String {
    if bytes.len() < 2 {
        return "-".into();
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    let mut body = bytes.slice(2..);
    match ConsumerProtocolAssignment::decode(&mut body, version.clamp(0, 3)) {
        Ok(a) => a
            .assigned_partitions
            .iter()
            .map(|t| format!("{}{:?}", t.topic.as_str(), t.partitions))
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => format!("({} bytes)", bytes.len()),
    }
}

/// A KIP-848 group's members (ConsumerGroupDescribe): epoch, client, assignment.
fn consumer_members(out: &mut String, brokers: &mut Brokers, id: &str) -> Result<(), String> {
    let d = brokers.coordinator(id)?.call(
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(id))]),
        0,
    )?;
    for g in d.groups {
        let _ = writeln!(
            out,
            "  group epoch {}  assignment epoch {}  assignor {}",
            g.group_epoch,
            g.assignment_epoch,
            g.assignor_name.as_str()
        );
        for m in &g.members {
            let assigned: Vec<String> = m
                .assignment
                .topic_partitions
                .iter()
                .map(|t| format!("{}{:?}", t.topic_name.as_str(), t.partitions))
                .collect();
            let _ = writeln!(
                out,
                "  member {}  epoch {}  instance {}  client {}  host {}  assigned {}",
                m.member_id.as_str(),
                m.member_epoch,
                m.instance_id.as_deref().unwrap_or("-"),
                m.client_id.as_str(),
                m.client_host.as_str(),
                if assigned.is_empty() {
                    "-".to_string()
                } else {
                    assigned.join(" ")
                }
            );
        }
    }
    Ok(())
}

/// Connections to the cluster's brokers by node id, opened on first use; the bootstrap
/// connection stands for any node without a known address.
struct Brokers {
    bootstrap: Client,
    addrs: BTreeMap<i32, String>,
    open: BTreeMap<i32, Client>,
    /// Partition → leader, from Metadata.
    leaders: BTreeMap<(String, i32), i32>,
}

impl Brokers {
    fn connect(bootstrap: &str) -> Result<Brokers, String> {
        let mut c = Client::connect(bootstrap)?;
        let m = c.call(&MetadataRequest::default().with_topics(None), 1)?;
        let addrs = m
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        let leaders = m
            .topics
            .iter()
            .flat_map(|t| {
                let name = t.name.as_ref().map(|n| n.to_string()).unwrap_or_default();
                t.partitions
                    .iter()
                    .map(move |p| ((name.clone(), p.partition_index), p.leader_id.0))
            })
            .collect();
        Ok(Brokers {
            bootstrap: c,
            addrs,
            open: BTreeMap::new(),
            leaders,
        })
    }

    fn node(&mut self, id: i32) -> Result<&mut Client, String> {
        let Some(addr) = self.addrs.get(&id) else {
            return Ok(&mut self.bootstrap);
        };
        match self.open.entry(id) {
            std::collections::btree_map::Entry::Occupied(e) => Ok(e.into_mut()),
            std::collections::btree_map::Entry::Vacant(e) => Ok(e.insert(Client::connect(addr)?)),
        }
    }

    /// The coordinator of `group` (the bootstrap broker if it cannot be found).
    fn coordinator(&mut self, group: &str) -> Result<&mut Client, String> {
        let found = self
            .bootstrap
            .call(&FindCoordinatorRequest::default().with_key(sb(group)), 0)?;
        if found.error_code != 0 {
            return Ok(&mut self.bootstrap);
        }
        self.node(found.node_id.0)
    }
}

fn log_ends(
    brokers: &mut Brokers,
    partitions: &BTreeMap<String, Vec<i32>>,
) -> Result<BTreeMap<(String, i32), i64>, String> {
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for (t, ps) in partitions {
        for p in ps {
            let leader = brokers.leaders.get(&(t.clone(), *p)).copied().unwrap_or(-1);
            by_leader
                .entry(leader)
                .or_default()
                .entry(t.clone())
                .or_default()
                .push(*p);
        }
    }
    let mut out = BTreeMap::new();
    for (leader, partitions) in by_leader {
        let c = brokers.node(leader)?;
        out.extend(log_ends_at(c, &partitions)?);
    }
    Ok(out)
}

fn log_ends_at(
    c: &mut Client,
    partitions: &BTreeMap<String, Vec<i32>>,
) -> Result<BTreeMap<(String, i32), i64>, String> {
    let topics = partitions
        .iter()
        .map(|(t, ps)| {
            ListOffsetsTopic::default()
                .with_name(TopicName(sb(t)))
                .with_partitions(
                    ps.iter()
                        .map(|p| {
                            ListOffsetsPartition::default()
                                .with_partition_index(*p)
                                .with_timestamp(-1)
                        })
                        .collect(),
                )
        })
        .collect();
    let resp = c.call(
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(topics),
        7,
    )?;
    Ok(resp
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.error_code == 0)
                .map(move |p| ((t.name.to_string(), p.partition_index), p.offset))
        })
        .collect())
}

/// Renders every group (or just `only`) of the broker at `bootstrap`.
pub fn report(bootstrap: &str, only: Option<&str>) -> Result<String, String> {
    let mut brokers = Brokers::connect(bootstrap)?;
    let mut set = BTreeMap::new();
    let nodes: Vec<i32> = brokers.addrs.keys().copied().collect();
    let typed = |l: ListGroupsResponse| {
        l.groups
            .into_iter()
            .map(|g| (g.group_id.to_string(), g.group_type.to_string()))
            .collect::<Vec<_>>()
    };
    for id in nodes {
        // A broker that cannot be reached lists nothing; the others still answer.
        let Ok(c) = brokers.node(id) else { continue };
        if let Ok(listed) = c.call(&ListGroupsRequest::default(), 5) {
            set.extend(typed(listed));
        }
    }
    if brokers.addrs.is_empty() {
        let listed = brokers.bootstrap.call(&ListGroupsRequest::default(), 5)?;
        set.extend(typed(listed));
    }
    let kinds = set.clone();
    let mut ids: Vec<String> = set.into_keys().collect();
    if let Some(g) = only {
        ids.retain(|id| id == g);
        if ids.is_empty() {
            return Err(format!("no group named {g}"));
        }
    }
    let mut out = String::new();
    if ids.is_empty() {
        out.push_str("no consumer groups\n");
        return Ok(out);
    }
    let mut described = Vec::with_capacity(ids.len());
    for id in &ids {
        let c = brokers.coordinator(id)?;
        let d = c.call(
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(id))]),
            5,
        )?;
        described.extend(d.groups);
    }
    for g in described {
        let consumer = kinds
            .get(g.group_id.as_str())
            .is_some_and(|k| k == "consumer");
        let _ = writeln!(
            out,
            "GROUP {}  state {}  protocol {}/{}  members {}  type {}",
            g.group_id.as_str(),
            g.group_state.as_str(),
            if g.protocol_type.is_empty() {
                "-"
            } else {
                g.protocol_type.as_str()
            },
            if g.protocol_data.is_empty() {
                "-"
            } else {
                g.protocol_data.as_str()
            },
            g.members.len(),
            if consumer { "consumer" } else { "classic" },
        );
        if consumer {
            consumer_members(&mut out, &mut brokers, g.group_id.as_str())?;
        }
        for m in g.members.iter().filter(|_| !consumer) {
            let _ = writeln!(
                out,
                "  member {}  instance {}  client {}  host {}  assigned {}",
                m.member_id.as_str(),
                m.group_instance_id.as_deref().unwrap_or("-"),
                m.client_id.as_str(),
                m.client_host.as_str(),
                assignment(&m.member_assignment)
            );
        }
        let offsets = brokers.coordinator(g.group_id.as_str())?.call(
            &OffsetFetchRequest::default()
                .with_group_id(g.group_id.clone())
                .with_topics(None),
            7,
        )?;
        let mut committed: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
        for t in &offsets.topics {
            for p in &t.partitions {
                committed
                    .entry(t.name.to_string())
                    .or_default()
                    .push((p.partition_index, p.committed_offset));
            }
        }
        let wanted: BTreeMap<String, Vec<i32>> = committed
            .iter()
            .map(|(t, ps)| (t.clone(), ps.iter().map(|(p, _)| *p).collect()))
            .collect();
        let ends = if wanted.is_empty() {
            BTreeMap::new()
        } else {
            log_ends(&mut brokers, &wanted)?
        };
        if !committed.is_empty() {
            let _ = writeln!(
                out,
                "  {:<30} {:>9} {:>12} {:>12} {:>8}",
                "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG"
            );
        }
        for (t, ps) in &committed {
            for (p, off) in ps {
                let end = ends.get(&(t.clone(), *p)).copied();
                let lag = end
                    .map(|e| (e - off).max(0).to_string())
                    .unwrap_or_else(|| "-".into());
                let end = end.map(|e| e.to_string()).unwrap_or_else(|| "-".into());
                let _ = writeln!(out, "  {t:<30} {p:>9} {off:>12} {end:>12} {lag:>8}");
            }
        }
        out.push('\n');
    }
    Ok(out)
}
