//! AlterUserScramCredentials on the controller, as Kafka's `ScramControlManager`: deletions
//! then upsertions, each user at most once per request (DUPLICATE_RESOURCE, "A user credential
//! cannot be altered twice in the same request"), an empty name (UNACCEPTABLE_CREDENTIAL), an
//! unknown mechanism (UNSUPPORTED_SASL_MECHANISM), iterations outside 4096..=16384
//! (UNACCEPTABLE_CREDENTIAL "Too few iterations" / "Too many iterations"), deleting a
//! credential that does not exist (RESOURCE_NOT_FOUND). The client sends a salted password;
//! the record keeps only StoredKey and ServerKey derived from it (Kafka's `ScramFormatter`).
//! The accepted changes commit as one batch of User/RemoveUserScramCredentialRecords.

use std::collections::BTreeMap;

use super::Controller;
use crate::error::{ErrorCode, Result};
use crate::metadata::records::MetadataRecord;
use crate::metadata::MetadataImage;
use crate::security::sasl::scram_crypto::{MAX_ITERATIONS, MIN_ITERATIONS};
use crate::security::sasl::{ScramCredential, ScramMechanism};

/// One credential to set: the client's salt and salted password.
#[derive(Clone)]
pub struct ScramUpsertion {
    pub name: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

/// A user's outcome: the error (NONE on success) and Kafka's message.
pub type ScramResult = (String, ErrorCode, Option<String>);

fn check_name_and_mechanism(
    name: &str,
    mechanism: i8,
) -> std::result::Result<ScramMechanism, (ErrorCode, String)> {
    if name.is_empty() {
        return Err((
            ErrorCode::UnacceptableCredential,
            "Username must not be empty".into(),
        ));
    }
    ScramMechanism::from_type_id(mechanism).ok_or((
        ErrorCode::UnsupportedSaslMechanism,
        "Unknown SCRAM mechanism".into(),
    ))
}

/// The records and per-user results of one request (see the module doc).
pub fn scram_changes(
    image: &MetadataImage,
    deletions: &[(String, i8)],
    upsertions: &[ScramUpsertion],
) -> (Vec<MetadataRecord>, Vec<ScramResult>) {
    let twice = || {
        (
            ErrorCode::DuplicateResource,
            "A user credential cannot be altered twice in the same request".to_string(),
        )
    };
    let mut errors: BTreeMap<String, (ErrorCode, String)> = BTreeMap::new();
    let mut deletes: BTreeMap<String, i8> = BTreeMap::new();
    let mut upserts: BTreeMap<String, &ScramUpsertion> = BTreeMap::new();
    for (name, mechanism) in deletions {
        if errors.contains_key(name) {
            continue;
        }
        if deletes.remove(name).is_some() {
            errors.insert(name.clone(), twice());
            continue;
        }
        let checked = check_name_and_mechanism(name, *mechanism).and_then(|m| {
            if image.scram_credential(name, m).is_none() {
                return Err((
                    ErrorCode::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist".into(),
                ));
            }
            Ok(())
        });
        match checked {
            Ok(()) => {
                deletes.insert(name.clone(), *mechanism);
            }
            Err(e) => {
                errors.insert(name.clone(), e);
            }
        }
    }
    for u in upsertions {
        if errors.contains_key(&u.name) {
            continue;
        }
        if deletes.remove(&u.name).is_some() || upserts.remove(&u.name).is_some() {
            errors.insert(u.name.clone(), twice());
            continue;
        }
        let checked = check_name_and_mechanism(&u.name, u.mechanism).and_then(|_| {
            if u.iterations < MIN_ITERATIONS {
                Err((
                    ErrorCode::UnacceptableCredential,
                    "Too few iterations".into(),
                ))
            } else if u.iterations > MAX_ITERATIONS {
                Err((
                    ErrorCode::UnacceptableCredential,
                    "Too many iterations".into(),
                ))
            } else {
                Ok(())
            }
        });
        match checked {
            Ok(()) => {
                upserts.insert(u.name.clone(), u);
            }
            Err(e) => {
                errors.insert(u.name.clone(), e);
            }
        }
    }
    let mut records = Vec::new();
    let mut results = Vec::new();
    for (name, mechanism) in deletes {
        records.push(MetadataRecord::RemoveUserScramCredential {
            name: name.clone(),
            mechanism,
        });
        results.push((name, ErrorCode::None, None));
    }
    for (name, u) in upserts {
        let Some(m) = ScramMechanism::from_type_id(u.mechanism) else {
            continue;
        };
        let credential =
            ScramCredential::from_salted_password(m, &u.salt, &u.salted_password, u.iterations);
        records.push(MetadataRecord::UserScramCredential {
            name: name.clone(),
            mechanism: u.mechanism,
            credential,
        });
        results.push((name, ErrorCode::None, None));
    }
    for (name, (code, message)) in errors {
        results.push((name, code, Some(message)));
    }
    (records, results)
}

impl Controller {
    /// Commits the accepted SCRAM credential changes (see the module doc).
    pub fn alter_user_scram_credentials(
        &self,
        deletions: &[(String, i8)],
        upsertions: &[ScramUpsertion],
    ) -> Result<Vec<ScramResult>> {
        self.commit(|image| {
            let (records, results) = scram_changes(image, deletions, upsertions);
            let changed = records.len();
            if changed > 0 {
                tracing::info!("{changed} SCRAM credential change(s)");
            }
            Ok((records, results))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(name: &str, mechanism: i8, iterations: i32) -> ScramUpsertion {
        ScramUpsertion {
            name: name.into(),
            mechanism,
            iterations,
            salt: b"salt".to_vec(),
            salted_password: vec![7; 32],
        }
    }

    #[test]
    fn kafkas_checks() {
        let mut image = MetadataImage::new("c".into());
        let (records, results) = scram_changes(
            &image,
            &[("ghost".into(), 1), ("".into(), 1)],
            &[
                up("alice", 1, 4096),
                up("bob", 3, 4096),
                up("carol", 2, 100),
                up("dave", 2, 20000),
                up("erin", 1, 8192),
                up("erin", 2, 8192),
            ],
        );
        let code = |n: &str| results.iter().find(|r| r.0 == n).map(|r| r.1);
        assert_eq!(code("alice"), Some(ErrorCode::None));
        assert_eq!(code("bob"), Some(ErrorCode::UnsupportedSaslMechanism));
        assert_eq!(code("carol"), Some(ErrorCode::UnacceptableCredential));
        assert_eq!(code("dave"), Some(ErrorCode::UnacceptableCredential));
        assert_eq!(code("erin"), Some(ErrorCode::DuplicateResource));
        assert_eq!(code("ghost"), Some(ErrorCode::ResourceNotFound));
        assert_eq!(code(""), Some(ErrorCode::UnacceptableCredential));
        assert_eq!(records.len(), 1);
        for r in &records {
            image.apply(r);
        }
        let stored = image
            .scram_credential("alice", ScramMechanism::Sha256)
            .expect("stored");
        assert_eq!(
            *stored,
            ScramCredential::from_salted_password(ScramMechanism::Sha256, b"salt", &[7; 32], 4096)
        );
        let (records, results) = scram_changes(&image, &[("alice".into(), 1)], &[]);
        assert_eq!(results, vec![("alice".to_string(), ErrorCode::None, None)]);
        for r in &records {
            image.apply(r);
        }
        assert!(image
            .scram_credential("alice", ScramMechanism::Sha256)
            .is_none());
    }
}
