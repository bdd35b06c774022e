//! The cleaner's key → latest offset map (Kafka's `SkimpyOffsetMap`): a fixed-size open-addressing
//! table of 128-bit key digests and offsets, allocated once per cleaner thread from
//! `log.cleaner.dedupe.buffer.size / log.cleaner.threads` and reused for every pass, never grown.
//!
//! Format (in memory only, never stored): each slot is 24 bytes — a 16-byte digest of the record
//! key and the 8-byte offset of the latest record with that key seen so far — as Kafka sizes its
//! slots, kept together so a lookup touches one cache line (rarely two). A slot whose offset is
//! −1 is empty. Probing is linear from a position taken from the digest (multiply-shift, no
//! division).
//!
//! Speed: with millions of keys the table is far larger than the CPU caches and every lookup is
//! a cache miss. A pass computes the digests of a whole batch's keys first, then
//! [`OffsetMap::prefetch`] loads their slots in one tight loop (independent loads, so the CPU
//! has many misses in flight at once instead of one after the other), then looks them up.
//!
//! The digest is XXH3-128 (the `xxhash-rust` crate), a non-cryptographic hash built for
//! exactly this: 128 well-mixed bits from one pass over the key at several GB/s. Kafka uses MD5
//! only as a digest (its 128 bits are not collision resistant against an adversary either);
//! like Kafka, the map compares digests only, so a collision between two distinct keys makes
//! the cleaner treat them as one key and drop the older record of the pair. For keys not chosen
//! to collide, XXH3-128 behaves as a random function (it passes SMHasher's collision and
//! distribution tests with 128 bits), so the chance of any collision among n distinct keys in
//! one pass is at most about n²/2¹²⁹ (birthday bound): 10⁹ keys give ~1.5·10⁻²¹, far below the
//! disk's own undetected error rate. Keys crafted by a client to collide could make one of them
//! lose its older records, which a producer able to write to the topic can do anyway by
//! writing the other key. The digest lives for one pass only (never stored), so changing the
//! function is not a format change.
//!
//! Invariant: at most `capacity() * load_factor` keys are inserted per pass ([`OffsetMap::is_full`]),
//! so probes always find an empty slot.
//!
//! Thread-safety: owned by one cleaner thread; not shared.

/// Bytes one slot takes in Kafka's accounting (16-byte digest + 8-byte offset).
pub const SLOT_BYTES: usize = 24;

/// 128-bit digest of a record key.
pub type Digest = u128;

/// The digest the map files `key` under (computed once per record by a pass, then used for
/// [`OffsetMap::prefetch`] and the lookup).
pub fn digest(key: &[u8]) -> Digest {
    xxhash_rust::xxh3::xxh3_128(key)
}

/// One slot: a key digest and the latest offset of that key (−1: empty).
#[derive(Clone, Copy)]
struct Slot {
    hi: u64,
    lo: u64,
    offset: i64,
}

const EMPTY: Slot = Slot {
    hi: 0,
    lo: 0,
    offset: -1,
};

/// Key digest → latest offset, bounded in memory (see the module doc).
pub struct OffsetMap {
    slots: Vec<Slot>,
    /// Keys inserted since the last clear.
    entries: usize,
    /// Most keys one pass may insert: `capacity * load factor`.
    max_entries: usize,
    /// The greatest offset the map covers (Kafka's `latestOffset`), −1 when empty.
    latest_offset: i64,
}

impl OffsetMap {
    /// A map of `memory_bytes / 24` slots, at most `load_factor` of them used per pass.
    /// Always at least two slots, so a pass can make progress.
    pub fn new(memory_bytes: usize, load_factor: f64) -> OffsetMap {
        let slots = (memory_bytes / SLOT_BYTES).max(2);
        let max_entries =
            ((slots as f64 * load_factor.clamp(0.01, 1.0)) as usize).clamp(1, slots - 1);
        OffsetMap {
            slots: vec![EMPTY; slots],
            entries: 0,
            max_entries,
            latest_offset: -1,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// No more keys may be inserted in this pass.
    pub fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Raises the offset the map is known to cover (batches without keys, gaps).
    pub fn update_latest_offset(&mut self, offset: i64) {
        self.latest_offset = self.latest_offset.max(offset);
    }

    /// Empties the map for the next pass (no allocation).
    pub fn clear(&mut self) {
        if self.entries > 0 {
            self.slots.fill(EMPTY);
        }
        self.entries = 0;
        self.latest_offset = -1;
    }

    fn home(&self, d: Digest) -> usize {
        ((d as u64 as u128 * self.slots.len() as u128) >> 64) as usize
    }

    fn slot_of(&self, d: Digest) -> usize {
        let (hi, lo) = ((d >> 64) as u64, d as u64);
        let n = self.slots.len();
        let mut i = self.home(d);
        loop {
            let s = &self.slots[i];
            if s.offset < 0 || (s.hi == hi && s.lo == lo) {
                return i;
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
    }

    /// Loads the home slot of every digest so that the lookups right after find them in the
    /// cache (see the module doc); changes nothing.
    pub fn prefetch(&self, digests: impl Iterator<Item = Digest>) {
        let mut acc = 0i64;
        for d in digests {
            acc ^= self.slots[self.home(d)].offset;
        }
        std::hint::black_box(acc);
    }

    /// Records `offset` as the latest for `key`. Returns false, inserting nothing, when the key
    /// is new and the map is full.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        self.put_digest(digest(key), offset)
    }

    /// [`OffsetMap::put`] of a key by its [`digest`].
    pub fn put_digest(&mut self, d: Digest, offset: i64) -> bool {
        let i = self.slot_of(d);
        let s = &mut self.slots[i];
        if s.offset < 0 {
            if self.entries >= self.max_entries {
                return false;
            }
            self.entries += 1;
            *s = Slot {
                hi: (d >> 64) as u64,
                lo: d as u64,
                offset,
            };
        } else {
            s.offset = s.offset.max(offset);
        }
        self.update_latest_offset(offset);
        true
    }

    /// The latest offset recorded for `key`, −1 when the key is not in the map.
    pub fn get(&self, key: &[u8]) -> i64 {
        self.get_digest(digest(key))
    }

    /// [`OffsetMap::get`] of a key by its [`digest`].
    pub fn get_digest(&self, d: Digest) -> i64 {
        self.slots[self.slot_of(d)].offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_latest_offsets_and_stops_when_full() {
        let mut m = OffsetMap::new(24 * 10, 0.5);
        assert_eq!(m.capacity(), 10);
        assert!(m.put(b"a", 1));
        assert!(m.put(b"b", 2));
        assert!(m.put(b"a", 7));
        assert_eq!(m.get(b"a"), 7);
        assert_eq!(m.get(b"b"), 2);
        assert_eq!(m.get(b"zz"), -1);
        for k in 0..3u8 {
            assert!(m.put(&[k], 10 + k as i64));
        }
        assert!(m.is_full());
        assert!(!m.put(b"new", 20), "a new key does not fit");
        assert!(m.put(b"a", 21), "an existing key may still move");
        assert_eq!(m.latest_offset(), 21);
        m.clear();
        assert_eq!(m.get(b"a"), -1);
        assert!(m.is_empty());
        assert_eq!(m.latest_offset(), -1);
    }
}
