//! Rendering of `gregor cluster`'s [`ClusterView`]: the text report (a table per section,
//! then the summary) and the same facts as one JSON object on one line (written by hand:
//! gregor has no JSON dependency; strings escaped per RFC 8259). Pure functions of the view.

use std::fmt::Write as _;

use super::cluster::PartitionView;
use super::cluster::{ClusterView, QuorumReplica};

impl ClusterView {
    fn ago(&self, ms: i64) -> String {
        if ms < 0 {
            "-".into()
        } else {
            format!("{} ms ago", (self.now_ms - ms).max(0))
        }
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "CLUSTER {}  controller {}",
            self.cluster_id, self.controller_id
        );
        let _ = writeln!(out, "\nNODES");
        let _ = writeln!(
            out,
            "  {:>4}  {:<22} {:<10} {:<7} ROLE",
            "ID", "ADDRESS", "RACK", "STATUS"
        );
        for n in &self.nodes {
            let mut roles = Vec::new();
            if n.id == self.controller_id {
                roles.push("active controller");
            }
            if let Ok(q) = &self.quorum {
                if q.voters.iter().any(|v| v.id == n.id) {
                    roles.push("voter");
                } else if q.observers.iter().any(|v| v.id == n.id) {
                    roles.push("observer");
                }
            }
            let _ = writeln!(
                out,
                "  {:>4}  {:<22} {:<10} {:<7} {}",
                n.id,
                if n.address.is_empty() {
                    "-"
                } else {
                    &n.address
                },
                n.rack.as_deref().unwrap_or("-"),
                n.status.name(),
                if roles.is_empty() {
                    "-".to_string()
                } else {
                    roles.join(", ")
                }
            );
        }
        let _ = writeln!(out, "\nQUORUM");
        match &self.quorum {
            Err(e) => {
                let _ = writeln!(out, "  unavailable: {e}");
            }
            Ok(q) => {
                let _ = writeln!(
                    out,
                    "  leader {}  epoch {}  high watermark {}",
                    q.leader_id, q.leader_epoch, q.high_watermark
                );
                let _ = writeln!(
                    out,
                    "  {:<9} {:>4} {:>12} {:>8}  {:<18} LAST-CAUGHT-UP",
                    "KIND", "ID", "LOG-END", "LAG", "LAST-FETCH"
                );
                let rows = q
                    .voters
                    .iter()
                    .map(|r| ("voter", r))
                    .chain(q.observers.iter().map(|r| ("observer", r)));
                for (kind, r) in rows {
                    let _ = writeln!(
                        out,
                        "  {kind:<9} {:>4} {:>12} {:>8}  {:<18} {}",
                        r.id,
                        r.log_end_offset,
                        q.lag(r),
                        self.ago(r.last_fetch_ms),
                        self.ago(r.last_caught_up_ms)
                    );
                }
            }
        }
        let sections = [
            ("UNDER-REPLICATED PARTITIONS", self.under_replicated()),
            ("UNDER MIN ISR PARTITIONS", self.under_min_isr()),
            ("OFFLINE PARTITIONS", self.offline()),
        ];
        for (title, list) in sections {
            let _ = writeln!(out, "\n{title} ({})", list.len());
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  {:<30} {:>9} {:>6}  {:<12} {:<12} MIN-ISR",
                "TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"
            );
            for p in list {
                let _ = writeln!(
                    out,
                    "  {:<30} {:>9} {:>6}  {:<12} {:<12} {}",
                    p.topic,
                    p.partition,
                    p.leader,
                    ids(&p.replicas),
                    ids(&p.isr),
                    p.min_isr
                );
            }
        }
        let _ = writeln!(out, "\n{}", self.summary());
        out
    }

    /// The same facts as one JSON object (one line).
    pub fn json(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "{{\"id\":{},\"address\":{},\"rack\":{},\"status\":{}}}",
                    n.id,
                    if n.address.is_empty() {
                        "null".into()
                    } else {
                        jstr(&n.address)
                    },
                    n.rack.as_deref().map(jstr).unwrap_or_else(|| "null".into()),
                    jstr(n.status.name())
                )
            })
            .collect();
        let quorum = match &self.quorum {
            Err(e) => format!("{{\"error\":{}}}", jstr(e)),
            Ok(q) => {
                let rs = |list: &[QuorumReplica]| -> String {
                    let items: Vec<String> = list
                        .iter()
                        .map(|r| {
                            format!(
                                "{{\"id\":{},\"log_end_offset\":{},\"lag\":{},\
                                 \"last_fetch_timestamp\":{},\"last_caught_up_timestamp\":{}}}",
                                r.id,
                                r.log_end_offset,
                                q.lag(r),
                                r.last_fetch_ms,
                                r.last_caught_up_ms
                            )
                        })
                        .collect();
                    format!("[{}]", items.join(","))
                };
                format!(
                    "{{\"leader_id\":{},\"leader_epoch\":{},\"high_watermark\":{},\
                     \"voters\":{},\"observers\":{}}}",
                    q.leader_id,
                    q.leader_epoch,
                    q.high_watermark,
                    rs(&q.voters),
                    rs(&q.observers)
                )
            }
        };
        let plist = |list: Vec<&PartitionView>| -> String {
            let items: Vec<String> = list
                .iter()
                .map(|p| {
                    format!(
                        "{{\"topic\":{},\"partition\":{},\"leader\":{},\"replicas\":[{}],\
                         \"isr\":[{}],\"min_isr\":{}}}",
                        jstr(&p.topic),
                        p.partition,
                        p.leader,
                        ids(&p.replicas),
                        ids(&p.isr),
                        p.min_isr
                    )
                })
                .collect();
            format!("[{}]", items.join(","))
        };
        format!(
            "{{\"cluster_id\":{},\"controller_id\":{},\"nodes\":[{}],\"quorum\":{},\
             \"partitions\":{},\"under_replicated\":{},\"under_min_isr\":{},\"offline\":{},\
             \"summary\":{}}}\n",
            jstr(&self.cluster_id),
            self.controller_id,
            nodes.join(","),
            quorum,
            plist(self.partitions.iter().collect()),
            plist(self.under_replicated()),
            plist(self.under_min_isr()),
            plist(self.offline()),
            jstr(&self.summary())
        )
    }
}

fn ids(list: &[i32]) -> String {
    list.iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A JSON string literal.
pub(crate) fn jstr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
