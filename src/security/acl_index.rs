//! The ACLs of the cluster, by id and indexed by resource for the authorizer's hot path.
//!
//! Why an index: every request of an authorizing broker checks one or more actions, and a
//! scan of every ACL (with a principal and a host rendered to text per check) grows with the
//! ACL count. Here a check looks up the LITERAL ACLs of its resource name and of `*` (two
//! hash lookups) and the PREFIXED ACLs of each prefix of the name (a sorted map per resource
//! type, skipped when the type has none), and compares principals and hosts pre-parsed at
//! insertion: no allocation per check. The index is kept up to date by [`AclMap::insert`] and
//! [`AclMap::remove`] (one record replayed = one bucket touched).
//!
//! Matching is exactly the linear rule of `authorizer.rs`: a principal matches when it is the
//! ACL's `Type:name` or `User:*`; a host when the ACL's is `*` or the client address's text;
//! a pattern other than LITERAL or PREFIXED covers nothing.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use uuid::Uuid;

use super::acl::{
    AclBinding, AclOperation, AclPermission, PatternType, ResourceType, WILDCARD_HOST,
    WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};
use super::KafkaPrincipal;

/// Whose an indexed ACL is.
#[derive(Debug, Clone)]
enum Who {
    Everyone,
    /// `Type:name`, split at the first `:`.
    Principal(String, String),
    /// A principal without `:`: no client is it.
    Nobody,
}

/// Where an indexed ACL's clients connect from.
#[derive(Debug, Clone)]
enum Host {
    Any,
    /// An address whose text is exactly the ACL's host.
    Ip(IpAddr),
    /// Not the text of any address: no client connects from it.
    Nowhere,
}

/// One ACL as the hot path reads it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    id: Uuid,
    who: Who,
    host: Host,
    pub(super) operation: AclOperation,
    pub(super) permission: AclPermission,
}

impl Entry {
    fn new(id: Uuid, acl: &AclBinding) -> Entry {
        let who = if acl.principal == WILDCARD_PRINCIPAL {
            Who::Everyone
        } else {
            match acl.principal.split_once(':') {
                Some((t, n)) => Who::Principal(t.to_string(), n.to_string()),
                None => Who::Nobody,
            }
        };
        let host = if acl.host == WILDCARD_HOST {
            Host::Any
        } else {
            match acl.host.parse::<IpAddr>() {
                Ok(ip) if ip.to_string() == acl.host => Host::Ip(ip),
                _ => Host::Nowhere,
            }
        };
        Entry {
            id,
            who,
            host,
            operation: acl.operation,
            permission: acl.permission,
        }
    }

    /// Whether the ACL is for this client (principal and address).
    pub(super) fn is_for(&self, principal: &KafkaPrincipal, host: IpAddr) -> bool {
        let who = match &self.who {
            Who::Everyone => true,
            Who::Principal(t, n) => *t == principal.principal_type && *n == principal.name,
            Who::Nobody => false,
        };
        who && match self.host {
            Host::Any => true,
            Host::Ip(ip) => ip == host,
            Host::Nowhere => false,
        }
    }
}

/// Every ACL of the cluster by its id, with the index (see the module doc). The metadata
/// image keeps one, replayed from AccessControlEntryRecord / RemoveAccessControlEntryRecord.
#[derive(Debug, Clone, Default)]
pub struct AclMap {
    by_id: BTreeMap<Uuid, AclBinding>,
    literal: HashMap<ResourceType, HashMap<String, Vec<Entry>>>,
    prefixed: HashMap<ResourceType, BTreeMap<String, Vec<Entry>>>,
}

impl PartialEq for AclMap {
    fn eq(&self, other: &AclMap) -> bool {
        self.by_id == other.by_id
    }
}

impl Eq for AclMap {}

impl FromIterator<(Uuid, AclBinding)> for AclMap {
    fn from_iter<I: IntoIterator<Item = (Uuid, AclBinding)>>(iter: I) -> AclMap {
        let mut map = AclMap::new();
        for (id, acl) in iter {
            map.insert(id, acl);
        }
        map
    }
}

impl AclMap {
    pub fn new() -> AclMap {
        AclMap::default()
    }

    /// Adds (or replaces) the ACL with this id.
    pub fn insert(&mut self, id: Uuid, acl: AclBinding) -> Option<AclBinding> {
        let old = self.remove(&id);
        let entry = Entry::new(id, &acl);
        let name = acl.resource_name.clone();
        match acl.pattern_type {
            PatternType::Literal => self
                .literal
                .entry(acl.resource_type)
                .or_default()
                .entry(name)
                .or_default()
                .push(entry),
            PatternType::Prefixed => self
                .prefixed
                .entry(acl.resource_type)
                .or_default()
                .entry(name)
                .or_default()
                .push(entry),
            _ => {}
        }
        self.by_id.insert(id, acl);
        old
    }

    /// Removes the ACL with this id.
    pub fn remove(&mut self, id: &Uuid) -> Option<AclBinding> {
        let acl = self.by_id.remove(id)?;
        let rt = acl.resource_type;
        let name = acl.resource_name.as_str();
        match acl.pattern_type {
            PatternType::Literal => {
                if let Some(names) = self.literal.get_mut(&rt) {
                    drop_entry(names.get_mut(name), id);
                    names.retain(|_, v| !v.is_empty());
                }
            }
            PatternType::Prefixed => {
                if let Some(names) = self.prefixed.get_mut(&rt) {
                    drop_entry(names.get_mut(name), id);
                    names.retain(|_, v| !v.is_empty());
                }
            }
            _ => {}
        }
        Some(acl)
    }

    pub fn iter(&self) -> std::collections::btree_map::Iter<'_, Uuid, AclBinding> {
        self.by_id.iter()
    }

    pub fn values(&self) -> std::collections::btree_map::Values<'_, Uuid, AclBinding> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Calls `f` with each group of ACLs whose pattern covers the resource: the LITERAL ones
    /// of the name and of `*`, the PREFIXED ones of each prefix of the name. Stops early
    /// when `f` returns `false`.
    pub(super) fn for_each_covering(
        &self,
        resource_type: ResourceType,
        name: &str,
        mut f: impl FnMut(&[Entry]) -> bool,
    ) {
        if let Some(names) = self.literal.get(&resource_type) {
            for key in [name, WILDCARD_RESOURCE] {
                if let Some(list) = names.get(key) {
                    if !f(list) {
                        return;
                    }
                }
                if name == WILDCARD_RESOURCE {
                    break;
                }
            }
        }
        if let Some(prefixes) = self.prefixed.get(&resource_type) {
            for end in (0..=name.len()).filter(|i| name.is_char_boundary(*i)) {
                if let Some(list) = prefixes.get(&name[..end]) {
                    if !f(list) {
                        return;
                    }
                }
            }
        }
    }
}

fn drop_entry(list: Option<&mut Vec<Entry>>, id: &Uuid) {
    if let Some(list) = list {
        list.retain(|e| e.id != *id);
    }
}
