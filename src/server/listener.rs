//! Accepts connections up to `max.connections` and spawns one task per connection.
//!
//! Why a semaphore: each connection holds a permit for its lifetime, so the limit is exact and
//! released even if a connection task panics. A connection past the limit is accepted and
//! closed at once with a log line, so the client sees a clean refusal instead of a hang.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, Semaphore};

use super::connection::Connection;
use crate::router::Router;

/// The accept loop (see the module doc).
pub struct Listener {
    listener: TcpListener,
    router: Arc<Router>,
    max_connections: usize,
    limit: Arc<Semaphore>,
    shutdown: broadcast::Sender<()>,
    done: mpsc::Sender<()>,
}

impl Listener {
    pub fn new(
        listener: TcpListener,
        router: Arc<Router>,
        shutdown: broadcast::Sender<()>,
        done: mpsc::Sender<()>,
    ) -> Self {
        let max_connections = router.limits().max_connections;
        let permits = max_connections.min(Semaphore::MAX_PERMITS);
        Listener {
            listener,
            router,
            max_connections,
            limit: Arc::new(Semaphore::new(permits)),
            shutdown,
            done,
        }
    }

    /// Accepts until the shutdown signal.
    pub async fn run(self) {
        let mut stop = self.shutdown.subscribe();
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
            let Ok(permit) = self.limit.clone().try_acquire_owned() else {
                tracing::warn!(
                    "refusing connection from {peer}: max.connections ({}) reached",
                    self.max_connections
                );
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let conn = Connection::new(
                stream,
                peer,
                self.router.clone(),
                self.shutdown.subscribe(),
                self.done.clone(),
            );
            tokio::spawn(async move {
                conn.serve().await;
                drop(permit);
            });
        }
    }
}
