//! A running gregor node: the composition root that validates the cluster configuration,
//! binds every listener (each with a router that knows its name), starts the background work ([`maintenance`]) and shuts all of it down in order.
//!
//! Shutdown: a broadcast signal stops the listener and every connection task at its next read
//! (a request in flight has a second to finish and be answered before it is cut short); once all connection tasks have
//! ended, the background tasks stop, the logs are flushed and closed and the clean-shutdown
//! marker is written.

pub mod elections;
pub mod liveness;
pub mod maintenance;
pub mod replication;
mod sasl;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::config::{BrokerConfig, ClusterConfig};
use crate::log::cleaner::{HighWatermarkOf, LogCleaner, LogSource};
use crate::quorum::rpc::{ClusterIdentity, RpcServer};
use crate::router::faults::Faults;
use crate::router::{ListenerInfo, Router};
use crate::server::listener;

pub use crate::security::sasl::{
    OAuthBearerValidator, OAuthBearerValidators, TokenRefusal, UnsecuredValidator, ValidatedToken,
};

/// A running server: its bound listeners and the means to stop it.
pub struct ServerHandle {
    /// Every listener's name and bound address, in `listeners` order.
    addrs: Vec<(String, SocketAddr)>,
    broker: Arc<Broker>,
    shutdown: broadcast::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl ServerHandle {
    /// The bound address of the first broker listener (the first listener on a
    /// controller-only node).
    pub fn local_addr(&self) -> SocketAddr {
        let cluster = &self.broker.cluster;
        self.addrs
            .iter()
            .find(|(n, _)| !cluster.is_controller_listener(n))
            .or(self.addrs.first())
            .map(|(_, a)| *a)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The bound address of a listener, by name (`PLAINTEXT`, `CONTROLLER`, ...).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// A broker that reaches its controller over the network first asks for a controlled
    /// shutdown (`controlled.shutdown.enable`; bounded wait for `should_shut_down`, serving
    /// meanwhile); then it stops accepting, lets
    /// in-flight requests finish and closes the logs cleanly.
    pub async fn shutdown(self) -> io::Result<()> {
        let enabled = self.broker.cluster.replication.controlled_shutdown_enable;
        if let Some(l) = self
            .broker
            .lifecycle
            .as_ref()
            .filter(|l| enabled && !l.is_local())
        {
            l.controlled_shutdown().await;
        }
        self.shutdown_now().await
    }

    /// Stops at once without a controlled shutdown: to the rest of a cluster the node
    /// disappears as if its process died (it still closes its logs cleanly).
    pub async fn shutdown_now(self) -> io::Result<()> {
        let _ = self.shutdown.send(());
        self.task
            .await
            .map_err(|e| io::Error::other(e.to_string()))?
    }
}

/// What an embedding of the node (`crate::testing`, or a program running gregor in-process)
/// adds to it; the default adds nothing.
#[derive(Debug, Default)]
pub struct Embedding {
    /// Fault rules every listener's router applies (see `router::faults`).
    pub faults: Option<Arc<Faults>>,
    /// Listening sockets already bound, by listener name, used instead of binding that
    /// listener's address: the embedder bound them on port 0 to learn the ports before the
    /// start (the voters of a test cluster name each other's CONTROLLER ports), so no other
    /// program can take a port between its choice and its use.
    pub bound: Vec<(String, std::net::TcpListener)>,
    /// OAUTHBEARER validators replacing Kafka's unsecured one (see
    /// [`Embedding::oauthbearer_validator`]).
    pub oauthbearer: OAuthBearerValidators,
}

impl Embedding {
    /// Validates OAUTHBEARER tokens with `validator` on every SASL listener that enables
    /// OAUTHBEARER and has no validator of its own, instead of Kafka's unsecured-JWT validator
    /// (the `sasl.server.callback.handler.class` of a custom handler, for an embedded node).
    ///
    /// ```no_run
    /// use gregor::node::{Embedding, OAuthBearerValidator, TokenRefusal, ValidatedToken};
    ///
    /// struct Introspected;
    /// impl OAuthBearerValidator for Introspected {
    ///     fn validate(&self, token: &str, now_ms: i64) -> Result<ValidatedToken, TokenRefusal> {
    ///         Err(TokenRefusal::invalid_token(format!("unknown token of {} bytes", token.len())))
    ///     }
    /// }
    ///
    /// # async fn run(config: gregor::config::BrokerConfig) -> std::io::Result<()> {
    /// let node = gregor::node::start_with(
    ///     config,
    ///     Embedding::default().oauthbearer_validator(Introspected),
    /// )
    /// .await?;
    /// # node.shutdown().await }
    /// ```
    pub fn oauthbearer_validator(mut self, validator: impl OAuthBearerValidator) -> Embedding {
        self.oauthbearer.set_all(Arc::new(validator));
        self
    }

    /// As [`Embedding::oauthbearer_validator`], for listener `listener` only (its name in
    /// `listeners`, e.g. `SASL_SSL`); it must be a SASL listener enabling OAUTHBEARER, else
    /// the start fails.
    pub fn listener_oauthbearer_validator(
        mut self,
        listener: &str,
        validator: impl OAuthBearerValidator,
    ) -> Embedding {
        self.oauthbearer.set_listener(listener, Arc::new(validator));
        self
    }
}

/// Validates the cluster configuration, binds every listener, opens the data directory and
/// starts serving in the background. An invalid configuration is an `InvalidInput` error
/// carrying Kafka's message.
pub async fn start(config: BrokerConfig) -> io::Result<ServerHandle> {
    start_with(config, Embedding::default()).await
}

/// As [`start`], with what an embedding adds (see [`Embedding`]).
pub async fn start_with(config: BrokerConfig, embedding: Embedding) -> io::Result<ServerHandle> {
    tracing::debug!(target: "gregor::start", "start");
    let cluster = ClusterConfig::from_config(&config)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))?;
    // TLS settings are checked (keystores read) before any socket is bound.
    let mut tls = std::collections::BTreeMap::new();
    for l in &cluster.listeners {
        let t = crate::security::ssl::listener_tls(&config, l)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        tls.insert(l.name.clone(), t);
    }
    // So are the SASL settings (JAAS values, handler classes, installed validators).
    let mut sasl_settings = sasl::listener_sasl(&config, &cluster, &embedding.oauthbearer)?;
    let mut sockets = Vec::with_capacity(cluster.listeners.len());
    let mut embedding = embedding;
    for l in &cluster.listeners {
        let address = l.bind_address();
        let socket = match embedding.bound.iter().position(|(n, _)| *n == l.name) {
            Some(i) => {
                let (_, std_socket) = embedding.bound.swap_remove(i);
                std_socket.set_nonblocking(true)?;
                TcpListener::from_std(std_socket)
            }
            None => TcpListener::bind(&address).await,
        }
        .map_err(|e| io::Error::new(e.kind(), format!("listener {} on {address}: {e}", l.name)))?;
        sockets.push((l.name.clone(), socket.local_addr()?, socket));
    }
    let bound: Vec<(String, u16)> = sockets
        .iter()
        .map(|(n, a, _)| (n.clone(), a.port()))
        .collect();
    let cluster = cluster.with_bound_ports(&bound);
    tracing::debug!(target: "gregor::start", "listeners bound");
    // A new broker-only node adopts its cluster's id from the controllers before it opens
    // anything (a formatted one keeps its own; the controller refuses a mismatch with 104).
    if cluster.roles.broker
        && !cluster.roles.controller
        && crate::metadata::read_cluster_id(&config.data_dir).is_none()
    {
        let t = &cluster.replication;
        let client = crate::broker::controller_client::ControllerClient::new(
            crate::broker::controller_client_addrs(&cluster),
            format!("gregor-broker-{}-join", config.node_id),
            crate::broker::peer_security::PeerConnectors::from_config(&config, &cluster)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
                .controller,
        );
        let ms = |v: u64| std::time::Duration::from_millis(v.max(1));
        let id = crate::broker::lifecycle::discover_cluster_id(
            &client,
            ms(t.quorum_request_timeout_ms),
            ms(t.broker_heartbeat_interval_ms),
            ms(t.initial_broker_registration_timeout_ms),
        )
        .await?;
        crate::metadata::write_cluster_id(&config.data_dir, config.node_id, &id)?;
        tracing::info!("joined cluster {id}");
    }
    // Several voters: the listeners serve before the broker is open, as the quorum must
    // hear its peers to start (the routers hold other requests until the broker is set).
    let multi = cluster.voters.len() > 1 && cluster.roles.controller;
    let rpc = multi.then(|| {
        let identity = ClusterIdentity::open(config.data_dir.clone(), config.node_id);
        Arc::new(RpcServer::new(Arc::new(identity)))
    });
    let (broker_tx, broker_rx) = watch::channel(None);
    let (shutdown_tx, _) = broadcast::channel(1);
    let (done_tx, done_rx) = mpsc::channel::<()>(1);
    let open = Arc::new(AtomicUsize::new(0));
    let addrs: Vec<(String, SocketAddr)> =
        sockets.iter().map(|(n, a, _)| (n.clone(), *a)).collect();
    let listeners: Vec<listener::Listener> = sockets
        .into_iter()
        .map(|(name, _, socket)| {
            let controller = cluster.is_controller_listener(&name);
            let mut router = Router::starting(
                &config,
                broker_rx.clone(),
                ListenerInfo::new(&name, controller),
                rpc.clone(),
            );
            if let Some(s) = sasl_settings.remove(&name) {
                router = router.with_sasl(s);
            }
            if let Some(f) = &embedding.faults {
                router = router.with_faults(f.clone());
            }
            listener::Listener::new(
                socket,
                Arc::new(router),
                tls.get(&name).cloned().flatten(),
                open.clone(),
                shutdown_tx.clone(),
                done_tx.clone(),
            )
        })
        .collect();
    let mut listeners: Vec<Option<listener::Listener>> = listeners.into_iter().map(Some).collect();
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    if multi {
        running = listeners
            .iter_mut()
            .filter_map(Option::take)
            .map(|l| tokio::spawn(l.run()))
            .collect();
    }
    let opened = tokio::task::spawn_blocking(move || Broker::open_with(config, cluster, rpc))
        .await
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|r| r);
    tracing::debug!(target: "gregor::start", "broker opened");
    let broker = match opened {
        Ok(b) => Arc::new(b),
        Err(e) => {
            let _ = shutdown_tx.send(());
            for l in running {
                let _ = l.await;
            }
            return Err(e);
        }
    };
    // A broker-only node follows the metadata log from here; it serves nothing and its
    // replica layer applies nothing until it has caught up (Kafka's initial catch-up).
    // As Kafka's broker, it registers first (asking to stay fenced until it is ready), so
    // the controller answers it while it catches up.
    let ready = broker.observer.is_none();
    let lifecycle_task = broker.lifecycle.as_ref().map(|l| {
        l.set_ready_to_unfence(ready);
        tokio::spawn(l.clone().run(shutdown_tx.subscribe()))
    });
    let observer_task = spawn_observer(&broker, shutdown_tx.subscribe());
    if let Some(o) = broker.observer.clone() {
        let registration_failed = async {
            match &broker.lifecycle {
                Some(l) => l.failed().await,
                None => std::future::pending().await,
            }
        };
        let waited = tokio::select! {
            () = o.wait_caught_up() => Ok(()),
            _ = registration_failed => Err(io::Error::other(UNREGISTERED)),
        };
        let caught_up = match waited {
            Ok(()) => tokio::task::spawn_blocking(move || o.go_live())
                .await
                .map_err(|e| io::Error::other(e.to_string()))
                .and_then(|r| r),
            Err(e) => Err(e),
        };
        if let Err(e) = caught_up {
            let _ = shutdown_tx.send(());
            for t in running
                .into_iter()
                .chain(observer_task)
                .chain(lifecycle_task)
            {
                let _ = t.await;
            }
            let b = broker.clone();
            let _ = tokio::task::spawn_blocking(move || b.shutdown()).await;
            return Err(e);
        }
        if let Some(l) = &broker.lifecycle {
            l.set_ready_to_unfence(true);
        }
    }
    // The coordinator shards of the partitions this node leads are loaded before requests
    // are served (a restart answers at once, as before); later changes follow publishes.
    {
        let b = broker.clone();
        tokio::task::spawn_blocking(move || b.sync_coordinators(true))
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    let _ = broker_tx.send(Some(broker.clone()));
    tracing::debug!(target: "gregor::start", "coordinators loaded, serving");
    let coordinator_shards = tokio::spawn(maintenance::run_coordinator_shards(
        broker.clone(),
        shutdown_tx.subscribe(),
    ));
    let maintenance = tokio::spawn(maintenance::run(broker.clone(), shutdown_tx.subscribe()));
    let group_timers = tokio::spawn(maintenance::run_groups(
        broker.clone(),
        shutdown_tx.subscribe(),
    ));
    let txn_timers = tokio::spawn(maintenance::run_txns(
        broker.clone(),
        shutdown_tx.subscribe(),
    ));
    let mut lifecycle_tasks = vec![
        tokio::spawn(maintenance::run_broker_sessions(
            broker.clone(),
            shutdown_tx.subscribe(),
        )),
        tokio::spawn(elections::run(broker.clone(), shutdown_tx.subscribe())),
        tokio::spawn(liveness::run(broker.clone(), shutdown_tx.subscribe())),
    ];
    lifecycle_tasks.extend(lifecycle_task);
    lifecycle_tasks.extend(observer_task);
    let isr = tokio::spawn(replication::run_isr(
        broker.clone(),
        shutdown_tx.subscribe(),
    ));
    let fetchers = replication::start_fetchers(&broker);
    let source: LogSource = {
        let b = broker.clone();
        Arc::new(move || b.all_logs())
    };
    // The replica layer's high watermark bounds what the cleaner may compact.
    let high_watermark: HighWatermarkOf = {
        let b = broker.clone();
        Arc::new(move |p| {
            b.replicas
                .get(p.topic(), p.index())
                .filter(|r| std::ptr::eq(r.log().as_ref(), p))
                .map(|r| r.high_watermark())
        })
    };
    let cleaner = LogCleaner::start(
        broker.config.cleaner.clone(),
        &broker.config.data_dir,
        source,
        high_watermark,
    )?;
    running.extend(
        listeners
            .into_iter()
            .flatten()
            .map(|l| tokio::spawn(l.run())),
    );
    let listeners = running;
    let b = broker.clone();
    let task = tokio::spawn(async move {
        for l in listeners {
            let _ = l.await;
        }
        // Every connection task holds a clone of `done_tx`; when all are gone, recv ends.
        drop(done_tx);
        let mut done_rx = done_rx;
        let _ = done_rx.recv().await;
        let _ = maintenance.await;
        let _ = group_timers.await;
        let _ = txn_timers.await;
        let _ = coordinator_shards.await;
        for t in lifecycle_tasks {
            let _ = t.await;
        }
        let _ = isr.await;
        fetchers.shutdown();
        tokio::task::spawn_blocking(move || {
            cleaner.shutdown();
            b.shutdown()
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))??;
        tracing::info!("shutdown complete");
        Ok(())
    });
    tracing::debug!(target: "gregor::start", "background tasks started");
    for (name, addr) in &addrs {
        let advertised = broker
            .cluster
            .advertised_for(name)
            .map_or(String::from("nothing"), |e| {
                format!("{}:{}", e.host, e.port)
            });
        tracing::info!("gregor listening on {name} {addr}, advertising {advertised}");
    }
    Ok(ServerHandle {
        addrs,
        broker,
        shutdown: shutdown_tx,
        task,
    })
}

/// Starts a broker-only node's metadata observer (`quorum::observer`) fetching from the
/// active controller through the broker's controller client; `None` on other nodes.
fn spawn_observer(
    broker: &Arc<Broker>,
    shutdown: broadcast::Receiver<()>,
) -> Option<JoinHandle<()>> {
    let (Some(o), Some(client)) = (&broker.observer, &broker.controller_client) else {
        return None;
    };
    let timings = &broker.cluster.replication;
    let wait_ms = i32::try_from(timings.quorum_fetch_timeout_ms / 2).unwrap_or(500);
    let timeout = std::time::Duration::from_millis(
        timings.quorum_fetch_timeout_ms + timings.quorum_request_timeout_ms,
    );
    let retry =
        std::time::Duration::from_millis(timings.quorum_election_backoff_max_ms.clamp(10, 1000));
    let client = client.clone();
    let fetch: crate::quorum::observer::FetchFn = Arc::new(move |req| {
        let client = client.clone();
        Box::pin(async move {
            let resp = client
                .call(&req, crate::quorum::observer::FETCH_VERSION, timeout)
                .await?;
            let p = resp.responses.first().and_then(|t| t.partitions.first());
            if p.is_some_and(|p| p.error_code != 0) {
                client.rotate().await;
            }
            Ok(resp)
        })
    });
    let client = broker.controller_client.clone();
    let snapshots: crate::quorum::observer::SnapshotFn = Arc::new(move |req| {
        let client = client.clone();
        Box::pin(async move {
            let client = client.ok_or("no controller client")?;
            client
                .call(
                    &req,
                    crate::quorum::observer::FETCH_SNAPSHOT_VERSION,
                    timeout,
                )
                .await
        })
    });
    Some(tokio::spawn(
        o.clone().run(fetch, snapshots, wait_ms, retry, shutdown),
    ))
}

/// Why a node whose initial broker registration timed out stops.
const UNREGISTERED: &str =
    "unable to register with the controller quorum within initial.broker.registration.timeout.ms";

/// Serves until `signal` completes, then shuts down gracefully. A broker whose initial
/// registration times out (`initial.broker.registration.timeout.ms`) shuts down and
/// returns an error, as Kafka's broker exits.
pub async fn run(config: BrokerConfig, signal: impl Future<Output = ()>) -> io::Result<()> {
    let handle = start(config).await.inspect_err(|e| {
        tracing::error!("Fatal error during broker startup. Prepare to shutdown: {e}");
    })?;
    let lifecycle = handle.broker.lifecycle.clone();
    let registration_failed = async {
        match &lifecycle {
            Some(l) => l.failed().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = signal => {
            tracing::info!("shutting down");
            handle.shutdown().await
        }
        _ = registration_failed => {
            tracing::error!("Fatal error during broker startup. Prepare to shutdown");
            handle.shutdown().await?;
            Err(io::Error::other(UNREGISTERED))
        }
    }
}
