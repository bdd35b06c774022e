//! A running gregor node: the composition root that opens the broker state, binds the
//! listener, starts the background work ([`maintenance`]) and shuts all of it down in order.
//!
//! Shutdown: a broadcast signal stops the listener and every connection task at its next read
//! (a request in flight has a second to finish and be answered before it is cut short); once all connection tasks have
//! ended, the background tasks stop, the logs are flushed and closed and the clean-shutdown
//! marker is written.

pub mod maintenance;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::log::cleaner::{LogCleaner, LogSource};
use crate::router::Router;
use crate::server::listener;

/// A running server: its bound address and the means to stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    broker: Arc<Broker>,
    shutdown: broadcast::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Stops accepting, lets in-flight requests finish, closes the logs cleanly.
    pub async fn shutdown(self) -> io::Result<()> {
        let _ = self.shutdown.send(());
        self.task
            .await
            .map_err(|e| io::Error::other(e.to_string()))?
    }
}

/// Opens the data directory, binds the listener and starts serving in the background.
pub async fn start(config: BrokerConfig) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(&config.listen).await?;
    let addr = listener.local_addr()?;
    let port = addr.port();
    let broker = tokio::task::spawn_blocking(move || Broker::open(config, port))
        .await
        .map_err(|e| io::Error::other(e.to_string()))??;
    let broker = Arc::new(broker);
    let (shutdown_tx, _) = broadcast::channel(1);
    let (done_tx, done_rx) = mpsc::channel::<()>(1);
    let listener = listener::Listener::new(
        listener,
        Arc::new(Router::new(broker.clone())),
        shutdown_tx.clone(),
        done_tx.clone(),
    );
    let maintenance = tokio::spawn(maintenance::run(broker.clone(), shutdown_tx.subscribe()));
    let group_timers = tokio::spawn(maintenance::run_groups(
        broker.clone(),
        shutdown_tx.subscribe(),
    ));
    let txn_timers = tokio::spawn(maintenance::run_txns(
        broker.clone(),
        shutdown_tx.subscribe(),
    ));
    let source: LogSource = {
        let b = broker.clone();
        Arc::new(move || b.all_logs())
    };
    let cleaner = LogCleaner::start(
        broker.config.cleaner.clone(),
        &broker.config.data_dir,
        source,
    )?;
    let b = broker.clone();
    let task = tokio::spawn(async move {
        listener.run().await;
        // Every connection task holds a clone of `done_tx`; when all are gone, recv ends.
        drop(done_tx);
        let mut done_rx = done_rx;
        let _ = done_rx.recv().await;
        let _ = maintenance.await;
        let _ = group_timers.await;
        let _ = txn_timers.await;
        tokio::task::spawn_blocking(move || {
            cleaner.shutdown();
            b.shutdown()
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))??;
        tracing::info!("shutdown complete");
        Ok(())
    });
    let (host, port) = broker.advertised();
    tracing::info!("gregor listening on {addr}, advertising {host}:{port}");
    Ok(ServerHandle {
        addr,
        broker,
        shutdown: shutdown_tx,
        task,
    })
}

/// Serves until `signal` completes, then shuts down gracefully.
pub async fn run(config: BrokerConfig, signal: impl Future<Output = ()>) -> io::Result<()> {
    let handle = start(config).await?;
    signal.await;
    tracing::info!("shutting down");
    handle.shutdown().await
}
