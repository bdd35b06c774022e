//! The TLS handshake of a connection on an SSL (or SASL_SSL) listener, run in the
//! connection's own task — never in the accept loop, so a slow or hostile client delays only
//! itself — under a deadline, and the principal its certificate maps to.
//!
//! Why a deadline of its own: until the handshake is done no frame can be read, so the idle
//! timeout of the framing loop does not apply yet; a client that connects and sends nothing
//! (or garbage rustls keeps waiting on) must not hold a `max.connections` slot for long. The
//! deadline is the smaller of `connections.max.idle.ms` and [`HANDSHAKE_TIMEOUT`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::security::ssl::ServerTls;
use crate::security::KafkaPrincipal;

/// The longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the server side of the handshake. `None` (logged) when it fails, times out, shutdown
/// comes first, or the client's certificate maps to no principal: the caller drops the socket.
pub async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    tls: &ServerTls,
    idle: Duration,
    shutdown: &mut broadcast::Receiver<()>,
) -> Option<(TlsStream<TcpStream>, KafkaPrincipal)> {
    let acceptor = TlsAcceptor::from(tls.config());
    let limit = idle.min(HANDSHAKE_TIMEOUT);
    let accepted = tokio::select! {
        r = tokio::time::timeout(limit, acceptor.accept(stream)) => r,
        _ = shutdown.recv() => return None,
    };
    let stream = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!("{peer}: TLS handshake failed: {e}; closing connection");
            return None;
        }
        Err(_) => {
            tracing::info!(
                "{peer}: TLS handshake not done within {} ms; closing connection",
                limit.as_millis()
            );
            return None;
        }
    };
    match tls.principal(stream.get_ref().1.peer_certificates()) {
        Ok(p) => {
            tracing::debug!("{peer}: TLS established, principal {p}");
            Some((stream, p))
        }
        Err(e) => {
            tracing::warn!("{peer}: TLS client certificate refused: {e}; closing connection");
            None
        }
    }
}
