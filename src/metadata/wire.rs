//! The flexible-version primitives Kafka's metadata records are written with: unsigned
//! varints, compact strings and arrays (length + 1, 0 = null), UUIDs and the tagged-field
//! section. Every length read is checked against the bytes left before anything is allocated.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use uuid::Uuid;

/// A record that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

pub type WireResult<T> = std::result::Result<T, WireError>;

fn short(what: &str) -> WireError {
    WireError(format!("metadata record truncated in {what}"))
}

pub fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

pub fn get_uvarint(b: &mut Bytes) -> WireResult<u32> {
    let mut v: u32 = 0;
    for shift in (0..35).step_by(7) {
        if !b.has_remaining() {
            return Err(short("varint"));
        }
        let byte = b.get_u8();
        v |= ((byte & 0x7f) as u32) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(WireError("varint longer than 5 bytes".into()))
}

pub fn put_string(out: &mut BytesMut, s: Option<&str>) {
    match s {
        None => put_uvarint(out, 0),
        Some(s) => {
            put_uvarint(out, s.len() as u32 + 1);
            out.put_slice(s.as_bytes());
        }
    }
}

pub fn get_string(b: &mut Bytes) -> WireResult<Option<String>> {
    let n = get_uvarint(b)? as usize;
    if n == 0 {
        return Ok(None);
    }
    if b.remaining() < n - 1 {
        return Err(short("string"));
    }
    let raw = b.split_to(n - 1);
    String::from_utf8(raw.to_vec())
        .map(Some)
        .map_err(|_| WireError("string is not UTF-8".into()))
}

pub fn get_required_string(b: &mut Bytes, what: &str) -> WireResult<String> {
    get_string(b)?.ok_or_else(|| WireError(format!("{what} is null")))
}

pub fn put_i32_array(out: &mut BytesMut, items: Option<&[i32]>) {
    match items {
        None => put_uvarint(out, 0),
        Some(items) => {
            put_uvarint(out, items.len() as u32 + 1);
            for i in items {
                out.put_i32(*i);
            }
        }
    }
}

pub fn get_i32_array(b: &mut Bytes) -> WireResult<Option<Vec<i32>>> {
    let n = get_uvarint(b)? as usize;
    if n == 0 {
        return Ok(None);
    }
    if b.remaining() / 4 < n - 1 {
        return Err(short("int32 array"));
    }
    Ok(Some((0..n - 1).map(|_| b.get_i32()).collect()))
}

pub fn put_uuid(out: &mut BytesMut, id: Uuid) {
    out.put_slice(id.as_bytes());
}

pub fn get_uuid(b: &mut Bytes) -> WireResult<Uuid> {
    if b.remaining() < 16 {
        return Err(short("uuid"));
    }
    let mut raw = [0u8; 16];
    b.copy_to_slice(&mut raw);
    Ok(Uuid::from_bytes(raw))
}

pub fn get_i8(b: &mut Bytes) -> WireResult<i8> {
    (b.remaining() >= 1)
        .then(|| b.get_i8())
        .ok_or_else(|| short("int8"))
}

pub fn get_i16(b: &mut Bytes) -> WireResult<i16> {
    (b.remaining() >= 2)
        .then(|| b.get_i16())
        .ok_or_else(|| short("int16"))
}

pub fn get_i32(b: &mut Bytes) -> WireResult<i32> {
    (b.remaining() >= 4)
        .then(|| b.get_i32())
        .ok_or_else(|| short("int32"))
}

pub fn get_i64(b: &mut Bytes) -> WireResult<i64> {
    (b.remaining() >= 8)
        .then(|| b.get_i64())
        .ok_or_else(|| short("int64"))
}

pub fn get_bool(b: &mut Bytes) -> WireResult<bool> {
    Ok(get_i8(b)? != 0)
}

/// Tagged fields: a count, then per field its tag, size and bytes.
pub type Tagged = Vec<(u32, Bytes)>;

pub fn put_tagged(out: &mut BytesMut, fields: &[(u32, Bytes)]) {
    put_uvarint(out, fields.len() as u32);
    for (tag, data) in fields {
        put_uvarint(out, *tag);
        put_uvarint(out, data.len() as u32);
        out.put_slice(data);
    }
}

pub fn get_tagged(b: &mut Bytes) -> WireResult<Tagged> {
    let n = get_uvarint(b)? as usize;
    // Each field takes at least two bytes, so a count beyond that is a lie.
    if n > b.remaining() / 2 {
        return Err(short("tagged fields"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let tag = get_uvarint(b)?;
        let size = get_uvarint(b)? as usize;
        if b.remaining() < size {
            return Err(short("tagged field"));
        }
        out.push((tag, b.split_to(size)));
    }
    Ok(out)
}
