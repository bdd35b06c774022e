use super::*;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const NOW: i64 = 1_700_000_000_000;

fn jws(header: &str, claims: &str) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

fn token(claims: &str) -> String {
    jws(r#"{"alg":"none"}"#, claims)
}

fn reason(t: &str, o: &ValidatorOptions) -> String {
    validate(t, o, NOW).expect_err(t).reason().to_string()
}

#[test]
fn accepts_kafkas_and_librdkafkas_tokens() {
    let o = ValidatorOptions::default();
    // Java's login module: fractional iat, integer exp.
    let t = token(r#"{"iat":1699999999.123,"exp":1700003600,"sub":"alice"}"#);
    assert_eq!(
        validate(&t, &o, NOW),
        Ok(ValidatedToken::new("alice", 1_700_003_600_000))
    );
    // Padding and the standard alphabet (Kafka's decoder) are accepted too.
    let padded = format!(
        "{}.{}.",
        base64::engine::general_purpose::STANDARD.encode(r#"{"alg":"none"}"#),
        base64::engine::general_purpose::STANDARD.encode(r#"{"exp":1700000001,"sub":"b?>~"}"#)
    );
    assert_eq!(
        validate(&padded, &o, NOW).map(|v| v.principal().to_string()),
        Ok("b?>~".into())
    );
}

#[test]
fn checks_the_claims_like_kafka() {
    let o = ValidatorOptions::default();
    // Expired, exactly at exp, and saved by the clock skew.
    let expired = token(r#"{"exp":1699999999,"sub":"alice"}"#);
    assert!(reason(&expired, &o).contains("on or after the Expiration Time"));
    let at_exp = token(r#"{"exp":1700000000,"sub":"alice"}"#);
    assert!(validate(&at_exp, &o, NOW).is_err());
    let skewed = ValidatorOptions {
        clock_skew_ms: 2000,
        ..ValidatorOptions::default()
    };
    assert!(validate(&expired, &skewed, NOW).is_ok());
    assert!(validate(&expired, &skewed, NOW + 1000).is_err());
    // Missing or mistyped claims.
    assert!(reason(&token(r#"{"sub":"alice"}"#), &o).contains("No expiration time"));
    assert!(reason(&token(r#"{"exp":"1800000000","sub":"a"}"#), &o).contains("not of type Number"));
    assert!(reason(&token(r#"{"exp":1800000000}"#), &o).contains("No principal name"));
    assert!(reason(&token(r#"{"exp":1800000000,"sub":"  "}"#), &o).contains("No principal name"));
    assert!(reason(&token(r#"{"exp":1800000000,"sub":7}"#), &o).contains("not of type String"));
    // iat in the future, and exp not after iat.
    let future = token(r#"{"iat":1700000001,"exp":1800000000,"sub":"a"}"#);
    assert!(reason(&future, &o).contains("Issued At"));
    assert!(validate(&future, &skewed, NOW).is_ok());
    let inverted = token(r#"{"iat":1600000000,"exp":1500000000,"sub":"a"}"#);
    assert!(validate(&inverted, &skewed, 1_400_000_000_000).is_err());
    // Another principal claim name.
    let named = ValidatorOptions {
        principal_claim: "client_id".into(),
        ..ValidatorOptions::default()
    };
    let t = token(r#"{"exp":1800000000,"sub":"a","client_id":"svc"}"#);
    assert_eq!(
        validate(&t, &named, NOW).map(|v| v.principal().to_string()),
        Ok("svc".into())
    );
}

#[test]
fn required_scope_answers_insufficient_scope() {
    let jaas: BTreeMap<String, String> = [(
        "unsecuredValidatorRequiredScope".to_string(),
        " read  write ".to_string(),
    )]
    .into();
    let o = ValidatorOptions::from_jaas(&jaas).expect("options");
    assert_eq!(o.required_scope, ["read", "write"]);
    let list = token(r#"{"exp":1800000000,"sub":"a","scope":["write"," read "]}"#);
    assert!(validate(&list, &o, NOW).is_ok());
    let partial = token(r#"{"exp":1800000000,"sub":"a","scope":"read"}"#);
    let r = validate(&partial, &o, NOW).expect_err("partial");
    assert_eq!(
        r.json(),
        r#"{"status":"insufficient_scope", "scope":"[read, write]"}"#
    );
    let bad: BTreeMap<String, String> = [(
        "unsecuredValidatorRequiredScope".to_string(),
        "a\\b".to_string(),
    )]
    .into();
    assert!(ValidatorOptions::from_jaas(&bad).is_err());
    for skew in ["-1", "x", "99999999999"] {
        let m: BTreeMap<String, String> = [(
            "unsecuredValidatorAllowableClockSkewMs".to_string(),
            skew.to_string(),
        )]
        .into();
        assert!(ValidatorOptions::from_jaas(&m).is_err(), "{skew}");
    }
}

#[test]
fn malformed_tokens_are_rejections_not_panics() {
    let o = ValidatorOptions::default();
    let claims = URL_SAFE_NO_PAD.encode(r#"{"exp":1800000000,"sub":"a"}"#);
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
    let hs = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
    let huge = "a".repeat(MAX_TOKEN_LEN + 1);
    for bad in [
        String::new(),
        ".".into(),
        "..".into(),
        "a.b".into(),
        "a.b.c.d".into(),
        format!("{none}..{claims}"),
        format!("{none}.{claims}.sig"),
        format!("{hs}.{claims}."),
        format!("{}.{claims}.", URL_SAFE_NO_PAD.encode("{}")),
        format!("{}.{claims}.", URL_SAFE_NO_PAD.encode("[1,2]")),
        format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none""#)),
        format!("{none}.{}.", URL_SAFE_NO_PAD.encode([0xff, 0xfe])),
        format!("{none}.!!!!."),
        format!("{none}.{}.", URL_SAFE_NO_PAD.encode("[".repeat(10_000))),
        format!(
            "{none}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"exp":1e999,"sub":"a"}"#)
        ),
        format!(
            "{none}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"exp":null,"sub":"a"}"#)
        ),
        huge,
    ] {
        let r = validate(&bad, &o, NOW).expect_err(&bad[..bad.len().min(40)]);
        assert_eq!(r.json(), r#"{"status":"invalid_token"}"#);
    }
}
