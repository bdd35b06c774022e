//! SCRAM's key derivation (RFC 5802 §3) for SHA-256 and SHA-512, on the RustCrypto crates:
//! `SaltedPassword = Hi(password, salt, i)` (PBKDF2-HMAC), `ClientKey = HMAC(SaltedPassword,
//! "Client Key")`, `StoredKey = H(ClientKey)`, `ServerKey = HMAC(SaltedPassword, "Server
//! Key")`, and the stored credential Kafka keeps per user and mechanism.
//!
//! Why apart from the exchange: the controller (AlterUserScramCredentials turns a client's
//! salted password into StoredKey/ServerKey, as Kafka's `ScramFormatter`), the `gregor users`
//! tool and the tests derive the same keys without running an exchange.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// A SCRAM mechanism with Kafka's wire type (`ScramMechanism.type()`: 1 and 2) and the
/// minimum iterations Kafka's `ScramMechanism.minIterations()` demands (4096 for both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

/// Kafka's `ScramControlManager.MAX_ITERATIONS`.
pub const MAX_ITERATIONS: i32 = 16384;
/// Kafka's `ScramMechanism.minIterations()`.
pub const MIN_ITERATIONS: i32 = 4096;

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The SASL mechanism name (`SCRAM-SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Kafka's wire id (UserScramCredentialRecord, Describe/AlterUserScramCredentials).
    pub fn type_id(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_type_id(id: i8) -> Option<ScramMechanism> {
        match id {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// `HMAC(key, data)`.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => hmac_with::<Hmac<Sha256>>(key, data),
            ScramMechanism::Sha512 => hmac_with::<Hmac<Sha512>>(key, data),
        }
    }

    /// `H(data)`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, iterations)`: PBKDF2 with this HMAC, one hash-length block.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

fn hmac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = match <M as hmac::digest::KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// What the server keeps of a user's password for one mechanism (Kafka's `ScramCredential`):
/// never the password, only the salt, the iteration count and the two derived keys.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets (a stolen StoredKey/ServerKey impersonates the server).
        write!(
            f,
            "ScramCredential {{ iterations: {}, .. }}",
            self.iterations
        )
    }
}

impl ScramCredential {
    /// The credential from a salted password (AlterUserScramCredentials sends that, not the
    /// password: Kafka's `ScramFormatter.storedKey(clientKey(..))` / `serverKey(..)`).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// The credential of a password (tests, tools).
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        salt: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let salted = mechanism.salted_password(password.as_bytes(), salt, iterations.max(1) as u32);
        ScramCredential::from_salted_password(mechanism, salt, &salted, iterations)
    }
}

/// Equality in time independent of where the inputs differ (proofs and passwords).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `n` random bytes from the operating system's CSPRNG (nonces, salts).
pub fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; n];
    getrandom::getrandom(&mut out).map_err(|e| format!("no randomness: {e}"))?;
    Ok(out)
}
