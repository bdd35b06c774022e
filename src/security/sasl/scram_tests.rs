//! The SCRAM exchange against RFC 7677's SCRAM-SHA-256 example, and its failures.

use base64::Engine;

use super::*;

const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

fn rfc_credential() -> ScramCredential {
    let salt = B64.decode(SALT_B64).expect("salt");
    ScramCredential::from_password(ScramMechanism::Sha256, "pencil", &salt, 4096)
}

fn lookup_user(name: &str) -> Option<ScramCredential> {
    (name == "user").then(rfc_credential)
}

#[test]
fn rfc7677_exchange() {
    let mut server = ScramServer::with_nonce(ScramMechanism::Sha256, SERVER_NONCE);
    let first = format!("n,,n=user,r={CLIENT_NONCE}");
    let step = server.step(first.as_bytes(), &lookup_user).expect("first");
    assert_eq!(
        step,
        ScramStep::Continue(
            format!("r={CLIENT_NONCE}{SERVER_NONCE},s={SALT_B64},i=4096").into_bytes()
        )
    );
    let fin = format!(
        "c=biws,r={CLIENT_NONCE}{SERVER_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    let step = server.step(fin.as_bytes(), &lookup_user).expect("final");
    assert_eq!(
        step,
        ScramStep::Done {
            user: "user".into(),
            server_final: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec(),
        }
    );
    // The client computes the same proof and accepts the server's signature.
    let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil", CLIENT_NONCE);
    assert_eq!(client.client_first(), first.as_bytes());
    let server_first = format!("r={CLIENT_NONCE}{SERVER_NONCE},s={SALT_B64},i=4096");
    assert_eq!(
        client.client_final(server_first.as_bytes()).expect("final"),
        fin.as_bytes()
    );
    assert!(client.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
}

fn run(
    mech: ScramMechanism,
    stored: &ScramCredential,
    user: &str,
    password: &str,
) -> Result<String, ScramError> {
    let lookup = |n: &str| (n == "alice").then(|| stored.clone());
    let mut server = ScramServer::new(mech);
    let mut client = ScramClient::new(mech, user, password, "abcdefgh12345678");
    let ScramStep::Continue(sf) = server.step(&client.client_first(), &lookup)? else {
        panic!("no challenge");
    };
    let fin = client.client_final(&sf)?;
    match server.step(&fin, &lookup)? {
        ScramStep::Done { user, server_final } => {
            assert!(client.verify_server_final(&server_final));
            Ok(user)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn both_mechanisms_accept_the_password_and_refuse_others() {
    for mech in ScramMechanism::ALL {
        let stored = ScramCredential::from_password(mech, "s3cret", b"0123456789abcdef", 4096);
        assert_eq!(
            run(mech, &stored, "alice", "s3cret").as_deref(),
            Ok("alice")
        );
        assert_eq!(
            run(mech, &stored, "alice", "wrong").map_err(|e| e.reason),
            Err("Invalid client credentials".into())
        );
        assert!(run(mech, &stored, "bob", "s3cret").is_err());
        let weak = ScramCredential::from_password(mech, "s3cret", b"salt", 1000);
        assert!(run(mech, &weak, "alice", "s3cret")
            .unwrap_err()
            .reason
            .contains("minimum 4096"));
    }
}

#[test]
fn bad_messages_fail_without_panicking() {
    let lookup = |_: &str| Some(rfc_credential());
    for first in [
        &b""[..],
        b"n",
        b"n,,",
        b"x,,n=user,r=abc",
        b"p=tls-unique,,n=user,r=abc",
        b"n,,r=abc",
        b"n,,n=user",
        b"n,,n=us=ZZer,r=abc",
        b"n,a=other,n=user,r=abc",
        b"n,,n=user,r=abc,tokenauth=true",
        b"\xff\xfe",
    ] {
        let mut server = ScramServer::new(ScramMechanism::Sha256);
        assert!(server.step(first, &lookup).is_err(), "{first:?}");
    }
    let fin_cases = [
        "c=biws,r=WRONG,p=AAAA".to_string(),
        "c=biws,r=abcSx,p=AAAA".into(),
        "c=eSws,r=abcS,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=".into(),
        "c=biws,r=abcS".into(),
        "c=biws,r=abcS,p=!!!".into(),
        "c=biws,r=abcS,p=AAAA".into(),
    ];
    for fin in fin_cases {
        let mut server = ScramServer::with_nonce(ScramMechanism::Sha256, "S");
        server.step(b"n,,n=user,r=abc", &lookup).expect("first");
        assert!(server.step(fin.as_bytes(), &lookup).is_err(), "{fin}");
        assert!(server.step(b"anything", &lookup).is_err());
    }
}

#[test]
fn saslnames_round_trip() {
    assert_eq!(decode_saslname("a=2Cb=3Dc").as_deref(), Ok("a,b=c"));
    assert_eq!(encode_saslname("a,b=c"), "a=2Cb=3Dc");
    assert!(decode_saslname("a=").is_err());
}
