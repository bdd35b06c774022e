//! One in-process node on a runtime of its own: what [`super::TestBroker`] and
//! [`super::TestCluster`] start, stop and restart.
//!
//! Why a runtime per node: the request path blocks its worker thread for disk writes
//! (`block_in_place`, which a current-thread runtime such as `#[tokio::test]`'s refuses), and
//! stopping a node must end every task and thread it started; dropping its own runtime after
//! the node's graceful shutdown guarantees that. Calls that block on the node's runtime run
//! on a scoped helper thread when the caller is itself inside a tokio runtime (blocking there
//! panics), so the API works from plain and async tests alike.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::keys::{broker_key, listener_key, topic_key};
use crate::config::BrokerConfig;
use crate::node::{self, Embedding, OAuthBearerValidators, ServerHandle};
use crate::router::faults::Faults;

use super::Error;

/// How long a stopping node's runtime may take to end its blocking tasks.
const RUNTIME_GRACE: Duration = Duration::from_secs(5);

/// Runs `f` where blocking is allowed: here, or on a scoped thread inside a tokio runtime.
pub(crate) fn blocking<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Resolves a configuration key given by its Kafka name: a broker key (or a listener-prefixed
/// one) as it is, a topic key as its broker synonym (the default for every topic).
pub(crate) fn resolve_key(key: &str, value: &str) -> Result<(String, String), Error> {
    if let Some(row) = broker_key(key).or_else(|| listener_key(key)) {
        row.validate(value)
            .map_err(|e| Error::Config(e.to_string()))?;
        return Ok((key.to_string(), value.to_string()));
    }
    if let Some(row) = topic_key(key) {
        row.validate(value)
            .map_err(|e| Error::Config(e.to_string()))?;
        let synonym = row
            .synonyms
            .iter()
            .find(|s| broker_key(s).is_some_and(|b| b.scale == 1))
            .ok_or_else(|| {
                Error::Config(format!(
                    "topic key {key} has no broker default; set it on the topic instead"
                ))
            })?;
        return Ok((synonym.to_string(), value.to_string()));
    }
    Err(Error::Config(format!("unknown configuration key {key}")))
}

/// A started node and the runtime it runs on.
pub(crate) struct Node {
    rt: tokio::runtime::Runtime,
    handle: ServerHandle,
}

impl Node {
    /// Starts a node with these properties (already resolved) and data directory.
    pub(crate) fn start(
        props: &[(String, String)],
        data_dir: &std::path::Path,
        faults: &Arc<Faults>,
        oauthbearer: &OAuthBearerValidators,
        worker_threads: usize,
    ) -> Result<Node, Error> {
        Node::start_bound(
            props,
            data_dir,
            faults,
            oauthbearer,
            worker_threads,
            Vec::new(),
        )
    }

    /// As [`Node::start`], with listeners already bound (by name; see
    /// `crate::node::Embedding::bound`).
    pub(crate) fn start_bound(
        props: &[(String, String)],
        data_dir: &std::path::Path,
        faults: &Arc<Faults>,
        oauthbearer: &OAuthBearerValidators,
        worker_threads: usize,
        bound: Vec<(String, std::net::TcpListener)>,
    ) -> Result<Node, Error> {
        let mut warnings = Vec::new();
        let mut cfg = BrokerConfig::default();
        cfg.apply_properties(props, &mut warnings)
            .map_err(|e| Error::Config(e.to_string()))?;
        if let Some(w) = warnings.into_iter().next() {
            return Err(Error::Config(w));
        }
        cfg.data_dir = data_dir.to_path_buf();
        let faults = faults.clone();
        let oauthbearer = oauthbearer.clone();
        tracing::debug!(target: "gregor::start", "test node: building runtime");
        blocking(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads.max(1))
                .thread_name("gregor-test")
                .enable_all()
                .build()
                .map_err(Error::Io)?;
            tracing::debug!(target: "gregor::start", "test node: runtime built");
            let embedding = Embedding {
                faults: Some(faults),
                bound,
                oauthbearer,
            };
            match rt.block_on(node::start_with(cfg, embedding)) {
                Ok(handle) => Ok(Node { rt, handle }),
                Err(e) => {
                    rt.shutdown_timeout(RUNTIME_GRACE);
                    Err(match e.kind() {
                        std::io::ErrorKind::InvalidInput => Error::Config(e.to_string()),
                        _ => Error::Io(e),
                    })
                }
            }
        })
    }

    /// The first broker listener's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// A listener's bound address, by name.
    pub(crate) fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.handle.listener_addr(name)
    }

    /// Runs a future on the node's runtime and waits for it.
    pub(crate) fn run<F>(&self, f: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        blocking(|| self.rt.block_on(f))
    }

    /// Stops the node: `controlled` first asks the controller to move its leaderships away
    /// (a graceful broker stop); otherwise it vanishes at once. Either way every task and
    /// thread it started has ended and its files are closed when this returns.
    pub(crate) fn stop(self, controlled: bool) -> Result<(), Error> {
        let Node { rt, handle } = self;
        blocking(move || {
            let r = if controlled {
                rt.block_on(handle.shutdown())
            } else {
                rt.block_on(handle.shutdown_now())
            };
            rt.shutdown_timeout(RUNTIME_GRACE);
            r.map_err(Error::Io)
        })
    }
}
