//! CreateAcls and DeleteAcls on the controller (Kafka's `AclControlManager`): an ACL is an
//! AccessControlEntryRecord with a new random id; deleting selects ACLs with filters and
//! writes one RemoveAccessControlEntryRecord per selected ACL.
//!
//! Why on the controller: ACLs are cluster metadata like topics — committed through the
//! quorum, replayed into every node's image (the authorizer reads it), kept across restarts.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::Controller;
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::MetadataRecord;
use crate::security::acl::{AclBinding, AclFilter};

impl Controller {
    /// Stores `bindings` (one result each, in order): an invalid binding is INVALID_REQUEST,
    /// one already stored succeeds without a new record, as in Kafka.
    pub fn create_acls(&self, bindings: &[AclBinding]) -> Result<Vec<Result<()>>> {
        self.commit(|image| {
            let mut records = Vec::new();
            let mut results = Vec::with_capacity(bindings.len());
            let mut added: BTreeSet<&AclBinding> = BTreeSet::new();
            for b in bindings {
                if let Some(reason) = b.invalid_reason() {
                    results.push(Err(Error::kafka(ErrorCode::InvalidRequest, reason)));
                    continue;
                }
                let stored = image.acls.values().any(|a| a == b);
                if !stored && added.insert(b) {
                    records.push(MetadataRecord::AccessControlEntry {
                        id: Uuid::new_v4(),
                        acl: b.clone(),
                    });
                }
                results.push(Ok(()));
            }
            if !records.is_empty() {
                tracing::info!("creating {} ACL(s)", records.len());
            }
            Ok((records, results))
        })
    }

    /// Deletes the ACLs each filter selects; per filter, the ACLs it selected (an ACL
    /// selected by two filters is listed by both and removed once), or INVALID_REQUEST for a
    /// filter with an UNKNOWN code.
    pub fn delete_acls(&self, filters: &[AclFilter]) -> Result<Vec<Result<Vec<AclBinding>>>> {
        self.commit(|image| {
            let mut ids: BTreeSet<Uuid> = BTreeSet::new();
            let mut results = Vec::with_capacity(filters.len());
            for f in filters {
                if let Some(reason) = f.invalid_reason() {
                    results.push(Err(Error::kafka(ErrorCode::InvalidRequest, reason)));
                    continue;
                }
                let mut matched = Vec::new();
                for (id, acl) in image.acls.iter() {
                    if f.matches(acl) {
                        ids.insert(*id);
                        matched.push(acl.clone());
                    }
                }
                results.push(Ok(matched));
            }
            let records: Vec<MetadataRecord> = ids
                .into_iter()
                .map(|id| MetadataRecord::RemoveAccessControlEntry { id })
                .collect();
            if !records.is_empty() {
                tracing::info!("deleting {} ACL(s)", records.len());
            }
            Ok((records, results))
        })
    }
}
