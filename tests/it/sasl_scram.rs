//! SCRAM-SHA-256/512: credentials managed with AlterUserScramCredentials and
//! DescribeUserScramCredentials (Kafka's codes), then a full exchange on the SASL listener
//! with gregor's own SCRAM client, which can check every step (librdkafka's SCRAM over
//! SASL_SSL is in secured_rdkafka.rs): right password → produce works and the server proves
//! itself; wrong password → SASL_AUTHENTICATION_FAILED with Kafka's SCRAM message, closed,
//! nothing written.

use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use gregor::security::sasl::{ScramClient, ScramMechanism};

use crate::sasl::{authenticate, handshake, sasl_broker};
use crate::support::raw::{self, RawClient};
use crate::support::{encode_batch, now_ms};

pub(crate) fn upsert(
    user: &str,
    mechanism: ScramMechanism,
    password: &str,
    iterations: i32,
) -> ScramCredentialUpsertion {
    let salt = b"a-random-salt-16".to_vec();
    let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations.max(1) as u32);
    ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.into()))
        .with_mechanism(mechanism.type_id())
        .with_iterations(iterations)
        .with_salt(salt.into())
        .with_salted_password(salted.into())
}

pub(crate) fn alter(
    c: &mut RawClient,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16)> {
    let r = c.call(
        &AlterUserScramCredentialsRequest::default()
            .with_deletions(deletions)
            .with_upsertions(upsertions),
        0,
    );
    let mut out: Vec<(String, i16)> = r
        .results
        .iter()
        .map(|u| (u.user.to_string(), u.error_code))
        .collect();
    out.sort();
    out
}

fn describe(c: &mut RawClient, users: Option<&[&str]>) -> DescribeUserScramCredentialsResponse {
    let users = users.map(|u| {
        u.iter()
            .map(|n| UserName::default().with_name(StrBytes::from_string(n.to_string())))
            .collect()
    });
    c.call(
        &DescribeUserScramCredentialsRequest::default().with_users(users),
        0,
    )
}

/// Runs a SCRAM exchange; `Ok(server-final verified)` or the failure's (code, message).
fn scram_login(
    addr: &str,
    mechanism: ScramMechanism,
    user: &str,
    password: &str,
) -> (RawClient, Result<bool, (i16, String)>) {
    let mut c = RawClient::connect(addr);
    let name: &'static str = mechanism.name();
    assert_eq!(handshake(&mut c, name).error_code, 0);
    let mut client = ScramClient::new(mechanism, user, password, "fyko+d2lbbFgONRv9qkxdawL");
    let r = authenticate(&mut c, &client.client_first());
    if r.error_code != 0 {
        return (
            c,
            Err((
                r.error_code,
                r.error_message.map(|m| m.to_string()).unwrap_or_default(),
            )),
        );
    }
    let fin = client
        .client_final(&r.auth_bytes)
        .expect("server-first parses");
    let r = authenticate(&mut c, &fin);
    if r.error_code != 0 {
        return (
            c,
            Err((
                r.error_code,
                r.error_message.map(|m| m.to_string()).unwrap_or_default(),
            )),
        );
    }
    let verified = client.verify_server_final(&r.auth_bytes);
    (c, Ok(verified))
}

#[test]
fn scram_credentials_are_managed_and_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let b = sasl_broker(dir.path(), "SCRAM-SHA-256,SCRAM-SHA-512");
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();
    let mut admin = RawClient::connect(&b.bootstrap());

    // Kafka's checks.
    assert_eq!(
        alter(
            &mut admin,
            vec![],
            vec![
                upsert("alice", ScramMechanism::Sha512, "alice-pw", 4096),
                upsert("weak", ScramMechanism::Sha256, "pw", 1000),
                upsert("", ScramMechanism::Sha256, "pw", 4096),
            ],
        ),
        vec![("".into(), 93), ("alice".into(), 0), ("weak".into(), 93)]
    );
    assert_eq!(
        alter(
            &mut admin,
            vec![],
            vec![upsert("bob", ScramMechanism::Sha256, "bob-pw", 8192)]
        ),
        vec![("bob".into(), 0)]
    );
    let ghost = ScramCredentialDeletion::default()
        .with_name(StrBytes::from_static_str("ghost"))
        .with_mechanism(1);
    assert_eq!(
        alter(&mut admin, vec![ghost], vec![]),
        vec![("ghost".into(), 91)]
    );

    let d = describe(&mut admin, None);
    let listed: Vec<(String, Vec<(i8, i32)>)> = d
        .results
        .iter()
        .map(|r| {
            let infos = r
                .credential_infos
                .iter()
                .map(|i| (i.mechanism, i.iterations))
                .collect();
            (r.user.to_string(), infos)
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("alice".into(), vec![(2, 4096)]),
            ("bob".into(), vec![(1, 8192)])
        ]
    );
    let d = describe(&mut admin, Some(&["carol", "bob", "bob"]));
    let codes: Vec<(String, i16)> = d
        .results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect();
    assert_eq!(codes, vec![("bob".into(), 92), ("carol".into(), 91)]);

    // Right password: authenticated, the server proves it knows the credential, and the
    // connection serves produce.
    let (mut c, ok) = scram_login(&sasl, ScramMechanism::Sha512, "alice", "alice-pw");
    assert_eq!(ok, Ok(true));
    assert_eq!(raw::create_topic(&mut c, "scram-t", 1, &[]), 0);
    let p = raw::produce(
        &mut c,
        "scram-t",
        0,
        encode_batch(&[(None, "hello")], None, now_ms()),
    );
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let (_, ok) = scram_login(&sasl, ScramMechanism::Sha256, "bob", "bob-pw");
    assert_eq!(ok, Ok(true));

    // Wrong password, wrong mechanism for the user, unknown user: Kafka's SCRAM message.
    let refused = "Authentication failed during authentication due to invalid credentials with SASL mechanism";
    for (mechanism, user, password) in [
        (ScramMechanism::Sha512, "alice", "wrong"),
        (ScramMechanism::Sha256, "alice", "alice-pw"),
        (ScramMechanism::Sha512, "nobody", "x"),
    ] {
        let (mut c, r) = scram_login(&sasl, mechanism, user, password);
        let (code, message) = r.expect_err("refused");
        assert_eq!(code, 58);
        assert_eq!(message, format!("{refused} {}", mechanism.name()));
        assert!(c.is_closed());
    }
    assert_eq!(raw::list_offset(&mut admin, "scram-t", 0, -1), (0, 1));

    // Deleting the credential ends the user's logins.
    let del = ScramCredentialDeletion::default()
        .with_name(StrBytes::from_static_str("alice"))
        .with_mechanism(2);
    assert_eq!(
        alter(&mut admin, vec![del], vec![]),
        vec![("alice".into(), 0)]
    );
    let (_, r) = scram_login(&sasl, ScramMechanism::Sha512, "alice", "alice-pw");
    assert_eq!(r.map_err(|e| e.0), Err(58));
}

#[test]
fn gregor_users_adds_lists_and_deletes_scram_users() {
    use gregor::tools::users::{run, Action};
    let dir = tempfile::tempdir().unwrap();
    let b = sasl_broker(dir.path(), "SCRAM-SHA-256,SCRAM-SHA-512");
    let sasl = b.listener_addr("SASL_PLAINTEXT").to_string();
    let add = |user: &str, mechanism, iterations| Action::Add {
        user: user.into(),
        password: "tool-pw".into(),
        mechanism,
        iterations,
    };
    let boot = b.bootstrap();
    assert_eq!(
        run(&boot, &add("dora", ScramMechanism::Sha256, 4096)).as_deref(),
        Ok("set SCRAM-SHA-256 for dora\n")
    );
    run(&boot, &add("dora", ScramMechanism::Sha512, 8192)).expect("second mechanism");
    assert_eq!(
        run(&boot, &add("weak", ScramMechanism::Sha512, 10)).unwrap_err(),
        "UNACCEPTABLE_CREDENTIAL: Too few iterations"
    );
    assert_eq!(
        run(&boot, &Action::List).as_deref(),
        Ok("dora\tSCRAM-SHA-256(iterations=4096),SCRAM-SHA-512(iterations=8192)\n")
    );
    let (_, ok) = scram_login(&sasl, ScramMechanism::Sha512, "dora", "tool-pw");
    assert_eq!(ok, Ok(true));
    let del = Action::Delete {
        user: "dora".into(),
        mechanism: ScramMechanism::Sha512,
    };
    run(&boot, &del).expect("deleted");
    assert!(run(&boot, &del)
        .unwrap_err()
        .starts_with("RESOURCE_NOT_FOUND"));
    let (_, r) = scram_login(&sasl, ScramMechanism::Sha512, "dora", "tool-pw");
    assert_eq!(r.map_err(|e| e.0), Err(58));
}
