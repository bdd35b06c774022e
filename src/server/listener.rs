//! Accepts connections on one listener (one per name of `listeners`), up to
//! `max.connections` over all of them, and spawns one task per connection.
//!
//! Why a counted guard: each connection holds an [`Open`] guard for its lifetime, so the count
//! is exact and released even if a connection task panics. The limit is read at each accept
//! (`max.connections` is a dynamic broker config: lowering it refuses new connections and
//! leaves open ones alone, as in Kafka); only this loop increments, so check and increment
//! cannot race. A connection past the limit is accepted and closed at once with a log line,
//! so the client sees a clean refusal instead of a hang.
//!
//! An SSL listener hands each accepted socket to its connection task as it is: the TLS
//! handshake runs there ([`super::tls`]), never here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};

use super::connection::Connection;
use crate::router::{Router, Session};
use crate::security::ssl::ServerTls;

/// The accept loop (see the module doc).
pub struct Listener {
    listener: TcpListener,
    router: Arc<Router>,
    /// SSL and SASL_SSL listeners: the TLS configuration.
    tls: Option<Arc<ServerTls>>,
    open: Arc<AtomicUsize>,
    shutdown: broadcast::Sender<()>,
    /// Subscribed when the listener is built, not when its task first runs: a shutdown sent
    /// in between (a node stopped right after its start) would otherwise never reach it.
    stop: Option<broadcast::Receiver<()>>,
    done: mpsc::Sender<()>,
}

/// One open connection counted against `max.connections`, released when dropped.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Listener {
    /// `open` counts the connections of every listener of the node together
    /// (`max.connections` is broker-wide). `tls`: the listener speaks TLS.
    pub fn new(
        listener: TcpListener,
        router: Arc<Router>,
        tls: Option<Arc<ServerTls>>,
        open: Arc<AtomicUsize>,
        shutdown: broadcast::Sender<()>,
        done: mpsc::Sender<()>,
    ) -> Self {
        let stop = Some(shutdown.subscribe());
        Listener {
            listener,
            router,
            tls,
            open,
            shutdown,
            stop,
            done,
        }
    }

    /// Accepts until the shutdown signal.
    pub async fn run(mut self) {
        let mut stop = match self.stop.take() {
            Some(s) => s,
            None => self.shutdown.subscribe(),
        };
        loop {
            let accepted = tokio::select! {
                r = self.listener.accept() => r,
                _ = stop.recv() => return,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Usually EMFILE: back off briefly instead of spinning.
                    tracing::error!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let max_connections = self.router.max_connections();
            if self.open.load(Ordering::Acquire) >= max_connections {
                tracing::warn!(
                    "refusing connection from {peer}: max.connections ({max_connections}) reached"
                );
                drop(stream);
                continue;
            }
            self.open.fetch_add(1, Ordering::AcqRel);
            let permit = Open(self.open.clone());
            let _ = stream.set_nodelay(true);
            let router = self.router.clone();
            let mut shutdown = self.shutdown.subscribe();
            // A shutdown sent since the accept would not reach the connection's receiver.
            if !matches!(stop.try_recv(), Err(broadcast::error::TryRecvError::Empty)) {
                return;
            }
            let done = self.done.clone();
            let Some(tls) = self.tls.clone() else {
                let session = Session::anonymous(peer);
                let conn = Connection::new(stream, peer, session, router, shutdown, done);
                tokio::spawn(async move {
                    conn.serve().await;
                    drop(permit);
                });
                continue;
            };
            tokio::spawn(async move {
                let idle = router.limits().idle;
                let shaken = super::tls::handshake(stream, peer, &tls, idle, &mut shutdown).await;
                if let Some((stream, principal)) = shaken {
                    let session = Session::new(peer, principal);
                    Connection::new(stream, peer, session, router, shutdown, done)
                        .serve()
                        .await;
                }
                drop(permit);
            });
        }
    }
}
