//! Bounds-checked reads of Kafka-encoded bytes stored by gregor itself (coordinator records in
//! `__consumer_offsets` and `__transaction_state`): every length is checked against the bytes
//! left before anything is taken or allocated, so a damaged record is an error, never a panic.
//!
//! Classic (non-flexible) fields: `i8`…`i64`, `opt_str`/`str`/`str_or_empty` (i16 length, −1 =
//! null), `bytes` (i32 length). Flexible fields: `uvarint`, `compact_str`, `compact_len`.

use bytes::{Buf, Bytes};

/// A cursor over stored bytes (see the module doc). The field is public so callers can look
/// at what is left.
pub struct Reader(pub Bytes);

type R<T> = Result<T, String>;

impl Reader {
    pub fn need(&self, n: usize) -> R<()> {
        if self.0.remaining() < n {
            Err("record is truncated".into())
        } else {
            Ok(())
        }
    }

    pub fn i8(&mut self) -> R<i8> {
        self.need(1)?;
        Ok(self.0.get_i8())
    }

    pub fn i16(&mut self) -> R<i16> {
        self.need(2)?;
        Ok(self.0.get_i16())
    }

    pub fn i32(&mut self) -> R<i32> {
        self.need(4)?;
        Ok(self.0.get_i32())
    }

    pub fn i64(&mut self) -> R<i64> {
        self.need(8)?;
        Ok(self.0.get_i64())
    }

    pub fn uvarint(&mut self) -> R<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            self.need(1)?;
            let byte = self.0.get_u8();
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    pub fn take(&mut self, n: usize) -> R<Bytes> {
        self.need(n)?;
        Ok(self.0.split_to(n))
    }

    fn utf8(b: Bytes) -> R<String> {
        String::from_utf8(b.to_vec()).map_err(|e| e.to_string())
    }

    /// A nullable string (i16 length, −1 = null).
    pub fn opt_str(&mut self) -> R<Option<String>> {
        let n = self.i16()?;
        match usize::try_from(n) {
            Ok(n) => Self::utf8(self.take(n)?).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// A string that may not be null.
    pub fn str(&mut self) -> R<String> {
        self.opt_str()?
            .ok_or_else(|| "null string in a record".into())
    }

    /// A nullable string, null read as empty.
    pub fn str_or_empty(&mut self) -> R<String> {
        Ok(self.opt_str()?.unwrap_or_default())
    }

    /// Nullable bytes (i32 length), null read as empty.
    pub fn bytes(&mut self) -> R<Bytes> {
        let n = self.i32()?;
        match usize::try_from(n) {
            Ok(n) => self.take(n),
            Err(_) => Ok(Bytes::new()),
        }
    }

    /// A compact (flexible-version) string that may not be null.
    pub fn compact_str(&mut self) -> R<String> {
        let n = self.uvarint()?;
        let n = usize::try_from(n.checked_sub(1).ok_or("null compact string")?)
            .map_err(|e| e.to_string())?;
        Self::utf8(self.take(n)?)
    }

    /// A compact array's length (−1 = null).
    pub fn compact_len(&mut self) -> R<i64> {
        let n = self.uvarint()?;
        if n > i32::MAX as u64 {
            return Err("compact array too long".into());
        }
        Ok(n as i64 - 1)
    }

    /// An array count, bounded by the bytes left (each element is at least `min` bytes).
    pub fn count(&mut self, n: i64, min: usize) -> R<Option<usize>> {
        if n < 0 {
            return Ok(None);
        }
        let n = n as usize;
        if n.saturating_mul(min) > self.0.remaining() {
            return Err("array longer than the record".into());
        }
        Ok(Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked_before_taking() {
        let mut r = Reader(Bytes::from_static(&[0, 5, b'a']));
        assert!(r.opt_str().is_err());
        let mut r = Reader(Bytes::from_static(&[0xff, 0xff, 0, 1, b'x']));
        assert_eq!(r.opt_str(), Ok(None));
        assert_eq!(r.str(), Ok("x".into()));
        let mut r = Reader(Bytes::from_static(&[0xff, 0xff]));
        assert!(r.str().is_err());
        let mut r = Reader(Bytes::from_static(&[0x80, 0x80]));
        assert!(r.uvarint().is_err());
        let mut r = Reader(Bytes::from_static(&[1, 2]));
        assert!(r.count(1, 4).is_err());
        assert_eq!(r.count(-1, 4), Ok(None));
    }
}
