//! `gregor users`: list, add and delete SCRAM users of a running cluster with
//! DescribeUserScramCredentials and AlterUserScramCredentials, like
//! `kafka-configs.sh --entity-type users --alter --add-config 'SCRAM-SHA-512=[...]'`.
//!
//! Why a tool: SCRAM credentials live in the metadata log, so they are managed through the
//! admin API (any broker forwards the change to the active controller). The password never
//! leaves this process: it is salted here (a random 32-byte salt, PBKDF2 with the chosen
//! iterations) and only the salted password is sent, as Kafka's admin client does.

use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::client::Client;
use crate::error::ErrorCode;
use crate::security::sasl::scram_crypto::random_bytes;
use crate::security::sasl::ScramMechanism;

/// What to do.
pub enum Action {
    List,
    Add {
        user: String,
        password: String,
        mechanism: ScramMechanism,
        iterations: i32,
    },
    Delete {
        user: String,
        mechanism: ScramMechanism,
    },
}

/// Parses `SCRAM-SHA-256` / `SCRAM-SHA-512`.
pub fn parse_mechanism(name: &str) -> Result<ScramMechanism, String> {
    ScramMechanism::from_name(&name.to_ascii_uppercase())
        .ok_or_else(|| format!("unknown SCRAM mechanism {name} (SCRAM-SHA-256 or SCRAM-SHA-512)"))
}

fn error_text(code: i16, message: Option<&StrBytes>) -> String {
    let name = ErrorCode::from_code(code).name();
    match message {
        Some(m) => format!("{name}: {}", m.as_str()),
        None => name.to_string(),
    }
}

/// Runs the action against `bootstrap`; the text to print, or the error.
pub fn run(bootstrap: &str, action: &Action) -> Result<String, String> {
    let mut client = Client::connect(bootstrap)?;
    match action {
        Action::List => {
            let resp = client.call(&DescribeUserScramCredentialsRequest::default(), 0)?;
            if resp.error_code != 0 {
                return Err(error_text(resp.error_code, resp.error_message.as_ref()));
            }
            let mut out = String::new();
            for r in &resp.results {
                let creds: Vec<String> = r
                    .credential_infos
                    .iter()
                    .map(|c| {
                        let m = ScramMechanism::from_type_id(c.mechanism)
                            .map_or("UNKNOWN", |m| m.name());
                        format!("{m}(iterations={})", c.iterations)
                    })
                    .collect();
                out.push_str(&format!("{}\t{}\n", r.user.as_str(), creds.join(",")));
            }
            Ok(out)
        }
        Action::Add {
            user,
            password,
            mechanism,
            iterations,
        } => {
            let salt = random_bytes(32)?;
            let salted =
                mechanism.salted_password(password.as_bytes(), &salt, (*iterations).max(1) as u32);
            let up = ScramCredentialUpsertion::default()
                .with_name(StrBytes::from_string(user.clone()))
                .with_mechanism(mechanism.type_id())
                .with_iterations(*iterations)
                .with_salt(salt.into())
                .with_salted_password(salted.into());
            let req = AlterUserScramCredentialsRequest::default().with_upsertions(vec![up]);
            alter(
                &mut client,
                &req,
                &format!("set {} for {user}", mechanism.name()),
            )
        }
        Action::Delete { user, mechanism } => {
            let del = ScramCredentialDeletion::default()
                .with_name(StrBytes::from_string(user.clone()))
                .with_mechanism(mechanism.type_id());
            let req = AlterUserScramCredentialsRequest::default().with_deletions(vec![del]);
            alter(
                &mut client,
                &req,
                &format!("deleted {} of {user}", mechanism.name()),
            )
        }
    }
}

fn alter(
    client: &mut Client,
    req: &AlterUserScramCredentialsRequest,
    done: &str,
) -> Result<String, String> {
    let resp = client.call(req, 0)?;
    match resp.results.iter().find(|r| r.error_code != 0) {
        Some(r) => Err(error_text(r.error_code, r.error_message.as_ref())),
        None => Ok(format!("{done}\n")),
    }
}
