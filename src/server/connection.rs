//! One client connection: reads size-prefixed frames, hands them one at a time in arrival
//! order to the [`Router`] (as Kafka does, so responses leave in request order), and writes
//! the response frames. It knows frames only: what a frame means is the router's business.
//!
//! Responses to pipelined requests already buffered are coalesced into one write.
//!
//! Pipelined acks=all: a Produce whose batches are appended but not yet committed answers
//! later ([`Answer::Later`]); the connection goes on to the next request if that is a Produce
//! without idempotent or transactional batches too (up to [`MAX_DUE`] answers due), so a
//! client's pipelined acks=all requests are appended
//! back to back and replicated together instead of one replication round trip each. Answers
//! still leave in request order, and any other request is served only once every earlier
//! one is answered — Kafka's order (docs/design/replication.md, "Pipelined acks=all").
//! Requests still buffered behind an answer that was awaited are dropped, not served, when the
//! client closed or reset the connection meanwhile (Kafka may still serve the next one): an
//! idempotent librdkafka producer that gave up on the earlier request counts them as "possibly
//! persisted" and, after an epoch bump, sends their records again renumbered, which no broker
//! can recognise as a retry (docs/design/replication.md §11). A frame
//! whose size is below 8 or above the router's limit for the session (`socket.request.max.bytes`,
//! or `sasl.server.max.receive.size` before SASL authentication) closes the connection before
//! anything is allocated for it; a partial frame never makes the buffer grow by more than
//! what has actually arrived. A connection silent for `connections.max.idle.ms` is closed.
//!
//! The stream is any `AsyncRead + AsyncWrite`: a plain `TcpStream` (PLAINTEXT listeners; large
//! mapped chunks go to the socket straight from where they lie) or a TLS stream (SSL
//! listeners; rustls encrypts what it is given and keeps it until flushed, so the output is
//! flushed before each read, long-poll and close — a no-op on a plain socket).

use std::net::SocketAddr;
use std::sync::Arc;

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};

use crate::protocol::codec::{Answer, OWN_CHUNK_MIN};
use crate::protocol::{DispatchError, Frame};
use crate::router::{FrameLimits, Router, Session};

/// How long a request in flight at shutdown may still take before it is cut short.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Answers due on one connection (Produce requests appended, waiting for their high
/// watermark) before the next Produce waits for the oldest. Only Produce requests without
/// idempotent or transactional batches are pipelined ([`crate::router::pipeline`]); every
/// other request — an idempotent Produce included — is served once every earlier answer is
/// out, Kafka's order. An idempotent Produce appended behind a waiting one could be written
/// twice: when its client gives up on the earlier request (librdkafka closes the connection at
/// `request.timeout.ms`), it counts the later ones as unanswered and, after an epoch bump,
/// resends them renumbered (the 3-node Jepsen duplicate, seed 9993812093434785461;
/// `replication::pipelined` tests it).
const MAX_DUE: usize = 32;

/// Bytes read from the socket at a time at most.
const READ_CHUNK: usize = 64 * 1024;

/// Room made for the read that checks the client is still there ([`Connection::peer_left`]).
const PEEK_CHUNK: usize = 4096;

/// The state of one connection (see the module doc).
pub struct Connection<S> {
    stream: S,
    peer: SocketAddr,
    session: Session,
    router: Arc<Router>,
    limits: FrameLimits,
    shutdown: broadcast::Receiver<()>,
    _done: mpsc::Sender<()>,
}

enum Framed {
    Frame(Bytes),
    NeedMore(usize),
    Bad(i64),
}

fn next_frame(buf: &mut BytesMut, max: usize) -> Framed {
    if buf.len() < 4 {
        return Framed::NeedMore(4 - buf.len());
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as i64;
    if size < 8 || size as u64 > max as u64 {
        return Framed::Bad(size);
    }
    let total = 4 + size as usize;
    if buf.len() < total {
        return Framed::NeedMore(total - buf.len());
    }
    buf.advance(4);
    Framed::Frame(buf.split_to(size as usize).freeze())
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    /// `session` carries the principal the transport established (a TLS client certificate,
    /// else `User:ANONYMOUS`).
    pub fn new(
        stream: S,
        peer: SocketAddr,
        session: Session,
        router: Arc<Router>,
        shutdown: broadcast::Receiver<()>,
        done: mpsc::Sender<()>,
    ) -> Self {
        let limits = router.limits();
        Connection {
            stream,
            peer,
            session,
            router,
            limits,
            shutdown,
            _done: done,
        }
    }

    /// Queues a response behind the ones in `out`: small chunks are copied into `out` so
    /// pipelined responses leave in one write; a large chunk (mapped record bytes) is written
    /// straight from where it lies, after what is queued before it.
    async fn queue(&mut self, out: &mut BytesMut, frame: Frame) -> std::io::Result<()> {
        for part in frame.0 {
            if part.len() < OWN_CHUNK_MIN {
                out.extend_from_slice(&part);
                continue;
            }
            if !out.is_empty() {
                self.stream.write_all(out).await?;
                out.clear();
            }
            self.stream.write_all(&part).await?;
        }
        Ok(())
    }

    /// Writes what is queued and flushes it out (TLS keeps written bytes until flushed).
    async fn send(&mut self, out: &mut BytesMut) -> std::io::Result<()> {
        if !out.is_empty() {
            self.stream.write_all(out).await?;
            out.clear();
        }
        self.stream.flush().await
    }

    /// Serves the connection until the client leaves, errs, idles out, or shutdown, then
    /// tells the router it closed.
    pub async fn serve(mut self) {
        let (router, peer) = (self.router.clone(), self.peer);
        // The session is lent to each request in turn, apart from `self` so that the socket
        // stays usable while a request is being served.
        let mut session = std::mem::replace(&mut self.session, Session::anonymous(peer));
        self.serve_frames(&mut session).await;
        // TLS: close_notify (a plain socket: FIN); the peer may already be gone.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.stream.shutdown()).await;
        router.closed(peer);
    }

    async fn serve_frames(&mut self, session: &mut Session) {
        let idle = self.limits.idle;
        let mut buf = BytesMut::with_capacity(4096);
        let mut out = BytesMut::new();
        // Answers not sent yet, in request order, behind a Produce still waiting for its
        // high watermark (see the module doc).
        let mut due: VecDeque<Answer> = VecDeque::new();
        loop {
            let need = loop {
                // The limit is the session's: smaller until a SASL connection authenticated.
                let max = self.router.max_frame(session);
                match next_frame(&mut buf, max) {
                    Framed::Frame(frame) => {
                        // Only a Produce without idempotent or transactional batches is
                        // served while earlier answers are due (up to MAX_DUE of them);
                        // anything else once every earlier one is out.
                        let pipelined = !due.is_empty()
                            && is_produce(&frame)
                            && crate::router::pipeline::may_pipeline(&frame);
                        let keep = if pipelined { MAX_DUE - 1 } else { 0 };
                        let waited = due.len() > keep;
                        if !self.settle(&mut due, &mut out, keep).await {
                            let _ = self.send(&mut out).await;
                            return;
                        }
                        // Buffered while an earlier answer was awaited, from a client that has
                        // left meanwhile: dropped, not served (see the module doc).
                        if waited && self.peer_left(&mut buf) {
                            tracing::debug!(
                                "{}: closed while an answer was awaited; buffered requests dropped",
                                self.peer
                            );
                            let _ = self.send(&mut out).await;
                            return;
                        }
                        // A fetch may long-poll: send what is ready before waiting.
                        if Router::may_long_poll(&frame) {
                            if let Err(e) = self.send(&mut out).await {
                                tracing::debug!("{}: write failed: {e}", self.peer);
                                return;
                            }
                        }
                        // At shutdown a request in flight gets SHUTDOWN_GRACE to finish and be
                        // answered; one still waiting then (a long-poll, a JoinGroup, acks=all)
                        // is cut short, since what it waits for may need the background tasks
                        // shutdown stops. Writes are never torn: appends run to the end on
                        // their thread, metadata and coordinator writes in their own tasks.
                        let router = self.router.clone();
                        let mut stopping = false;
                        let handled = {
                            let handling = router.handle_frame(session, frame);
                            tokio::pin!(handling);
                            tokio::select! {
                                r = &mut handling => r,
                                _ = self.shutdown.recv() => {
                                    stopping = true;
                                    match tokio::time::timeout(SHUTDOWN_GRACE, &mut handling).await {
                                        Ok(r) => r,
                                        Err(_) => {
                                            let _ = self.send(&mut out).await;
                                            return;
                                        }
                                    }
                                }
                            }
                        };
                        if stopping {
                            // The signal is consumed: answer this request (and those due
                            // before it, within the grace) and close.
                            if let Ok(answer) = handled {
                                due.push_back(answer);
                                self.finish(&mut due, &mut out).await;
                            } else {
                                let _ = self.send(&mut out).await;
                            }
                            return;
                        }
                        match handled {
                            Ok(Answer::Now(None)) => {}
                            Ok(Answer::Now(Some(resp))) if due.is_empty() => {
                                if let Err(e) = self.queue(&mut out, resp).await {
                                    tracing::debug!("{}: write failed: {e}", self.peer);
                                    return;
                                }
                                if session.close_after_response {
                                    let _ = self.send(&mut out).await;
                                    return;
                                }
                            }
                            Ok(answer) => due.push_back(answer),
                            Err(e) => {
                                closing(self.peer, &e);
                                let _ = self.send(&mut out).await;
                                return;
                            }
                        }
                        // Answers that came meanwhile go out with the next write.
                        if !self.deliver_ready(&mut due, &mut out).await {
                            let _ = self.send(&mut out).await;
                            return;
                        }
                    }
                    Framed::NeedMore(n) => break n,
                    Framed::Bad(size) => {
                        tracing::warn!(
                            "{}: invalid request size {size} (limit {max}); closing connection",
                            self.peer
                        );
                        let _ = self.send(&mut out).await;
                        return;
                    }
                }
            };
            buf.reserve(need.clamp(1, READ_CHUNK));
            // Wait for more bytes, sending each answer due as it comes.
            loop {
                if let Err(e) = self.send(&mut out).await {
                    tracing::debug!("{}: write failed: {e}", self.peer);
                    return;
                }
                let event = tokio::select! {
                    biased;
                    _ = self.shutdown.recv() => Event::Shutdown,
                    a = front(&mut due), if !due.is_empty() => Event::Answered(a),
                    r = tokio::time::timeout(idle, self.stream.read_buf(&mut buf)) => Event::Read(r),
                };
                match event {
                    Event::Shutdown => {
                        self.finish(&mut due, &mut out).await;
                        return;
                    }
                    Event::Answered(a) => {
                        due.pop_front();
                        if !self.deliver(&mut out, a).await
                            || !self.deliver_ready(&mut due, &mut out).await
                        {
                            let _ = self.send(&mut out).await;
                            return;
                        }
                    }
                    Event::Read(Ok(Ok(0))) => return,
                    Event::Read(Ok(Ok(_))) => break,
                    Event::Read(Ok(Err(e))) => {
                        tracing::debug!("{}: read failed: {e}", self.peer);
                        return;
                    }
                    // Not idle while answers are due: they are what the client waits for.
                    Event::Read(Err(_)) if !due.is_empty() => {}
                    Event::Read(Err(_)) => {
                        tracing::info!(
                            "{}: idle for {} ms; closing connection",
                            self.peer,
                            idle.as_millis()
                        );
                        return;
                    }
                }
            }
        }
    }

    /// Whether the client has closed or reset the connection, as far as the bytes already
    /// arrived tell (one read that does not wait; what it reads joins `buf`).
    fn peer_left(&mut self, buf: &mut BytesMut) -> bool {
        buf.reserve(PEEK_CHUNK);
        match self.stream.read_buf(buf).now_or_never() {
            Some(Ok(0)) | Some(Err(_)) => true,
            Some(Ok(_)) | None => false,
        }
    }

    /// At shutdown: the answers due get SHUTDOWN_GRACE to arrive, then what is queued is sent.
    async fn finish(&mut self, due: &mut VecDeque<Answer>, out: &mut BytesMut) {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.settle(due, out, 0)).await;
        let _ = self.send(out).await;
    }

    /// Waits for the answers due, oldest first, queuing each, until at most `keep` are left;
    /// false when the connection must close.
    async fn settle(
        &mut self,
        due: &mut VecDeque<Answer>,
        out: &mut BytesMut,
        keep: usize,
    ) -> bool {
        while due.len() > keep {
            let a = front(due).await;
            due.pop_front();
            if !self.deliver(out, a).await {
                return false;
            }
        }
        true
    }

    /// Queues the answers due that are ready now, oldest first, up to the first still
    /// waiting; false when the connection must close.
    async fn deliver_ready(&mut self, due: &mut VecDeque<Answer>, out: &mut BytesMut) -> bool {
        while !due.is_empty() {
            let Some(a) = front(due).now_or_never() else {
                return true;
            };
            due.pop_front();
            if !self.deliver(out, a).await {
                return false;
            }
        }
        true
    }

    /// Queues one answer that came; false when the connection must close.
    async fn deliver(
        &mut self,
        out: &mut BytesMut,
        a: Result<Option<Frame>, DispatchError>,
    ) -> bool {
        match a {
            Ok(Some(frame)) => match self.queue(out, frame).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!("{}: write failed: {e}", self.peer);
                    false
                }
            },
            Ok(None) => true,
            Err(e) => {
                closing(self.peer, &e);
                false
            }
        }
    }
}

/// What the wait for more bytes ended with.
enum Event {
    Shutdown,
    Answered(Result<Option<Frame>, DispatchError>),
    Read(Result<std::io::Result<usize>, tokio::time::error::Elapsed>),
}

/// Logs why a request closes the connection.
fn closing(peer: SocketAddr, e: &DispatchError) {
    match e {
        DispatchError::Encode(_) => tracing::error!("{peer}: {e}; closing connection"),
        DispatchError::SessionExpired => tracing::debug!("{peer}: {e}; closing connection"),
        _ => tracing::warn!("{peer}: {e}; closing connection"),
    }
}

/// Whether the frame is a Produce request (api key 0): the only request served while
/// earlier answers are due.
fn is_produce(frame: &[u8]) -> bool {
    frame.len() >= 2 && i16::from_be_bytes([frame[0], frame[1]]) == 0
}

/// Resolves with the oldest answer due (at once when it is ready); polls it in place, so it
/// may be dropped and called again. Pending forever when none is due.
async fn front(due: &mut VecDeque<Answer>) -> Result<Option<Frame>, DispatchError> {
    match due.front_mut() {
        Some(Answer::Now(frame)) => Ok(frame.take()),
        Some(Answer::Later(later)) => later.await,
        None => std::future::pending().await,
    }
}
