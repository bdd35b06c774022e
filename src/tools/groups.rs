//! `gregor groups`: consumer groups of a running broker — state, members, assignments, and
//! committed offset, log end and lag per partition.

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

fn log_ends(
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
    let mut c = Client::connect(bootstrap)?;
    let listed = c.call(&ListGroupsRequest::default(), 4)?;
    let mut ids: Vec<String> = listed
        .groups
        .iter()
        .map(|g| g.group_id.to_string())
        .collect();
    ids.sort();
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
    let described = c.call(
        &DescribeGroupsRequest::default().with_groups(ids.iter().map(|i| GroupId(sb(i))).collect()),
        5,
    )?;
    for g in described.groups {
        let _ = writeln!(
            out,
            "GROUP {}  state {}  protocol {}/{}  members {}",
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
            g.members.len()
        );
        for m in &g.members {
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
        let offsets = c.call(
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
            log_ends(&mut c, &wanted)?
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
