//! The server side of a SCRAM exchange (RFC 5802, RFC 7677), as Kafka's `ScramSaslServer`
//! runs it: client-first (`n,,n=user,r=cnonce`) → server-first (`r=cnonce+snonce,s=salt,i=n`)
//! → client-final (`c=biws,r=nonce,p=proof`) → server-final (`v=signature`).
//!
//! Checks, each failing the exchange: the gs2 header (no channel binding: `n` or `y`, never
//! `p=`), an authorization id other than the user, unknown user, a stored credential below
//! 4096 iterations, the nonce of the final message (must end with ours, as Kafka's check), the channel-binding echo
//! `c=` (must be the base64 of the gs2 header), and the proof (`H(proof ⊕ HMAC(StoredKey,
//! AuthMessage)) = StoredKey`, compared in constant time). Extensions are ignored (Kafka's
//! `tokenauth` — delegation tokens — is refused: gregor has none). Every message is parsed
//! from bytes already bounded by the frame limit; nothing here allocates more than a
//! small multiple of its input. Also a client ([`ScramClient`]) for tests and tools.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::scram_crypto::{constant_time_eq, random_bytes, ScramCredential, ScramMechanism};
use super::scram_crypto::{MAX_ITERATIONS, MIN_ITERATIONS};

/// Why an exchange failed: `reason` is for the log (never a password or key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramError {
    pub reason: String,
}

fn fail<T>(reason: impl Into<String>) -> Result<T, ScramError> {
    Err(ScramError {
        reason: reason.into(),
    })
}

/// RFC 5802's `saslname` decoding: `=2C` is `,` and `=3D` is `=`; any other `=` is invalid.
fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3);
        match code {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return fail("invalid username encoding"),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The encoding of [`decode_saslname`]'s inverse (for the client).
fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// The parts of a client-first message the server needs.
#[derive(Debug)]
pub struct ClientFirst {
    pub gs2_header: String,
    pub authzid: String,
    pub user: String,
    pub nonce: String,
    pub bare: String,
}

/// Parses `gs2-header client-first-bare` (RFC 5802 §7).
pub fn parse_client_first(msg: &[u8]) -> Result<ClientFirst, ScramError> {
    let text = std::str::from_utf8(msg).or_else(|_| fail("client-first message is not UTF-8"))?;
    let mut parts = text.splitn(3, ',');
    let cb = parts.next().unwrap_or_default();
    let authz = parts.next();
    let bare = parts.next();
    let (Some(authz), Some(bare)) = (authz, bare) else {
        return fail("invalid client-first message");
    };
    match cb {
        "n" | "y" => {}
        c if c.starts_with("p=") => return fail("channel binding is not supported"),
        _ => return fail("invalid gs2 header"),
    }
    let authzid = match authz {
        "" => String::new(),
        a => match a.strip_prefix("a=") {
            Some(a) => decode_saslname(a)?,
            None => return fail("invalid authorization id"),
        },
    };
    let mut attrs = bare.split(',');
    let user = match attrs.next().and_then(|a| a.strip_prefix("n=")) {
        Some(u) => decode_saslname(u)?,
        None => return fail("client-first message without a user name"),
    };
    let nonce = match attrs.next().and_then(|a| a.strip_prefix("r=")) {
        Some(r) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_graphic() && b != b',') => r,
        _ => return fail("client-first message without a valid nonce"),
    };
    for ext in attrs {
        if ext.starts_with("tokenauth=") {
            return fail("delegation tokens are not supported");
        }
    }
    Ok(ClientFirst {
        gs2_header: format!("{cb},{authz},"),
        authzid,
        user,
        nonce: nonce.to_string(),
        bare: bare.to_string(),
    })
}

/// What the server remembers between its challenge and the client's final message.
struct Pending {
    first: ClientFirst,
    server_first: String,
    nonce: String,
    credential: ScramCredential,
}

/// A server nonce of 32 random alphanumeric characters, as Kafka's (`secureRandomString`):
/// no `=` or `,`, which some clients treat specially in attribute values (librdkafka 2.0
/// refuses a base64 nonce ending in `=`).
pub(super) fn alphanumeric_nonce() -> Result<String, ScramError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = random_bytes(32).map_err(|reason| ScramError { reason })?;
    // 256 = 4 × 62 + 8: the bias of a modulo is negligible for a nonce, which needs
    // unpredictability, not uniformity.
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

enum State {
    AwaitingClientFirst,
    AwaitingClientFinal(Box<Pending>),
    Done,
}

/// One server-side exchange (see the module doc).
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
    /// Fixed server nonce (RFC test vectors); `None`: 32 random bytes, base64.
    fixed_nonce: Option<String>,
}

/// What a step produced.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramStep {
    /// Send this challenge and wait for the next message.
    Continue(Vec<u8>),
    /// Authenticated as `user`: send the server-final message.
    Done { user: String, server_final: Vec<u8> },
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        ScramServer {
            mechanism,
            state: State::AwaitingClientFirst,
            fixed_nonce: None,
        }
    }

    /// An exchange whose server nonce is `nonce` (tests against RFC vectors only).
    pub fn with_nonce(mechanism: ScramMechanism, nonce: &str) -> ScramServer {
        ScramServer {
            fixed_nonce: Some(nonce.to_string()),
            ..ScramServer::new(mechanism)
        }
    }

    /// Evaluates the client's next message. `lookup` gives the stored credential of a user
    /// for this mechanism.
    pub fn step(
        &mut self,
        msg: &[u8],
        lookup: &dyn Fn(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, ScramError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitingClientFirst => self.client_first(msg, lookup),
            State::AwaitingClientFinal(p) => {
                let Pending {
                    first,
                    server_first,
                    nonce,
                    credential,
                } = *p;
                self.client_final(msg, first, server_first, nonce, credential)
            }
            State::Done => fail("unexpected message after the exchange ended"),
        }
    }

    fn client_first(
        &mut self,
        msg: &[u8],
        lookup: &dyn Fn(&str) -> Option<ScramCredential>,
    ) -> Result<ScramStep, ScramError> {
        let first = parse_client_first(msg)?;
        if !first.authzid.is_empty() && first.authzid != first.user {
            return fail("authorization id differs from the user name");
        }
        let Some(credential) = lookup(&first.user) else {
            return fail(format!(
                "no {} credential for user {}",
                self.mechanism.name(),
                first.user
            ));
        };
        if credential.iterations < MIN_ITERATIONS {
            return fail(format!(
                "Iterations {} is less than the minimum {MIN_ITERATIONS} for {}",
                credential.iterations,
                self.mechanism.name()
            ));
        }
        let server_nonce = match &self.fixed_nonce {
            Some(n) => n.clone(),
            None => alphanumeric_nonce()?,
        };
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        let out = server_first.clone().into_bytes();
        self.state = State::AwaitingClientFinal(Box::new(Pending {
            first,
            server_first,
            nonce,
            credential,
        }));
        Ok(ScramStep::Continue(out))
    }

    fn client_final(
        &mut self,
        msg: &[u8],
        first: ClientFirst,
        server_first: String,
        nonce: String,
        credential: ScramCredential,
    ) -> Result<ScramStep, ScramError> {
        let text =
            std::str::from_utf8(msg).or_else(|_| fail("client-final message is not UTF-8"))?;
        let Some((without_proof, proof)) = text.rsplit_once(",p=") else {
            return fail("client-final message without a proof");
        };
        let mut attrs = without_proof.split(',');
        let binding = attrs.next().and_then(|a| a.strip_prefix("c="));
        let their_nonce = attrs.next().and_then(|a| a.strip_prefix("r="));
        if binding != Some(B64.encode(first.gs2_header.as_bytes()).as_str()) {
            return fail("invalid channel binding in the client-final message");
        }
        // Kafka checks `endsWith`, not equality: librdkafka 2.0 sends its own nonce again in
        // front of the combined one, and the proof covers what it sent.
        if !their_nonce.is_some_and(|n| n.ends_with(nonce.as_str())) {
            return fail("Invalid client nonce in the final client message.");
        }
        let proof = B64
            .decode(proof)
            .or_else(|_| fail("invalid proof encoding"))?;
        let auth_message = format!("{},{server_first},{without_proof}", first.bare);
        let m = self.mechanism;
        let signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return fail("invalid proof length");
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        if !constant_time_eq(&m.hash(&client_key), &credential.stored_key) {
            return fail("Invalid client credentials");
        }
        let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
        Ok(ScramStep::Done {
            user: first.user,
            server_final: format!("v={}", B64.encode(server_signature)).into_bytes(),
        })
    }
}

/// The client side (tests, `gregor users`): client-first, then client-final from the
/// server-first, then the server signature check.
pub struct ScramClient {
    mechanism: ScramMechanism,
    user: String,
    password: String,
    nonce: String,
    bare: String,
    server_signature: Vec<u8>,
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, user: &str, password: &str, nonce: &str) -> ScramClient {
        let bare = format!("n={},r={nonce}", encode_saslname(user));
        ScramClient {
            mechanism,
            user: user.to_string(),
            password: password.to_string(),
            nonce: nonce.to_string(),
            bare,
            server_signature: Vec::new(),
        }
    }

    /// The user this client authenticates as.
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.bare).into_bytes()
    }

    /// The client-final message answering `server_first`.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let text = std::str::from_utf8(server_first).or_else(|_| fail("server-first not UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for a in text.split(',') {
            if let Some(v) = a.strip_prefix("r=") {
                nonce = Some(v);
            } else if let Some(v) = a.strip_prefix("s=") {
                salt = B64.decode(v).ok();
            } else if let Some(v) = a.strip_prefix("i=") {
                iterations = v.parse::<u32>().ok();
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return fail("invalid server-first message");
        };
        if !nonce.starts_with(&self.nonce) {
            return fail("server nonce does not extend ours");
        }
        // A server may not make the client spin: Kafka's own bounds.
        if !(MIN_ITERATIONS as u32..=MAX_ITERATIONS as u32).contains(&iterations) {
            return fail("server-first iterations outside 4096..=16384");
        }
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.bare);
        let signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        self.server_signature = m.hmac(&server_key, auth_message.as_bytes());
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Whether the server-final message proves the server knew our credential.
    pub fn verify_server_final(&self, server_final: &[u8]) -> bool {
        let expected = format!("v={}", B64.encode(&self.server_signature));
        constant_time_eq(server_final, expected.as_bytes())
    }
}

#[cfg(test)]
#[path = "scram_tests.rs"]
mod tests;
