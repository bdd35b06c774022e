//! The body of Kafka's AccessControlEntryRecord (api key 18, v0): Id (uuid), ResourceType
//! (int8), ResourceName, PatternType (int8), Principal, Host (compact strings), Operation,
//! PermissionType (int8).
//!
//! Why apart from `records.rs`: the ACL codes belong to `security::acl`; reading them back
//! refuses a code Kafka does not define, so an image never holds an ACL the authorizer cannot
//! reason about.

use bytes::{BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::records::MetadataRecord;
use super::wire::*;
use crate::security::acl::{AclBinding, AclOperation, AclPermission, PatternType, ResourceType};

/// Writes the record's fields (not the frame nor the tagged section).
pub(super) fn put_acl(o: &mut BytesMut, id: Uuid, acl: &AclBinding) {
    put_uuid(o, id);
    o.put_i8(acl.resource_type.code());
    put_string(o, Some(&acl.resource_name));
    o.put_i8(acl.pattern_type.code());
    put_string(o, Some(&acl.principal));
    put_string(o, Some(&acl.host));
    o.put_i8(acl.operation.code());
    o.put_i8(acl.permission.code());
}

fn code<T>(v: i8, parse: fn(i8) -> Option<T>, what: &str) -> WireResult<T> {
    parse(v).ok_or_else(|| WireError(format!("unknown ACL {what} code {v}")))
}

/// Reads the record's fields.
pub(super) fn get_acl(b: &mut Bytes) -> WireResult<MetadataRecord> {
    let id = get_uuid(b)?;
    let resource_type = code(get_i8(b)?, ResourceType::from_code, "resource type")?;
    let resource_name = get_required_string(b, "ACL resource name")?;
    let pattern_type = code(get_i8(b)?, PatternType::from_code, "pattern type")?;
    let principal = get_required_string(b, "ACL principal")?;
    let host = get_required_string(b, "ACL host")?;
    let operation = code(get_i8(b)?, AclOperation::from_code, "operation")?;
    let permission = code(get_i8(b)?, AclPermission::from_code, "permission")?;
    Ok(MetadataRecord::AccessControlEntry {
        id,
        acl: AclBinding {
            resource_type,
            resource_name,
            pattern_type,
            principal,
            host,
            operation,
            permission,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_records_round_trip_with_kafkas_layout() {
        let acl = AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: "pay-".into(),
            pattern_type: PatternType::Prefixed,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Write,
            permission: AclPermission::Allow,
        };
        let id = Uuid::from_u128(7);
        let rec = MetadataRecord::AccessControlEntry { id, acl };
        let bytes = rec.encode();
        // frame 1, key 18, version 0, then the uuid and resource type TOPIC (2).
        assert_eq!(&bytes[..3], &[1, 18, 0]);
        assert_eq!(bytes[19], 2);
        assert_eq!(MetadataRecord::decode(bytes).expect("decode"), rec);
        let rm = MetadataRecord::RemoveAccessControlEntry { id };
        assert_eq!(MetadataRecord::decode(rm.encode()).expect("decode"), rm);
        // An operation code Kafka does not define is refused, not stored.
        let mut bad = rec_bytes_with_operation(99);
        assert!(MetadataRecord::decode(bad.split_to(bad.len())).is_err());
    }

    fn rec_bytes_with_operation(op: i8) -> Bytes {
        let mut o = BytesMut::new();
        for b in [1u8, 18, 0] {
            o.put_u8(b);
        }
        let acl = AclBinding {
            resource_type: ResourceType::Group,
            resource_name: "g".into(),
            pattern_type: PatternType::Literal,
            principal: "User:a".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Deny,
        };
        put_acl(&mut o, Uuid::nil(), &acl);
        let n = o.len();
        o[n - 2] = op as u8;
        put_tagged(&mut o, &[]);
        o.freeze()
    }
}
