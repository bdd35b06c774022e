//! The active controller's periodic elections (Kafka's `QuorumController` deferred events
//! `maybeBalancePartitionLeaders` and `maybeElectUncleanLeaders`): while this node leads the
//! metadata quorum, every `leader.imbalance.check.interval.seconds` (when
//! `auto.leader.rebalance.enable`) partitions off their preferred leader are moved back
//! (`Controller::balance_leaders`), and every `unclean.leader.election.interval.ms`
//! leaderless partitions whose topic allows it get an unclean leader
//! (`Controller::elect_unclean_leaderless`). A round that hit the per-round cap runs again at
//! the next tick instead of a whole interval later. The clock is this controller's, restarted
//! at each activation (a new controller waits a full interval, as Kafka's does).
//!
//! Thread-safety: one task; each round runs on a blocking thread under the controller's lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::broker::Broker;
use crate::controller::elections::MAX_ELECTIONS_PER_ROUND;

/// How often the task looks at its clocks.
const TICK: Duration = Duration::from_millis(200);

/// One periodic election: due every `every`, or at the next tick after a capped round.
struct Due {
    every: Duration,
    last: Instant,
    again: bool,
}

impl Due {
    fn new(every: Duration) -> Due {
        Due {
            every,
            last: Instant::now(),
            again: false,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        if self.again || now.duration_since(self.last) >= self.every {
            self.last = now;
            self.again = false;
            return true;
        }
        false
    }
}

/// Runs the periodic elections while this node is the active controller (see the module doc).
pub async fn run(broker: Arc<Broker>, mut stop: broadcast::Receiver<()>) {
    let Some(quorum) = broker.controller.quorum().cloned() else {
        return;
    };
    let timings = broker.cluster.replication.clone();
    let balance_every = timings
        .auto_leader_rebalance_enable
        .then(|| Duration::from_secs(timings.leader_imbalance_check_interval_seconds.max(1)));
    let unclean_every = Duration::from_millis(timings.unclean_leader_election_interval_ms.max(1));
    let mut leads = quorum.leadership();
    loop {
        tokio::select! {
            r = leads.wait_for(|l| *l) => if r.is_err() { return },
            _ = stop.recv() => return,
        }
        let mut balance = balance_every.map(Due::new);
        let mut unclean = Due::new(unclean_every);
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                r = leads.changed() => {
                    if r.is_err() || !*leads.borrow() {
                        break;
                    }
                    continue;
                }
                _ = stop.recv() => return,
            }
            let now = Instant::now();
            let do_balance = balance.as_mut().is_some_and(|d| d.take(now));
            let do_unclean = unclean.take(now);
            if !do_balance && !do_unclean {
                continue;
            }
            let b = broker.clone();
            let done = tokio::task::spawn_blocking(move || {
                let moved = if do_balance {
                    b.controller.balance_leaders().unwrap_or_else(|e| {
                        tracing::warn!("leader imbalance round: {e}");
                        0
                    })
                } else {
                    0
                };
                let elected = if do_unclean {
                    b.controller.elect_unclean_leaderless().unwrap_or_else(|e| {
                        tracing::warn!("unclean election round: {e}");
                        0
                    })
                } else {
                    0
                };
                (moved, elected)
            })
            .await;
            if let Ok((moved, elected)) = done {
                if let Some(d) = balance.as_mut() {
                    d.again = moved >= MAX_ELECTIONS_PER_ROUND;
                }
                unclean.again = elected >= MAX_ELECTIONS_PER_ROUND;
            }
        }
    }
}
