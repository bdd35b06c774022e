//! Any bytes through the SASL parsers a client reaches before authentication: the PLAIN
//! message, the SCRAM server's client-first and client-final messages (the input split at the
//! first 0xFF), the SCRAM client's reading of a server-first message, and the JAAS parser of
//! `sasl.jaas.config`. A panic, an abort or an allocation beyond libFuzzer's limit is a
//! finding.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use gregor::security::jaas;
use gregor::security::sasl::plain;
use gregor::security::sasl::{ScramClient, ScramCredential, ScramMechanism, ScramServer, ScramStep};
use libfuzzer_sys::fuzz_target;

/// The stored credentials, derived once (4096 PBKDF2 rounds per input would be slow).
fn credentials() -> &'static [(ScramMechanism, ScramCredential)] {
    static C: OnceLock<Vec<(ScramMechanism, ScramCredential)>> = OnceLock::new();
    C.get_or_init(|| {
        ScramMechanism::ALL
            .into_iter()
            .map(|m| (m, ScramCredential::from_password(m, "secret", b"salt", 4096)))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let users: BTreeMap<String, String> = [("alice".to_string(), "secret".to_string())].into();
    let _ = plain::authenticate(data, &users);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jaas::parse(text);
    }
    let (first, last) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    for (m, credential) in credentials() {
        let m = *m;
        let lookup = |_: &str| Some(credential.clone());
        let mut server = ScramServer::with_nonce(m, "server-nonce");
        if let Ok(ScramStep::Continue(_)) = server.step(first, &lookup) {
            let _ = server.step(last, &lookup);
        }
        let mut client = ScramClient::new(m, "alice", "secret", "n");
        if client.client_final(data).is_ok() {
            let _ = client.verify_server_final(last);
        }
    }
});
