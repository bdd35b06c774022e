//! The keystore's private key as Kafka's PEM keystore reads it (`DefaultSslEngineFactory.PemStore`,
//! KIP-651): with `ssl.key.password` set the key must be an `ENCRYPTED PRIVATE KEY` (PKCS#8
//! `EncryptedPrivateKeyInfo`), decrypted with that password; without it the key is read as it
//! is. An encrypted key without a password, or a password with a key that is not encrypted, is
//! a configuration error, as in Kafka (whose `EncryptedPrivateKeyInfo` refuses a plain key).
//! Legacy OpenSSL encryption (`Proc-Type: 4,ENCRYPTED` headers on a PKCS#1/SEC1 key) is refused
//! with the command that converts it: Kafka does not read it either.
//!
//! Why RustCrypto's `pkcs8` (0.10, the line on the `sha2`/`hmac`/`pbkdf2` the SCRAM code uses):
//! PBES2 with PBKDF2 (HMAC-SHA1 or SHA-2) or scrypt and AES-CBC — what `openssl pkcs8 -topk8`
//! writes (OpenSSL 3: AES-256-CBC, PBKDF2-HMAC-SHA256) and what Java decrypts — in pure Rust,
//! no OpenSSL to link. PBES1 and DES/3DES schemes are refused with the re-encrypt command.
//!
//! The decrypted DER lives in a `SecretDocument` (zeroized on drop); rustls gets its own copy.

use std::fmt;

use base64::Engine;
use pkcs8::der::asn1::OctetStringRef;
use pkcs8::der::{Decode, Reader, SliceReader};
use pkcs8::spki::AlgorithmIdentifierRef;
use pkcs8::ObjectIdentifier;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
const LEGACY: &[u8] = b"Proc-Type: 4,ENCRYPTED";
const REENCRYPT: &str = "openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out encrypted.pem";

/// `ssl.key.password`: never shown (its `Debug` prints no value) and zeroized when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPassword(Zeroizing<String>);

impl KeyPassword {
    pub fn new(value: String) -> KeyPassword {
        KeyPassword(Zeroizing::new(value))
    }
}

impl fmt::Debug for KeyPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyPassword([hidden])")
    }
}

/// The private key of a keystore's PEM text, decrypted with `password` when one is set (see
/// the module doc for the rules). Errors name the key at fault, never the password.
pub fn private_key(
    pem: &[u8],
    password: Option<&KeyPassword>,
) -> Result<PrivateKeyDer<'static>, String> {
    if contains(pem, LEGACY) {
        return Err(format!(
            "the keystore's private key uses legacy OpenSSL encryption (Proc-Type: 4,ENCRYPTED), which Kafka does not read either: convert it to an encrypted PKCS#8 key with `{REENCRYPT}`"
        ));
    }
    let encrypted = encrypted_block(pem)?;
    match (encrypted, password) {
        (Some(der), Some(password)) => decrypt(&der, password),
        (Some(_), None) => Err(
            "the keystore's private key is encrypted (ENCRYPTED PRIVATE KEY) but ssl.key.password is not set"
                .into(),
        ),
        (None, Some(_)) => Err(format!(
            "ssl.key.password is set but the keystore's private key is not encrypted (with a key password, a PEM keystore's key must be an ENCRYPTED PRIVATE KEY, as in Kafka): remove ssl.key.password or encrypt the key with `{REENCRYPT}`"
        )),
        (None, None) => PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
            format!("no usable private key in the keystore (PKCS#8, PKCS#1 or SEC1 PEM): {e}")
        }),
    }
}

/// Decrypts one `EncryptedPrivateKeyInfo` (DER) to a PKCS#8 key rustls reads.
pub fn decrypt(der: &[u8], password: &KeyPassword) -> Result<PrivateKeyDer<'static>, String> {
    let unsupported = |e: &dyn fmt::Display| {
        format!(
            "the keystore's private key is encrypted with a scheme gregor does not read ({e}; PBES2 with PBKDF2 or scrypt and AES-128/192/256-CBC are read): re-encrypt it with `{REENCRYPT}`"
        )
    };
    let info = EncryptedPrivateKeyInfo::from_der(der).map_err(|e| match scheme_oid(der) {
        // The envelope is sound, its algorithm is not one pkcs5 reads (PBES1, PKCS#12, DES).
        Some(oid) => unsupported(&format!("{oid}: {e}")),
        None => format!("the keystore's ENCRYPTED PRIVATE KEY is malformed: {e}"),
    })?;
    let wrong = "cannot decrypt the keystore's private key with ssl.key.password: wrong password or corrupted key";
    let plain = info.decrypt(password.0.as_bytes()).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(
            pkcs8::pkcs5::Error::UnsupportedAlgorithm { .. }
            | pkcs8::pkcs5::Error::NoPbes1CryptSupport
            | pkcs8::pkcs5::Error::AlgorithmParametersInvalid { .. },
        ) => unsupported(&e),
        _ => wrong.to_string(),
    })?;
    // A wrong password passes the padding check about once in 256 tries: the plaintext must
    // also be a PKCS#8 PrivateKeyInfo.
    PrivateKeyInfo::from_der(plain.as_bytes()).map_err(|_| wrong.to_string())?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

/// The algorithm of an `EncryptedPrivateKeyInfo` whose parameters may be unreadable to us.
fn scheme_oid(der: &[u8]) -> Option<ObjectIdentifier> {
    let mut reader = SliceReader::new(der).ok()?;
    let oid = reader
        .sequence(|r| {
            let alg: AlgorithmIdentifierRef<'_> = r.decode()?;
            let _data: OctetStringRef<'_> = r.decode()?;
            Ok(alg.oid)
        })
        .ok()?;
    reader.finish(oid).ok()
}

/// The DER of the one `ENCRYPTED PRIVATE KEY` block in `pem`, if there is one.
fn encrypted_block(pem: &[u8]) -> Result<Option<Vec<u8>>, String> {
    // PEM is ASCII; anything else cannot hold a block we read.
    let text = String::from_utf8_lossy(pem);
    let mut blocks = text.match_indices(BEGIN);
    let Some((start, _)) = blocks.next() else {
        return Ok(None);
    };
    let found = 1 + blocks.count();
    if found != 1 {
        return Err(format!(
            "expected one private key in the keystore, found {found} ENCRYPTED PRIVATE KEY blocks"
        ));
    }
    let body = &text[start + BEGIN.len()..];
    let end = body
        .find(END)
        .ok_or("the keystore's ENCRYPTED PRIVATE KEY has no END line")?;
    let b64: Zeroizing<String> = Zeroizing::new(
        body[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect(),
    );
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map(Some)
        .map_err(|e| format!("the keystore's ENCRYPTED PRIVATE KEY is not base64: {e}"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Runs openssl with `input` on stdin; its stdout.
    fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut child = Command::new("openssl")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write");
        let out = child.wait_with_output().expect("openssl output");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn plain_key() -> Vec<u8> {
        openssl(
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ],
            b"",
        )
    }

    fn encrypt(plain: &[u8], scheme: &[&str]) -> Vec<u8> {
        let mut args = vec!["pkcs8", "-topk8", "-passout", "pass:s3cret"];
        args.extend_from_slice(scheme);
        openssl(&args, plain)
    }

    fn pw(p: &str) -> KeyPassword {
        KeyPassword::new(p.to_string())
    }

    /// The PKCS#8 DER openssl prints for `plain` (to compare with what we decrypted).
    fn der_of(plain: &[u8]) -> Vec<u8> {
        openssl(&["pkcs8", "-topk8", "-nocrypt", "-outform", "DER"], plain)
    }

    #[test]
    fn openssl_schemes_decrypt_to_the_same_key() {
        let plain = plain_key();
        let want = der_of(&plain);
        for scheme in [
            &[][..], // OpenSSL 3's default: AES-256-CBC, PBKDF2-HMAC-SHA256
            &["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256"],
            &["-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"],
            &["-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA512"],
            &["-v2", "aes-256-cbc", "-scrypt"],
        ] {
            let enc = encrypt(&plain, scheme);
            assert!(contains(&enc, BEGIN.as_bytes()), "{scheme:?}");
            let key = private_key(&enc, Some(&pw("s3cret"))).expect("decrypts");
            assert_eq!(key.secret_der(), &want[..], "{scheme:?}");
            assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
        }
    }

    #[test]
    fn refusals_are_named() {
        let plain = plain_key();
        let enc = encrypt(&plain, &["-v2", "aes-256-cbc"]);
        let e = |pem: &[u8], p: Option<&str>| {
            private_key(pem, p.map(pw).as_ref()).expect_err("refused")
        };
        assert!(e(&enc, Some("wrong")).contains("wrong password or corrupted key"));
        assert!(e(&enc, None)
            .contains("encrypted (ENCRYPTED PRIVATE KEY) but ssl.key.password is not set"));
        assert!(e(&plain, Some("s3cret"))
            .contains("ssl.key.password is set but the keystore's private key is not encrypted"));
        let legacy = openssl(
            &["pkey", "-traditional", "-aes256", "-passout", "pass:s3cret"],
            &plain,
        );
        assert!(contains(&legacy, LEGACY));
        assert!(e(&legacy, Some("s3cret")).contains("legacy OpenSSL encryption"));
        let des3 = encrypt(&plain, &["-v2", "des3"]);
        let m = e(&des3, Some("s3cret"));
        assert!(m.contains("a scheme gregor does not read"), "{m}");
        let pbes1 = encrypt(&plain, &["-v1", "PBE-SHA1-3DES"]);
        let m = e(&pbes1, Some("s3cret"));
        assert!(m.contains("a scheme gregor does not read"), "{m}");
        let two = [enc.clone(), enc.clone()].concat();
        assert!(e(&two, Some("s3cret")).contains("found 2 ENCRYPTED PRIVATE KEY"));
        let mut cut = enc.clone();
        cut.truncate(enc.len() - END.len() - 2);
        assert!(e(&cut, Some("s3cret")).contains("no END line"));
        let garbage = format!("{BEGIN}\n!!!!\n{END}\n");
        assert!(e(garbage.as_bytes(), Some("s3cret")).contains("not base64"));
        let not_der = format!("{BEGIN}\nAAAA\n{END}\n");
        assert!(e(not_der.as_bytes(), Some("s3cret")).contains("malformed"));
        // The password never appears in a message.
        assert!(!e(&enc, Some("hunter2")).contains("hunter2"));
        assert_eq!(format!("{:?}", pw("hunter2")), "KeyPassword([hidden])");
    }

    proptest::proptest! {
        /// Arbitrary bytes inside the PEM armour, or as the DER itself: an error, never a panic.
        #[test]
        fn garbage_is_an_error(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let pem = format!("{BEGIN}\n{b64}\n{END}\n");
            proptest::prop_assert!(private_key(pem.as_bytes(), Some(&pw("x"))).is_err());
            proptest::prop_assert!(decrypt(&bytes, &pw("x")).is_err());
        }
    }

    #[test]
    fn corrupted_ciphertext_is_an_error() {
        let plain = plain_key();
        let der = openssl(
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-outform",
                "DER",
                "-passout",
                "pass:s3cret",
            ],
            &plain,
        );
        assert!(decrypt(&der, &pw("s3cret")).is_ok());
        let n = der.len();
        // Each byte of the last two AES blocks (the padding and what precedes it), and a
        // ciphertext cut short of a whole block.
        for i in n - 32..n {
            let mut bad = der.clone();
            bad[i] ^= 0x5a;
            if let Ok(key) = decrypt(&bad, &pw("s3cret")) {
                // A flip inside the key material may still parse; it is then a different key.
                assert_ne!(key.secret_der(), &der_of(&plain)[..], "byte {i}");
            }
        }
        let mut short = der.clone();
        short.truncate(n - 1);
        assert!(decrypt(&short, &pw("s3cret")).is_err());
        // Flipping the first ciphertext block breaks the PrivateKeyInfo header.
        let info = EncryptedPrivateKeyInfo::from_der(&der).expect("parses");
        let body = info.encrypted_data.len();
        let mut head = der.clone();
        head[n - body] ^= 0xff;
        assert!(decrypt(&head, &pw("s3cret"))
            .expect_err("corrupted")
            .contains("wrong password or corrupted key"));
    }
}
