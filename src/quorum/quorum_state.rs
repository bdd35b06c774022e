//! The quorum's durable state: `__cluster_metadata-0/quorum-state`, Kafka's file name and
//! its `QuorumStateData` JSON fields where they exist.
//!
//! ```json
//! {"clusterId":"","leaderId":1,"leaderEpoch":3,"votedId":1,"appliedOffset":0,
//!  "currentVoters":[{"voterId":1}],"data_version":0,
//!  "gregorVoteCommitted":true,"gregorCommittedTerm":3,"gregorCommittedIndex":7}
//! ```
//!
//! `leaderEpoch` is the term of the vote, `votedId` the candidate voted for (−1: none),
//! `leaderId` the leader of that term once the vote is committed (−1 otherwise). gregor adds
//! the committed log id (openraft's `save_committed`, so a restarted voter re-applies its
//! committed entries before it serves) — absent when nothing was committed — and, once a
//! snapshot let the log start move, the first remaining entry (`gregorFirstIndex`/`Offset`)
//! and the last removed one (`gregorPurgedTerm`/`Index`), written before the log start moves.
//! `appliedOffset`
//! is kept 0 as Kafka 3.x writes it.
//!
//! Written whole with [`crate::fs::write_atomic`] (temp, fsync, rename, fsync dir): a crash
//! leaves the old file or the new one. Read with a small field reader that takes only the
//! integer and boolean fields above (no allocation sized by the file).
//!
//! Thread-safety: owned by the log store, which openraft calls serially.

use std::io;
use std::path::{Path, PathBuf};

use super::types::{LogId, Vote};

/// Kafka's file name for the quorum state.
pub const FILE_NAME: &str = crate::metadata::log::QUORUM_STATE_FILE;

/// The persisted vote and committed log id (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumState {
    pub vote: Option<Vote>,
    pub committed: Option<LogId>,
    /// The voters, written as `currentVoters` (informational).
    pub voters: Vec<u64>,
    /// `(Raft index, Kafka offset)` of the first batch when that index is not 0 (written
    /// before the log start moves past older entries; see `index_table`).
    pub anchor: Option<(u64, i64)>,
    /// The last entry removed from the log (after a snapshot), written with the anchor.
    pub purged: Option<LogId>,
}

impl QuorumState {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    /// Reads the file in `dir`; a missing file is the empty state.
    pub fn read(dir: &Path) -> io::Result<QuorumState> {
        let text = match std::fs::read_to_string(Self::path(dir)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(QuorumState::default()),
            Err(e) => return Err(e),
        };
        let bad = |what: &str| {
            io::Error::new(io::ErrorKind::InvalidData, format!("quorum-state: {what}"))
        };
        let epoch = int_field(&text, "leaderEpoch").ok_or_else(|| bad("no leaderEpoch"))?;
        let voted = int_field(&text, "votedId").unwrap_or(-1);
        let leader = int_field(&text, "leaderId").unwrap_or(-1);
        let term = u64::try_from(epoch).map_err(|_| bad("negative leaderEpoch"))?;
        let vote = (term > 0 || voted >= 0).then(|| {
            let mut v = match u64::try_from(voted) {
                Ok(id) => Vote::new(term, id),
                Err(_) => Vote::default(),
            };
            v.leader_id.term = term;
            if bool_field(&text, "gregorVoteCommitted") == Some(true) && leader >= 0 {
                v.commit();
            }
            v
        });
        let committed = match (
            int_field(&text, "gregorCommittedTerm"),
            int_field(&text, "gregorCommittedIndex"),
        ) {
            (Some(t), Some(i)) => Some(LogId::new(
                openraft::CommittedLeaderId::new(
                    u64::try_from(t).map_err(|_| bad("negative committed term"))?,
                    0,
                ),
                u64::try_from(i).map_err(|_| bad("negative committed index"))?,
            )),
            _ => None,
        };
        let anchor = match (
            int_field(&text, "gregorFirstIndex"),
            int_field(&text, "gregorFirstOffset"),
        ) {
            (Some(i), Some(o)) => Some((
                u64::try_from(i).map_err(|_| bad("negative first index"))?,
                o,
            )),
            _ => None,
        };
        let purged = match (
            int_field(&text, "gregorPurgedTerm"),
            int_field(&text, "gregorPurgedIndex"),
        ) {
            (Some(t), Some(i)) => Some(LogId::new(
                openraft::CommittedLeaderId::new(
                    u64::try_from(t).map_err(|_| bad("negative purged term"))?,
                    0,
                ),
                u64::try_from(i).map_err(|_| bad("negative purged index"))?,
            )),
            _ => None,
        };
        Ok(QuorumState {
            vote,
            committed,
            voters: Vec::new(),
            anchor,
            purged,
        })
    }

    /// Writes the file in `dir` atomically (see the module doc).
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let (epoch, voted, committed_vote) = match &self.vote {
            Some(v) => (
                v.leader_id.term as i64,
                v.leader_id.voted_for.map_or(-1, |id| id as i64),
                v.is_committed(),
            ),
            None => (0, -1, false),
        };
        let leader = if committed_vote { voted } else { -1 };
        let voters: Vec<String> = self
            .voters
            .iter()
            .map(|v| format!("{{\"voterId\":{v}}}"))
            .collect();
        let mut text = format!(
            "{{\"clusterId\":\"\",\"leaderId\":{leader},\"leaderEpoch\":{epoch},\"votedId\":{voted},\"appliedOffset\":0,\"currentVoters\":[{}],\"data_version\":0,\"gregorVoteCommitted\":{committed_vote}",
            voters.join(",")
        );
        if let Some(c) = &self.committed {
            text.push_str(&format!(
                ",\"gregorCommittedTerm\":{},\"gregorCommittedIndex\":{}",
                c.leader_id.term, c.index
            ));
        }
        if let Some(p) = &self.purged {
            text.push_str(&format!(
                ",\"gregorPurgedTerm\":{},\"gregorPurgedIndex\":{}",
                p.leader_id.term, p.index
            ));
        }
        if let Some((i, o)) = self.anchor {
            text.push_str(&format!(
                ",\"gregorFirstIndex\":{i},\"gregorFirstOffset\":{o}"
            ));
        }
        text.push('}');
        crate::fs::write_atomic(&Self::path(dir), text.as_bytes())
    }
}

/// The text right after `"name":` (whitespace skipped), if the field is present.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\"");
    let at = text.find(&key)? + key.len();
    let rest = text[at..].trim_start().strip_prefix(':')?;
    Some(rest.trim_start())
}

fn int_field(text: &str, name: &str) -> Option<i64> {
    let rest = field(text, name)?;
    let end = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && *c == '-')))
        .map_or(rest.len(), |(i, _)| i);
    rest[..end].parse().ok()
}

fn bool_field(text: &str, name: &str) -> Option<bool> {
    let rest = field(text, name)?;
    if rest.starts_with("true") {
        Some(true)
    } else if rest.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_reads_kafka_files() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(
            QuorumState::read(dir.path()).expect("empty"),
            QuorumState::default()
        );
        let mut vote = Vote::new(3, 1);
        vote.commit();
        let s = QuorumState {
            vote: Some(vote),
            committed: Some(LogId::new(openraft::CommittedLeaderId::new(3, 0), 7)),
            voters: vec![1],
            anchor: Some((4, 100)),
            purged: Some(LogId::new(openraft::CommittedLeaderId::new(2, 0), 3)),
        };
        s.write(dir.path()).expect("write");
        let back = QuorumState::read(dir.path()).expect("read");
        assert_eq!(
            (back.vote, back.committed, back.anchor),
            (s.vote, s.committed, s.anchor)
        );
        let text = std::fs::read_to_string(QuorumState::path(dir.path())).expect("text");
        assert!(
            text.contains("\"leaderId\":1,\"leaderEpoch\":3,\"votedId\":1"),
            "{text}"
        );
        // A file as Kafka writes it (no gregor fields): an uncommitted vote, nothing committed.
        std::fs::write(
            QuorumState::path(dir.path()),
            r#"{"clusterId":"","leaderId":-1,"leaderEpoch":5,"votedId":2,"appliedOffset":0,"currentVoters":[{"voterId":1},{"voterId":2}],"data_version":0}"#,
        )
        .expect("kafka file");
        let k = QuorumState::read(dir.path()).expect("read kafka");
        assert_eq!(k.vote, Some(Vote::new(5, 2)));
        assert_eq!(k.committed, None);
        std::fs::write(QuorumState::path(dir.path()), "{\"leaderEpoch\":-4}").expect("bad");
        assert!(QuorumState::read(dir.path()).is_err());
    }
}
