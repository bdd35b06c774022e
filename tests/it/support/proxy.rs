//! A fault-injecting TCP forwarder for multi-node tests: [`Proxy`] listens on 127.0.0.1:0 and
//! forwards every connection to one target, in a mode the test switches at run time:
//! - [`Mode::Pass`]: bytes flow both ways;
//! - [`Mode::Blackhole`]: connections are accepted and held, nothing is forwarded (bytes read
//!   wait in the proxy, as a partitioned network's retransmissions would, and flow once the
//!   mode is `Pass` again; a new connection is not even connected to the target meanwhile);
//! - [`Mode::Reset`]: every open connection is closed and new ones are closed on accept;
//! - [`Mode::Delay`]: each chunk waits this long before it is forwarded (order kept).
//!
//! One proxy per directed link: point a node's `controller.quorum.voters` or advertised
//! inter-broker listener at a proxy to cut or slow that link alone. The proxy runs on its own
//! small tokio runtime (tests are blocking threads); the mode is a `watch` channel every
//! connection task follows, so a switch applies to open connections at once. Dropping the
//! proxy stops its runtime and closes everything.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Blackhole,
    Reset,
    Delay(Duration),
}

/// A running forwarder (see the module doc).
pub struct Proxy {
    rt: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts forwarding to `target`, in [`Mode::Pass`].
    pub fn start(target: SocketAddr) -> Proxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        // Never on a port reserved for a node that has not bound it yet.
        let mut held = Vec::new();
        let listener = loop {
            let l = rt
                .block_on(TcpListener::bind("127.0.0.1:0"))
                .expect("proxy bind");
            let port = l.local_addr().expect("proxy address").port();
            if !super::broker::is_reserved(port) {
                break l;
            }
            held.push(l);
        };
        drop(held);
        let addr = listener.local_addr().expect("proxy address");
        let (mode, watcher) = watch::channel(Mode::Pass);
        let accepted = Arc::new(AtomicUsize::new(0));
        rt.spawn(accept_loop(listener, target, watcher, accepted.clone()));
        Proxy {
            rt: Some(rt),
            addr,
            mode,
            accepted,
        }
    }

    /// The address to connect to instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the mode of every open and future connection.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Connections accepted so far (whatever happened to them).
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::Acquire)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    mode: watch::Receiver<Mode>,
    accepted: Arc<AtomicUsize>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        accepted.fetch_add(1, Ordering::AcqRel);
        if *mode.borrow() == Mode::Reset {
            drop(client);
            continue;
        }
        tokio::spawn(forward(client, target, mode.clone()));
    }
}

/// Waits until traffic may flow: `true` to go on (after any delay), `false` on Reset.
async fn may_flow(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Pass => return true,
            Mode::Delay(d) => {
                tokio::time::sleep(d).await;
                return *mode.borrow() != Mode::Reset;
            }
            Mode::Reset => return false,
            Mode::Blackhole => {
                if mode.changed().await.is_err() {
                    return false;
                }
            }
        }
    }
}

/// Resolves when the mode becomes Reset (or the proxy is gone).
async fn reset(mut mode: watch::Receiver<Mode>) {
    loop {
        if *mode.borrow_and_update() == Mode::Reset {
            return;
        }
        if mode.changed().await.is_err() {
            return;
        }
    }
}

async fn forward(client: TcpStream, target: SocketAddr, mode: watch::Receiver<Mode>) {
    let _ = client.set_nodelay(true);
    // Blackhole holds a new connection before it reaches the target.
    let mut waiting = mode.clone();
    let connect = async {
        if !may_flow(&mut waiting).await {
            return None;
        }
        TcpStream::connect(target).await.ok()
    };
    let server = tokio::select! {
        s = connect => s,
        _ = reset(mode.clone()) => None,
    };
    let Some(server) = server else {
        return;
    };
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let both = async {
        tokio::join!(pump(cr, sw, mode.clone()), pump(sr, cw, mode.clone()));
    };
    tokio::select! {
        _ = both => {}
        _ = reset(mode.clone()) => {}
    }
    // Dropping the halves closes both sockets.
}

/// Copies one direction, chunk by chunk, each chunk waiting for the mode to let it pass.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        if !may_flow(&mut mode).await {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
