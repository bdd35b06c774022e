//! The bytes of Kafka's SCRAM credential records (KIP-554, KRaft):
//!
//! | record | key | fields (v0, flexible) |
//! |---|---|---|
//! | UserScramCredentialRecord | 11 | Name, Mechanism (int8: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512), Salt, StoredKey, ServerKey (compact bytes), Iterations (int32) |
//! | RemoveUserScramCredentialRecord | 22 | Name, Mechanism |
//!
//! Why a file of its own: the credential is a security type (its keys are secrets and never
//! printed), and `records.rs` keeps the topic and broker records.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::wire::*;
use crate::security::sasl::ScramCredential;

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    put_uvarint(out, b.len() as u32 + 1);
    out.put_slice(b);
}

fn get_bytes(b: &mut Bytes, what: &str) -> WireResult<Vec<u8>> {
    let n = get_uvarint(b)? as usize;
    if n == 0 {
        return Err(WireError(format!("{what} is null")));
    }
    if b.remaining() < n - 1 {
        return Err(WireError(format!("{what} is shorter than its length")));
    }
    Ok(b.split_to(n - 1).to_vec())
}

pub fn encode_credential(o: &mut BytesMut, name: &str, mechanism: i8, c: &ScramCredential) {
    put_string(o, Some(name));
    o.put_i8(mechanism);
    put_bytes(o, &c.salt);
    put_bytes(o, &c.stored_key);
    put_bytes(o, &c.server_key);
    o.put_i32(c.iterations);
}

pub fn decode_credential(b: &mut Bytes) -> WireResult<(String, i8, ScramCredential)> {
    let name = get_required_string(b, "Name")?;
    let mechanism = get_i8(b)?;
    let salt = get_bytes(b, "Salt")?;
    let stored_key = get_bytes(b, "StoredKey")?;
    let server_key = get_bytes(b, "ServerKey")?;
    let iterations = get_i32(b)?;
    Ok((
        name,
        mechanism,
        ScramCredential {
            salt,
            stored_key,
            server_key,
            iterations,
        },
    ))
}

pub fn encode_removal(o: &mut BytesMut, name: &str, mechanism: i8) {
    put_string(o, Some(name));
    o.put_i8(mechanism);
}

pub fn decode_removal(b: &mut Bytes) -> WireResult<(String, i8)> {
    Ok((get_required_string(b, "Name")?, get_i8(b)?))
}
