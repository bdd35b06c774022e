//! The broker side of the lifecycle (Kafka's `BrokerLifecycleManager`, KIP-631): every node
//! with the broker role registers with the active controller (BrokerRegistration: cluster
//! id, a new incarnation id per process, its advertised broker listeners, `broker.rack`),
//! then heartbeats every `broker.heartbeat.interval.ms` with the metadata offset it has
//! applied; the controller keeps it fenced until that offset reaches its registration.
//! A heartbeat refused with STALE_BROKER_EPOCH or BROKER_ID_NOT_REGISTERED (the controller
//! lost it) registers again. On shutdown the broker asks for a controlled shutdown
//! (`want_shut_down`) and waits, bounded, for `should_shut_down`.
//!
//! One path, two links: a node that is the one voter of its own quorum ([`Link::Local`]:
//! zero-config and single-controller combined nodes) calls its controller directly — the
//! same `controller::brokers` functions the CONTROLLER listener's handlers call — and
//! registers and unfences synchronously during start-up, so a zero-config node serves at
//! once, unfenced. A broker-only node and a voter of several (which may be a follower)
//! ([`Link::Remote`]) send the Kafka requests to `controller.quorum.bootstrap.servers` (or
//! the voters) through [`ControllerClient`], from a background task.
//!
//! Thread-safety: shared behind an `Arc`; the epoch is atomic; one task heartbeats.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::broker_registration_request::Listener;
use kafka_protocol::messages::{BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::controller_client::ControllerClient;
use crate::controller::brokers::{Heartbeat, HeartbeatReply, Registration};
use crate::controller::Controller;
use crate::error::ErrorCode;
use crate::metadata::records::EndPoint;
use crate::metadata::Metadata;

/// BrokerRegistration version sent (Kafka 3.9's brokers send v4; the crate knows 0–4).
const REGISTRATION_VERSION: i16 = 4;
/// BrokerHeartbeat version sent.
const HEARTBEAT_VERSION: i16 = 1;

/// The cluster id a new broker-only node adopts: asked of the controllers with
/// DescribeCluster (controller endpoints) until one answers or `timeout` passes (Kafka
/// formats every node's storage with the id instead; gregor's unformatted nodes adopt it).
pub async fn discover_cluster_id(
    client: &ControllerClient,
    request_timeout: Duration,
    retry: Duration,
    timeout: Duration,
) -> std::io::Result<String> {
    use kafka_protocol::messages::DescribeClusterRequest;
    let deadline = Instant::now() + timeout;
    loop {
        let req = DescribeClusterRequest::default().with_endpoint_type(2);
        match client.call(&req, 1, request_timeout).await {
            Ok(r) if r.error_code == 0 && !r.cluster_id.is_empty() => {
                return Ok(r.cluster_id.to_string())
            }
            Ok(r) => tracing::debug!("DescribeCluster answered error {}", r.error_code),
            Err(e) => tracing::debug!("asking the controller for the cluster id: {e}"),
        }
        if Instant::now() >= deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no controller told this node the cluster id within initial.broker.registration.timeout.ms",
            ));
        }
        client.rotate().await;
        tokio::time::sleep(retry).await;
    }
}

/// How the broker reaches the active controller (see the module doc).
pub enum Link {
    Local(Arc<Controller>),
    Remote(Arc<ControllerClient>),
}

/// Why a lifecycle call failed.
#[derive(Debug)]
enum CallError {
    Kafka(ErrorCode),
    Transport(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Kafka(c) => write!(f, "{c}"),
            CallError::Transport(e) => f.write_str(e),
        }
    }
}

/// Settings of the lifecycle.
#[derive(Debug, Clone)]
pub struct LifecycleConfig {
    pub node_id: i32,
    pub endpoints: Vec<EndPoint>,
    pub rack: Option<String>,
    pub heartbeat_interval: Duration,
    pub registration_timeout: Duration,
    pub request_timeout: Duration,
    /// How long shutdown waits for `should_shut_down`.
    pub shutdown_timeout: Duration,
}

/// This broker's registration and heartbeats (see the module doc).
pub struct Lifecycle {
    config: LifecycleConfig,
    incarnation_id: Uuid,
    link: Link,
    metadata: Arc<Metadata>,
    /// −1 until registered.
    epoch: AtomicI64,
    fenced: AtomicBool,
    /// A controlled shutdown began: the regular heartbeats stop (its own carry
    /// `want_shut_down`).
    shutting_down: AtomicBool,
    /// Kafka's `readyToUnfence`: false while the node has not finished its initial
    /// metadata catch-up, and its heartbeats ask to stay fenced (`want_fence`).
    ready_to_unfence: AtomicBool,
    /// Set when the initial registration timed out: the node must shut down.
    failed: tokio::sync::watch::Sender<bool>,
}

impl Lifecycle {
    pub fn new(config: LifecycleConfig, link: Link, metadata: Arc<Metadata>) -> Lifecycle {
        Lifecycle {
            config,
            incarnation_id: Uuid::new_v4(),
            link,
            metadata,
            epoch: AtomicI64::new(-1),
            fenced: AtomicBool::new(true),
            shutting_down: AtomicBool::new(false),
            ready_to_unfence: AtomicBool::new(true),
            failed: tokio::sync::watch::channel(false).0,
        }
    }

    /// Completes when the initial registration timed out (never, otherwise).
    pub async fn failed(&self) {
        let mut rx = self.failed.subscribe();
        let _ = rx.wait_for(|f| *f).await;
    }

    /// Whether the heartbeats may let the controller unfence this broker (false: they ask
    /// to stay fenced, as a Kafka broker does until its initial catch-up is published).
    pub fn set_ready_to_unfence(&self, ready: bool) {
        self.ready_to_unfence.store(ready, Ordering::Relaxed);
    }

    /// The broker epoch the controller gave (−1 before registration).
    pub fn epoch(&self) -> i64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Whether the controller still fences this broker, as last heard.
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed)
    }

    /// Whether the controller is this node (no network in between).
    pub fn is_local(&self) -> bool {
        matches!(self.link, Link::Local(_))
    }

    fn registration(&self) -> Registration {
        Registration {
            broker_id: self.config.node_id,
            cluster_id: self.metadata.cluster_id(),
            incarnation_id: self.incarnation_id,
            endpoints: self.config.endpoints.clone(),
            rack: self.config.rack.clone(),
        }
    }

    fn heartbeat(&self, want_shut_down: bool) -> Heartbeat {
        Heartbeat {
            broker_id: self.config.node_id,
            broker_epoch: self.epoch(),
            current_metadata_offset: self.metadata.image().applied_offset,
            want_fence: !self.ready_to_unfence.load(Ordering::Relaxed),
            want_shut_down,
        }
    }

    /// Registers through the local controller (blocking; start-up of a node that is its own
    /// controller): registered and unfenced in one commit, before it serves.
    pub fn register_local_now(&self) -> std::io::Result<()> {
        let Link::Local(c) = &self.link else {
            return Ok(());
        };
        let epoch = c
            .register_self(self.registration())
            .map_err(|e| std::io::Error::other(format!("registering this broker: {e}")))?;
        self.epoch.store(epoch, Ordering::Relaxed);
        self.fenced.store(false, Ordering::Relaxed);
        Ok(())
    }

    async fn send_registration(&self) -> Result<i64, CallError> {
        let r = self.registration();
        match &self.link {
            Link::Local(c) => {
                let c = c.clone();
                tokio::task::spawn_blocking(move || c.register_broker(r))
                    .await
                    .map_err(|e| CallError::Transport(e.to_string()))?
                    .map_err(|e| CallError::Kafka(e.code()))
            }
            Link::Remote(client) => {
                let req = BrokerRegistrationRequest::default()
                    .with_broker_id(BrokerId(r.broker_id))
                    .with_cluster_id(StrBytes::from_string(r.cluster_id))
                    .with_incarnation_id(r.incarnation_id)
                    .with_listeners(
                        r.endpoints
                            .iter()
                            .map(|e| {
                                Listener::default()
                                    .with_name(StrBytes::from_string(e.name.clone()))
                                    .with_host(StrBytes::from_string(e.host.clone()))
                                    .with_port(e.port)
                                    .with_security_protocol(e.security_protocol)
                            })
                            .collect(),
                    )
                    .with_rack(r.rack.map(StrBytes::from_string))
                    .with_previous_broker_epoch(self.epoch());
                let resp = client
                    .call(&req, REGISTRATION_VERSION, self.config.request_timeout)
                    .await
                    .map_err(CallError::Transport)?;
                match ErrorCode::from_code(resp.error_code) {
                    ErrorCode::None => Ok(resp.broker_epoch),
                    code => {
                        if code == ErrorCode::NotController {
                            client.rotate().await;
                        }
                        Err(CallError::Kafka(code))
                    }
                }
            }
        }
    }

    async fn send_heartbeat(&self, want_shut_down: bool) -> Result<HeartbeatReply, CallError> {
        let h = self.heartbeat(want_shut_down);
        match &self.link {
            Link::Local(c) => {
                let c = c.clone();
                tokio::task::spawn_blocking(move || c.broker_heartbeat(h))
                    .await
                    .map_err(|e| CallError::Transport(e.to_string()))?
                    .map_err(|e| CallError::Kafka(e.code()))
            }
            Link::Remote(client) => {
                let req = BrokerHeartbeatRequest::default()
                    .with_broker_id(BrokerId(h.broker_id))
                    .with_broker_epoch(h.broker_epoch)
                    .with_current_metadata_offset(h.current_metadata_offset)
                    .with_want_fence(h.want_fence)
                    .with_want_shut_down(h.want_shut_down);
                let resp = client
                    .call(&req, HEARTBEAT_VERSION, self.config.request_timeout)
                    .await
                    .map_err(CallError::Transport)?;
                match ErrorCode::from_code(resp.error_code) {
                    ErrorCode::None => Ok(HeartbeatReply {
                        is_caught_up: resp.is_caught_up,
                        is_fenced: resp.is_fenced,
                        should_shut_down: resp.should_shut_down,
                    }),
                    code => {
                        if code == ErrorCode::NotController {
                            client.rotate().await;
                        }
                        Err(CallError::Kafka(code))
                    }
                }
            }
        }
    }

    /// Registers, retrying every heartbeat interval. The first registration of the process
    /// gives up after `initial.broker.registration.timeout.ms` with Kafka's error and marks
    /// the lifecycle [`failed`](Self::failed): the node shuts down, as Kafka's broker does
    /// (`RegistrationTimeoutEvent`). A registration again (the controller lost this broker)
    /// retries for as long as it takes.
    async fn register(&self, shutdown: &mut broadcast::Receiver<()>) -> bool {
        let started = Instant::now();
        let initial = self.epoch() < 0;
        let mut last_refusal: Option<ErrorCode> = None;
        loop {
            match self.send_registration().await {
                Ok(epoch) => {
                    self.epoch.store(epoch, Ordering::Relaxed);
                    self.fenced.store(true, Ordering::Relaxed);
                    tracing::info!(
                        "registered with the controller: broker epoch {epoch}, incarnation {}",
                        self.incarnation_id
                    );
                    return true;
                }
                Err(CallError::Kafka(code)) if last_refusal != Some(code) => {
                    tracing::warn!("broker registration refused: {code}");
                    last_refusal = Some(code);
                }
                Err(e) => tracing::debug!("broker registration: {e}"),
            }
            if initial && started.elapsed() >= self.config.registration_timeout {
                tracing::error!(
                    "Shutting down because we were unable to register with the controller quorum."
                );
                self.failed.send_replace(true);
                return false;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.heartbeat_interval) => {}
                _ = shutdown.recv() => return false,
            }
        }
    }

    /// Registers (unless already registered locally) and heartbeats until `shutdown`.
    pub async fn run(self: Arc<Self>, mut shutdown: broadcast::Receiver<()>) {
        if self.epoch() < 0 && !self.register(&mut shutdown).await {
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.config.heartbeat_interval) => {}
                _ = shutdown.recv() => return,
            }
            if self.shutting_down.load(Ordering::Relaxed) {
                continue;
            }
            match self.send_heartbeat(false).await {
                Ok(reply) => {
                    let was = self.fenced.swap(reply.is_fenced, Ordering::Relaxed);
                    if was && !reply.is_fenced {
                        tracing::info!("the controller unfenced this broker");
                    } else if !was && reply.is_fenced {
                        tracing::warn!("the controller fenced this broker");
                    }
                }
                Err(CallError::Kafka(
                    ErrorCode::StaleBrokerEpoch | ErrorCode::BrokerIdNotRegistered,
                )) => {
                    tracing::warn!(
                        "the controller lost this broker's registration; registering again"
                    );
                    if !self.register(&mut shutdown).await {
                        return;
                    }
                }
                Err(e) => tracing::debug!("broker heartbeat: {e}"),
            }
        }
    }

    /// Asks for a controlled shutdown and waits until the controller answers
    /// `should_shut_down` (true) or the shutdown timeout passes (false). Meanwhile the node
    /// keeps serving: the controller moves its leaderships away and waits until the other
    /// brokers know, so clients are redirected before this node stops answering.
    pub async fn controlled_shutdown(&self) -> bool {
        if self.epoch() < 0 {
            return false;
        }
        self.shutting_down.store(true, Ordering::Relaxed);
        tracing::info!(
            "controlled shutdown: asking the controller to move this broker's leaderships"
        );
        let deadline = Instant::now() + self.config.shutdown_timeout;
        // An answer from a voter that is not the active controller (or no answer) has moved
        // the client to the next address: that one is asked at once, so the leaderships
        // start moving without a pause per wrong address (the client may still point at a
        // controller that lost its leadership); a whole round of misses pauses as usual.
        let addresses = match &self.link {
            Link::Local(_) => 1,
            Link::Remote(client) => client.len().max(1),
        };
        let mut misses = 0;
        while Instant::now() < deadline {
            match self.send_heartbeat(true).await {
                Ok(r) if r.should_shut_down => {
                    tracing::info!("controlled shutdown: the controller lets this broker go");
                    return true;
                }
                Ok(_) => misses = 0,
                Err(e) => {
                    tracing::debug!("controlled shutdown heartbeat: {e}");
                    let moved = matches!(
                        e,
                        CallError::Kafka(ErrorCode::NotController) | CallError::Transport(_)
                    );
                    misses += 1;
                    if moved && misses < addresses {
                        continue;
                    }
                    misses = 0;
                }
            }
            tokio::time::sleep(
                self.config
                    .heartbeat_interval
                    .min(Duration::from_millis(200)),
            )
            .await;
        }
        tracing::warn!(
            "controlled shutdown: the controller did not let this broker go within {} ms; stopping anyway",
            self.config.shutdown_timeout.as_millis()
        );
        false
    }
}
