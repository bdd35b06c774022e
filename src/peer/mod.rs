//! Outbound Kafka-protocol client for node-to-node traffic: the metadata quorum's Raft RPCs,
//! requests forwarded to the active controller, and (issue 13, later steps) broker →
//! controller and broker → broker calls.
//!
//! A [`Peer`] is one address with at most one connection: it connects on first use, sends a
//! request (any api key, at the version the caller chooses, header client id
//! `gregor-<node.id>`), reads the response and checks its correlation id. One request is in
//! flight per peer (callers queue on an async mutex), which keeps a response matched to its
//! request without a demultiplexer; callers needing parallel streams use several peers. A
//! failed connect starts an exponential backoff (`backoff_min` doubling up to `backoff_max`)
//! during which sends fail at once as unreachable; any I/O error, timeout, oversized frame or
//! unexpected correlation id drops the connection (the next send reconnects); so does a
//! connection found closed by the other side when a send is about to use it (a restarted
//! node), before anything is written on it. Responses are
//! bounded by `max_frame` before anything is allocated. [`PeerPool`] shares peers by address.
//!
//! Framing lives in [`frame`], shared with the blocking tool client. A [`Connector`] in the
//! settings (TLS, SASL: [`transport`]) runs on every new connection before the first
//! request; a connection it refuses counts as a failed connect (backoff, unreachable).
//!
//! Thread-safety: [`Peer`] and [`PeerPool`] are `Send + Sync`; a cancelled send (its future
//! dropped mid-request) leaves the connection marked busy, and the next send replaces it.

pub mod frame;
pub mod transport;

pub use transport::{Connector, PeerStream};

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::protocol::Request;
use tokio::net::TcpStream;

/// How a peer client behaves (see the module doc).
#[derive(Debug, Clone)]
pub struct PeerSettings {
    /// Runs on each new connection (TLS, SASL); `None`: plain TCP.
    pub connector: Option<Arc<dyn Connector>>,
    /// The request header's client id (`gregor-<node.id>`).
    pub client_id: String,
    pub connect_timeout: Duration,
    /// Largest response frame accepted.
    pub max_frame: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long a connector may take to secure a new connection (TLS handshake, SASL).
    pub handshake_timeout: Duration,
}

impl PeerSettings {
    /// Settings for node `node_id` with gregor's defaults (connect 1 s, frames up to
    /// 100 MiB, backoff 50 ms → 1 s).
    pub fn for_node(node_id: i32) -> PeerSettings {
        PeerSettings {
            connector: None,
            client_id: format!("gregor-{node_id}"),
            connect_timeout: Duration::from_secs(1),
            max_frame: 100 << 20,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// These settings with `connector` run on every new connection.
    pub fn with_connector(mut self, connector: Option<Arc<dyn Connector>>) -> PeerSettings {
        self.connector = connector;
        self
    }
}

/// Why a send failed. `Unreachable`: nothing was sent (connect failed or backing off), so
/// the request may be retried anywhere; the others may have reached the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerError {
    Unreachable(String),
    Timeout,
    Io(String),
    Protocol(String),
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::Unreachable(m) => write!(f, "unreachable: {m}"),
            PeerError::Timeout => f.write_str("request timed out"),
            PeerError::Io(m) => write!(f, "connection failed: {m}"),
            PeerError::Protocol(m) => write!(f, "bad response: {m}"),
        }
    }
}

impl std::error::Error for PeerError {}

/// Whether an idle connection is still open: nothing to read (a read would block). End of
/// stream (the other side closed it), bytes nobody asked for or an error all say no.
fn idle_and_open(stream: &dyn PeerStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.tcp().try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Connection state of one peer.
#[derive(Default)]
struct State {
    stream: Option<Box<dyn PeerStream>>,
    /// A request was sent on `stream` and its response not read (a cancelled send).
    busy: bool,
    correlation: i32,
    failures: u32,
    retry_at: Option<Instant>,
    /// A connection being made and secured (with a connector), awaited by the next send.
    connecting: Option<tokio::task::JoinHandle<Result<Box<dyn PeerStream>, String>>>,
}

/// One remote address (see the module doc).
pub struct Peer {
    addr: String,
    settings: Arc<PeerSettings>,
    state: tokio::sync::Mutex<State>,
}

impl Peer {
    pub fn new(addr: impl Into<String>, settings: Arc<PeerSettings>) -> Peer {
        Peer {
            addr: addr.into(),
            settings,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends a typed request at `version` and decodes its response, all within `timeout`.
    pub async fn send<R: Request>(
        &self,
        req: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, PeerError> {
        let body = frame::encode_body(req, version).map_err(PeerError::Protocol)?;
        let resp = self.send_raw(R::KEY, version, &body, timeout).await?;
        frame::decode_body::<R>(resp, version).map_err(PeerError::Protocol)
    }

    /// Sends an encoded request body under `api_key`/`version` and returns the response
    /// body (header removed), all within `timeout`.
    pub async fn send_raw(
        &self,
        api_key: i16,
        version: i16,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Bytes, PeerError> {
        match tokio::time::timeout(timeout, self.exchange(api_key, version, body)).await {
            Ok(r) => r,
            Err(_) => Err(PeerError::Timeout),
        }
    }

    async fn exchange(&self, api_key: i16, version: i16, body: &[u8]) -> Result<Bytes, PeerError> {
        let mut st = self.state.lock().await;
        if st.busy {
            st.stream = None;
            st.busy = false;
        }
        if st.stream.as_deref().is_some_and(|s| !idle_and_open(s)) {
            // The other side closed it while it was idle (the process restarted, or its
            // idle timeout): reconnect now rather than fail this request on it.
            st.stream = None;
        }
        if st.stream.is_none() {
            self.connect(&mut st).await?;
        }
        st.correlation = st.correlation.wrapping_add(1);
        let correlation = st.correlation;
        let request = frame::request_frame(
            api_key,
            version,
            correlation,
            &self.settings.client_id,
            body,
        )
        .map_err(PeerError::Protocol)?;
        st.busy = true;
        let result = match st.stream.as_mut() {
            Some(stream) => {
                transport::round_trip(stream.as_mut(), &request, self.settings.max_frame)
                    .await
                    .map_err(|e| match e {
                        transport::RoundTripError::Io(e) => {
                            PeerError::Io(format!("{}: {e}", self.addr))
                        }
                        transport::RoundTripError::Protocol(m) => PeerError::Protocol(m),
                    })
            }
            None => Err(PeerError::Io("not connected".into())),
        };
        st.busy = false;
        let checked = result.and_then(|f| {
            let (c, body) =
                frame::response_body(api_key, version, f).map_err(PeerError::Protocol)?;
            if c != correlation {
                return Err(PeerError::Protocol(format!(
                    "correlation id {c}, expected {correlation}"
                )));
            }
            Ok(body)
        });
        if checked.is_err() {
            st.stream = None;
        }
        checked
    }

    async fn connect(&self, st: &mut State) -> Result<(), PeerError> {
        if let Some(at) = st.retry_at {
            if Instant::now() < at {
                return Err(PeerError::Unreachable(format!(
                    "{}: backing off after {} failed connects",
                    self.addr, st.failures
                )));
            }
        }
        let failed = match &self.settings.connector {
            None => match self.open_tcp().await {
                Ok(stream) => {
                    st.stream = Some(Box::new(stream));
                    st.failures = 0;
                    st.retry_at = None;
                    return Ok(());
                }
                Err(e) => e,
            },
            Some(connector) => {
                // The handshake runs in a task of its own, so a request cancelled meanwhile
                // (a Raft vote's short timeout) does not throw a half-made TLS/SASL session
                // away: the next send awaits the same task.
                let task = match st.connecting.take() {
                    Some(t) => t,
                    None => {
                        let tcp = self.open_tcp();
                        let (addr, connector, settings) =
                            (self.addr.clone(), connector.clone(), self.settings.clone());
                        let opening = async move {
                            let stream = tcp.await?;
                            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
                            let host = host.trim_start_matches('[').trim_end_matches(']');
                            let secured = connector.connect(stream, host, &settings.client_id);
                            match tokio::time::timeout(settings.handshake_timeout, secured).await {
                                Ok(r) => r,
                                Err(_) => Err("TLS/SASL handshake timed out".to_string()),
                            }
                        };
                        tokio::spawn(opening)
                    }
                };
                let task = st.connecting.insert(task);
                let result = task.await;
                st.connecting = None;
                match result {
                    Ok(Ok(stream)) => {
                        st.stream = Some(stream);
                        st.failures = 0;
                        st.retry_at = None;
                        return Ok(());
                    }
                    Ok(Err(e)) => e,
                    Err(e) => format!("connection task failed: {e}"),
                }
            }
        };
        st.failures = st.failures.saturating_add(1);
        let shift = st.failures.saturating_sub(1).min(16);
        let backoff = self
            .settings
            .backoff_min
            .saturating_mul(1 << shift)
            .min(self.settings.backoff_max);
        st.retry_at = Some(Instant::now() + backoff);
        Err(PeerError::Unreachable(format!("{}: {failed}", self.addr)))
    }

    /// A TCP connection to the peer within the connect timeout.
    fn open_tcp(&self) -> impl std::future::Future<Output = Result<TcpStream, String>> + Send {
        let (addr, limit) = (self.addr.clone(), self.settings.connect_timeout);
        async move {
            match tokio::time::timeout(limit, TcpStream::connect(addr.as_str())).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    Ok(stream)
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("connect timed out".to_string()),
            }
        }
    }
}

/// Peers shared by address (see the module doc).
pub struct PeerPool {
    settings: Arc<PeerSettings>,
    peers: Mutex<HashMap<String, Arc<Peer>>>,
}

impl PeerPool {
    pub fn new(settings: PeerSettings) -> PeerPool {
        PeerPool {
            settings: Arc::new(settings),
            peers: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &Arc<PeerSettings> {
        &self.settings
    }

    /// The peer for `addr` (`host:port`), created on first use.
    pub fn get(&self, addr: &str) -> Arc<Peer> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers
            .entry(addr.to_string())
            .or_insert_with(|| Arc::new(Peer::new(addr, self.settings.clone())))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn settings() -> PeerSettings {
        PeerSettings {
            backoff_min: Duration::from_millis(200),
            ..PeerSettings::for_node(7)
        }
    }

    #[tokio::test]
    async fn unreachable_then_backoff() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let p = Peer::new(addr, Arc::new(settings()));
        let t = Duration::from_secs(2);
        let first = p.send(&ApiVersionsRequest::default(), 3, t).await;
        assert!(matches!(first, Err(PeerError::Unreachable(_))), "{first:?}");
        let second = p.send(&ApiVersionsRequest::default(), 3, t).await;
        match second {
            Err(PeerError::Unreachable(m)) => assert!(m.contains("backing off"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn silent_server_times_out_and_oversized_frame_is_refused() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut silent, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 64];
            let _ = silent.read(&mut buf).await;
            // The client gave up; it reconnects: answer with a huge size prefix.
            let (mut huge, _) = l.accept().await.unwrap();
            let _ = huge.read(&mut buf).await;
            huge.write_all(&i32::MAX.to_be_bytes()).await.unwrap();
            silent
        });
        let p = Peer::new(addr, Arc::new(settings()));
        let r = p
            .send(&MetadataRequest::default(), 12, Duration::from_millis(100))
            .await;
        assert_eq!(r.err(), Some(PeerError::Timeout));
        let r = p
            .send(&MetadataRequest::default(), 12, Duration::from_secs(5))
            .await;
        assert!(matches!(r, Err(PeerError::Protocol(_))), "{r:?}");
        drop(server.await.unwrap());
    }

    /// Reads one request frame and answers it with an ApiVersions v3 response.
    async fn answer_one(conn: &mut TcpStream) {
        let mut size = [0u8; 4];
        conn.read_exact(&mut size).await.unwrap();
        let mut frame = vec![0u8; i32::from_be_bytes(size) as usize];
        conn.read_exact(&mut frame).await.unwrap();
        let correlation = &frame[4..8];
        let mut body = bytes::BytesMut::new();
        kafka_protocol::protocol::Encodable::encode(
            &kafka_protocol::messages::ApiVersionsResponse::default(),
            &mut body,
            3,
        )
        .unwrap();
        let mut out = ((4 + body.len()) as i32).to_be_bytes().to_vec();
        out.extend_from_slice(correlation);
        out.extend_from_slice(&body);
        conn.write_all(&out).await.unwrap();
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_replaced_before_the_send() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            let (mut first, _) = l.accept().await.unwrap();
            answer_one(&mut first).await;
            // The server restarts: the idle connection is closed.
            drop(first);
            closed_tx.send(()).unwrap();
            let (mut second, _) = l.accept().await.unwrap();
            answer_one(&mut second).await;
            second
        });
        let p = Peer::new(addr, Arc::new(settings()));
        let t = Duration::from_secs(5);
        p.send(&ApiVersionsRequest::default(), 3, t).await.unwrap();
        closed_rx.await.unwrap();
        // Give the FIN a moment to arrive (the client learns of it from the socket).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let st = p.state.lock().await;
            let open = st.stream.as_deref().is_some_and(idle_and_open);
            drop(st);
            if !open || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let r = p.send(&ApiVersionsRequest::default(), 3, t).await;
        assert!(r.is_ok(), "the second send reconnected: {r:?}");
        drop(server.await.unwrap());
    }
}
