//! Kafka's `controller.quorum.*` timings turned into openraft 0.9's three numbers
//! (`election_timeout_min`, `election_timeout_max`, `heartbeat_interval`).
//!
//! What Kafka's keys mean (KIP-595, `QuorumConfig`): a voter that has heard nothing from the
//! leader for `controller.quorum.fetch.timeout.ms` (F, 2 s) becomes a candidate and asks for
//! votes at once; `controller.quorum.election.timeout.ms` (E, 1 s) is how long a candidate (or
//! a voter that knows no leader) waits before it tries again; `election.backoff.max.ms` (B,
//! 1 s) bounds the random backoff that keeps candidates from colliding.
//!
//! What openraft 0.9.25 does with its numbers (`RaftCore::handle_tick_election`,
//! `EngineConfig::new`): each process draws one election timeout `t` from `[min, max)`; a
//! follower that knows a leader campaigns once `leader lease + t` passed since the leader's
//! last AppendEntries, where the lease is `max` (a voter also refuses votes within the lease
//! of its leader's last message); without a known leader it campaigns after `t`. The timer is
//! looked at on a tick every 1.5 × the heartbeat interval.
//!
//! The mapping: `lease + t` is Kafka's fetch timeout — a follower of a dead leader campaigns
//! about F after the leader's last message (2 s with Kafka's defaults, as a Kafka voter's
//! fetch timer) — and the voters are staggered by their rank in `controller.quorum.voters`
//! (0 for the lowest id). Voter `r` draws `t` from `[base + r·w, base + r·w + w/2)` with
//! `base = (F − w/2) / 2`, so it campaigns within `[F + 2rw, F + 2rw + w/2)`; `w` = B / 10,
//! kept within 10 ms .. F / (4 · (voters − 1)) so that every voter's lease ends before the
//! first rank campaigns (100 ms with Kafka's defaults and 3 voters: the lowest-ranked survivor
//! campaigns 2.0–2.05 s, the next 2.2–2.25 s after the leader's last message). Why not one
//! random range for all, as Kafka's backoff is: openraft draws `t` once per process and looks
//! at it only on its ticks, so two voters whose draws round to the same tick collide in every
//! election (seen: two split votes in a row, +2.2 s); staggered ranges `1.5 w` apart, with a
//! tick (1.5 × the heartbeat, heartbeat < w) shorter than that, never collide, and a
//! candidate refused for a shorter log is overtaken by the next rank. `t` — also the
//! candidate's retry and the timeout of a voter that knows no leader — is ≈ F / 2, which is E
//! with Kafka's defaults (F = 2E); openraft has one timeout for both, so E is not used with
//! several voters. Before this mapping the campaign came after `max + t` with `max = E + B`:
//! 3–4 s with the defaults, most of a controller failover.
//!
//! Safety is openraft's: one leader per term (`single-term-leader`), whatever the timings;
//! the timings only decide who asks first and when. A voter refuses votes within its own
//! lease (its `max`), which every rank's campaign time (> 2 · base) exceeds.
//!
//! Thread-safety: pure functions.

/// openraft's timer settings, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTimings {
    pub election_timeout_min: u64,
    pub election_timeout_max: u64,
    pub heartbeat_interval: u64,
}

/// The timings of voter `rank` (0 = lowest id) of a quorum of `voters`, from Kafka's fetch
/// timeout `f` and election backoff max `b` (see the module doc).
pub fn several_voters(f: u64, b: u64, rank: u64, voters: u64) -> RaftTimings {
    let f = f.max(80);
    // Every voter's lease (base + (voters − ½)·w at most) ends before the first rank
    // campaigns (≈ 2·base): w < base / (voters − 1).
    let w = (b / 10).clamp(10, (f / (4 * voters.saturating_sub(1).max(1))).max(10));
    let base = (f - w / 2) / 2;
    let min = base + rank * w;
    let max = min + w / 2;
    // openraft 0.9 also times every AppendEntries out after the heartbeat interval: as long
    // as the staggering allows (a tick of 1.5 heartbeats under 1.5 w), so that a loaded
    // machine's scheduling delay does not fail the quorum's RPCs.
    let heartbeat = (base / 8).min(w - 1).max(5);
    RaftTimings {
        election_timeout_min: min,
        election_timeout_max: max,
        heartbeat_interval: heartbeat,
    }
}

/// A quorum of one (no network): openraft elects the lone voter at once; the numbers only
/// need to be valid.
pub fn one_voter(e: u64) -> RaftTimings {
    let min = e.max(10);
    RaftTimings {
        election_timeout_min: min,
        election_timeout_max: min * 2,
        heartbeat_interval: (min / 2).max(5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When a follower of a dead leader campaigns, after the leader's last message: lease
    /// (= max) + its drawn timeout, and the tick that notices it.
    fn campaign(t: RaftTimings) -> (u64, u64) {
        let tick = t.heartbeat_interval * 3 / 2;
        (
            t.election_timeout_max + t.election_timeout_min,
            2 * t.election_timeout_max + tick,
        )
    }

    #[test]
    fn kafkas_defaults_campaign_after_the_fetch_timeout_by_rank() {
        let t: Vec<_> = (0..3).map(|r| several_voters(2000, 1000, r, 3)).collect();
        assert_eq!(
            t[0],
            RaftTimings {
                election_timeout_min: 975,
                election_timeout_max: 1025,
                heartbeat_interval: 99,
            }
        );
        assert_eq!(campaign(t[0]), (2000, 2198));
        assert_eq!(campaign(t[1]), (2200, 2398));
        assert_eq!(campaign(t[2]), (2400, 2598));
    }

    #[test]
    fn ranks_never_campaign_on_the_same_tick() {
        for f in [80, 600, 2000, 5000, 60_000] {
            for b in [0, 300, 1000, 100_000] {
                for r in 0..4 {
                    let (_, last) = campaign(several_voters(f, b, r, 5));
                    let (next, _) = campaign(several_voters(f, b, r + 1, 5));
                    assert!(last < next, "f {f} b {b} rank {r}: {last} >= {next}");
                }
            }
        }
    }

    #[test]
    fn the_test_harness_timings_stay_short() {
        // TEST_CLUSTER_TIMINGS (TestCluster and the it harness): fetch 600, backoff 300.
        let t = several_voters(600, 300, 0, 3);
        assert_eq!(campaign(t), (599, 657));
        assert_eq!(t.heartbeat_interval, 29);
    }

    #[test]
    fn every_setting_gives_valid_openraft_timings() {
        for f in [0, 1, 50, 600, 2000, 60_000] {
            for b in [0, 1, 300, 1000, 100_000] {
                for n in 2..=5 {
                    for r in 0..n {
                        let t = several_voters(f, b, r, n);
                        assert!(t.heartbeat_interval < t.election_timeout_min, "{t:?}");
                        assert!(t.election_timeout_min < t.election_timeout_max, "{t:?}");
                        assert!(campaign(t).0 >= f.max(80) - 1, "{t:?}");
                        // Every rank campaigns after every voter's lease (F large enough
                        // for a spread of 10 ms per rank).
                        let lease = several_voters(f, b, n - 1, n).election_timeout_max;
                        if f >= 40 * n {
                            assert!(campaign(t).0 > lease, "f {f} b {b} n {n}: {t:?}");
                        }
                    }
                }
            }
        }
        for e in [1, 10, 300, 1000, 60_000] {
            let t = one_voter(e);
            assert!(t.heartbeat_interval < t.election_timeout_min);
            assert!(t.election_timeout_min < t.election_timeout_max);
        }
    }
}
