//! Periodic log work: time-based flushes (`log.flush.interval.ms`), retention every
//! `log.retention.check.interval.ms`, and checkpoints every
//! `log.flush.offset.checkpoint.interval.ms`, and a metadata snapshot once the metadata
//! log grew enough (followers included). It all runs on a blocking thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::broker::Broker;

pub async fn run(broker: Arc<Broker>, mut stop: broadcast::Receiver<()>) {
    let cfg = &broker.config;
    let tick = Duration::from_millis(
        cfg.flush_scheduler_interval_ms
            .min(cfg.retention_check_interval_ms)
            .min(cfg.hw_checkpoint_interval_ms)
            .max(10),
    );
    let retention_every = Duration::from_millis(cfg.retention_check_interval_ms);
    let checkpoint_every = Duration::from_millis(cfg.flush_offset_checkpoint_interval_ms);
    let hw_every = Duration::from_millis(cfg.hw_checkpoint_interval_ms);
    let (mut last_retention, mut last_checkpoint) = (Instant::now(), Instant::now());
    let mut last_hw = Instant::now();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.recv() => return,
        }
        let retention_due = last_retention.elapsed() >= retention_every;
        let checkpoint_due = last_checkpoint.elapsed() >= checkpoint_every;
        if retention_due {
            last_retention = Instant::now();
        }
        if checkpoint_due {
            last_checkpoint = Instant::now();
        }
        let hw_due = last_hw.elapsed() >= hw_every;
        if hw_due {
            last_hw = Instant::now();
        }
        let b = broker.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let partitions = b.all_logs();
            b.replicas.logs().maintain(&partitions, retention_due);
            if let Some(q) = b.controller.quorum() {
                q.maybe_snapshot();
            }
            if checkpoint_due {
                if let Err(e) = b.replicas.logs().write_checkpoints(&partitions) {
                    tracing::error!("writing checkpoints failed: {e}");
                }
            }
            if hw_due {
                if let Err(e) = b.replicas.write_high_watermarks() {
                    tracing::error!("writing the high-watermark checkpoint failed: {e}");
                }
            }
        })
        .await;
    }
}

/// Drives the group coordinator's timers (session expiry, rebalance deadlines, retention)
/// on every loaded shard. The transaction coordinator's run on their own task
/// ([`run_txns`]): a round that writes markers must not delay a session expiry.
pub async fn run_groups(broker: Arc<Broker>, mut stop: broadcast::Receiver<()>) {
    let mut interval = tokio::time::interval(Duration::from_millis(50));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                let shards = broker.groups.loaded();
                futures_util::future::join_all(shards.iter().map(|(_, g)| g.tick())).await;
            }
            _ = stop.recv() => return,
        }
    }
}

/// Keeps the coordinator shards in step with partition leadership: syncs after every
/// metadata publish (and every second, as a safety net), see `broker::coordinators`.
pub async fn run_coordinator_shards(broker: Arc<Broker>, mut stop: broadcast::Receiver<()>) {
    let mut published = broker.metadata.changes();
    loop {
        broker.sync_coordinators(false);
        tokio::select! {
            changed = published.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.recv() => return,
        }
    }
}

/// Drives the transaction coordinator's timers: completing transactions left in a Prepare
/// state (after a restart too), aborting timed-out transactions, expiring idle ids.
pub async fn run_txns(broker: Arc<Broker>, mut stop: broadcast::Receiver<()>) {
    let mut interval = tokio::time::interval(Duration::from_millis(50));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                let shards = broker.txns.loaded();
                futures_util::future::join_all(shards.iter().map(|(_, t)| t.tick())).await;
            }
            _ = stop.recv() => return,
        }
    }
}

/// The active controller's broker heartbeat manager: runs while this node leads the
/// metadata quorum (the quorum's leadership watch starts and stops it) and fences every
/// broker whose session expired (`broker.session.timeout.ms`), checking every
/// `broker.heartbeat.interval.ms` (at most a quarter of the session timeout).
pub async fn run_broker_sessions(broker: Arc<Broker>, mut stop: broadcast::Receiver<()>) {
    let Some(quorum) = broker.controller.quorum().cloned() else {
        return;
    };
    let timings = &broker.cluster.replication;
    let tick = Duration::from_millis(
        timings
            .broker_heartbeat_interval_ms
            .min(timings.broker_session_timeout_ms / 4)
            .max(10),
    );
    let mut leads = quorum.leadership();
    loop {
        // Wait to become the active controller.
        tokio::select! {
            r = leads.wait_for(|l| *l) => if r.is_err() { return },
            _ = stop.recv() => return,
        }
        if let Err(e) = broker.controller.activate_sessions() {
            tracing::error!("starting broker sessions: {e}");
        }
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    let b = broker.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        if let Err(e) = b.controller.fence_expired_brokers() {
                            tracing::warn!("fencing expired brokers: {e}");
                        }
                    })
                    .await;
                }
                r = leads.changed() => {
                    if r.is_err() || !*leads.borrow_and_update() {
                        break;
                    }
                    // The watch signals changes only: still leading means the leadership was
                    // lost and won again meanwhile (a new term, while a fencing pass ran).
                    // Heartbeats went elsewhere in between, so every session starts afresh,
                    // as Kafka's controller does on each activation — else healthy brokers
                    // would be fenced at once for the gap.
                    tracing::info!("active controller again: broker sessions restarted");
                    if let Err(e) = broker.controller.activate_sessions() {
                        tracing::error!("restarting broker sessions: {e}");
                    }
                }
                _ = stop.recv() => return,
            }
        }
        broker.controller.deactivate_sessions();
    }
}
