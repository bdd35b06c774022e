//! Newtypes for the two numbers an index stores, so a position is never used as an offset.
//! Absolute offsets stay plain `i64`, as on the wire.

/// An offset relative to its segment's base offset (what the index files store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RelOffset(pub u32);

impl RelOffset {
    /// Segments never span more than `u32::MAX` offsets: they roll before that.
    pub fn from_absolute(offset: i64, base: i64) -> RelOffset {
        RelOffset((offset - base).clamp(0, u32::MAX as i64) as u32)
    }

    pub fn absolute(self, base: i64) -> i64 {
        base + self.0 as i64
    }
}

/// A byte position inside a segment's `.log` file. Segments never exceed 2 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FilePos(pub u32);
